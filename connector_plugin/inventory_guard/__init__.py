"""inventory-guard: a position-safety layer for market-making bots.

Per market it keeps three quantities apart — the **confirmed** position (last exchange API snapshot), **pending
fills** (websocket fills no snapshot is known to include) and **order reservations** (unfilled size of open orders)
— and derives from them ``effective = confirmed + pending_fill_buys - pending_fill_sells`` (the best estimate, which
counts the ``held_buys`` inside confirmed) and the two bounds the gate uses: ``conservative_exposure`` (confirmed +
every pending buy within the settlement window — the ``pending_fill_buys`` and the ``held_buys`` among them — less
only what the sums or settlement notices prove, + ``open_buy_reservations``) and ``available_to_sell`` (what the
account will hold once every pending sell settles, crediting only buys known outside confirmed,
- ``open_sell_reservations``). ``pending.py`` explains the reconciliation.

Layers: ``core`` (pure: events in, state and decisions out), ``journal`` (SQLite WAL event log + current-state
tables), ``replay`` (the JSON-lines CLI contract), ``hummingbot`` (the only code that imports hummingbot).
"""

__version__ = "0.1.0"
