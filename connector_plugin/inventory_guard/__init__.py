"""inventory-guard: a position-safety layer for market-making bots.

Per market it keeps three quantities apart — the **confirmed** position (last exchange API snapshot), **pending
fills** (websocket fills no snapshot has shown yet) and **order reservations** (unfilled size of open orders) — and
derives ``effective = confirmed + pending_fill_buys - pending_fill_sells`` and
``conservative_exposure = confirmed + pending_fill_buys + open_buy_reservations`` from them.

Layers: ``core`` (pure: events in, state and decisions out), ``journal`` (SQLite WAL event log + current-state
tables), ``replay`` (the JSON-lines CLI contract), ``hummingbot`` (the only code that imports hummingbot).
"""

__version__ = "0.1.0"
