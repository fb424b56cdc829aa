"""Capture a connector's REST balance / position snapshots with their time, and websocket balance writes.

Hummingbot keeps no attribute with the time of the last *successful* balance poll (``_last_poll_timestamp`` advances
even when the call failed), so we wrap the connector instance's ``_update_balances`` (and ``_update_positions`` on
perpetual connectors): the time taken *before* the request is the snapshot's ``as_of`` (a fill that arrived earlier
is in the balance, a later one may not be), and only a call that returns normally produces a snapshot.

Websocket balance writes (venues that push balances) land in ``connector._account_balances``; we swap that dict for
a subclass that reports writes made outside a REST poll.
"""
from __future__ import annotations

import functools
import logging
from decimal import Decimal
from typing import Callable, Optional

log = logging.getLogger("inventory_guard.hummingbot")


def signed_position(connector, trading_pair: str) -> Decimal:
    """Signed position of a perpetual connector for a pair (long positive, short negative)."""
    from hummingbot.core.data_type.common import PositionSide
    total = Decimal(0)
    for pos in list(connector.account_positions.values()):
        if pos.trading_pair != trading_pair:
            continue
        amt = Decimal(pos.amount)
        if pos.position_side == PositionSide.LONG:
            amt = abs(amt)
        elif pos.position_side == PositionSide.SHORT:
            amt = -abs(amt)
        total += amt
    return total


class WatchedBalances(dict):
    """``_account_balances`` replacement: reports ``asset -> total`` writes made outside a REST poll."""

    def __init__(self, data, on_write: Callable[[str, Decimal], None]):
        super().__init__(data)
        self._on_write = on_write
        self.in_rest = 0

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if not self.in_rest:
            try:
                self._on_write(key, value)
            except Exception:
                log.exception("inventory-guard: websocket balance hook failed")


def _wrap_async(conn, attr: str, after: Callable[[float], None], bridge, before=None, after_any=None):
    orig = getattr(conn, attr)

    @functools.wraps(orig)
    async def wrapped(*args, **kwargs):
        as_of = bridge.now()
        if before:
            before()
        try:
            result = await orig(*args, **kwargs)
        finally:
            if after_any:
                after_any()
        after(as_of)
        return result

    setattr(conn, attr, wrapped)
    return lambda: conn.__dict__.pop(attr, None)


def install(bridge, connector_name: str, conn) -> Optional[Callable[[], None]]:
    """Hook an ``ExchangePyBase``-style connector instance. Returns an un-hook function, or None when the connector
    cannot be hooked (cdef paper/mock connectors have no instance ``__dict__`` or no ``_update_balances``)."""
    if not hasattr(conn, "_update_balances") or not hasattr(conn, "__dict__"):
        return None
    refs = bridge.refs_for(connector_name)
    unhooks = []
    try:
        watched = None
        if bridge.websocket_balance_snapshots and isinstance(getattr(conn, "_account_balances", None), dict) \
                and any(not r.is_perp for r in refs):
            watched = WatchedBalances(conn._account_balances,
                                      lambda asset, total: bridge.on_ws_balance(connector_name, asset, total))
            conn._account_balances = watched
            unhooks.append(lambda: setattr(conn, "_account_balances", dict(conn._account_balances)))

        state = {"watched": watched}

        def before():
            w = state["watched"]
            if w is not None and conn._account_balances is w:
                w.in_rest += 1

        def after_any():
            w = state["watched"]
            if w is not None:
                w.in_rest = max(0, w.in_rest - 1)
                if conn._account_balances is not w:          # the connector replaced the dict: watch the new one
                    nw = WatchedBalances(conn._account_balances, w._on_write)
                    conn._account_balances = nw
                    state["watched"] = nw

        unhooks.append(_wrap_async(conn, "_update_balances",
                                   lambda as_of: bridge.on_rest_snapshot(connector_name, "balances", as_of),
                                   bridge, before, after_any))
        if any(r.is_perp for r in refs) and hasattr(conn, "_update_positions"):
            unhooks.append(_wrap_async(conn, "_update_positions",
                                       lambda as_of: bridge.on_rest_snapshot(connector_name, "positions", as_of),
                                       bridge))
    except (AttributeError, TypeError):
        for u in reversed(unhooks):
            u()
        return None

    def unhook():
        for u in reversed(unhooks):
            u()
    return unhook
