"""Capture a connector's REST balance / position snapshots with their time, and websocket balance writes.

Hummingbot keeps no attribute with the time of the last *successful* balance poll (``_last_poll_timestamp`` advances
even when the call failed), so we wrap the connector instance's ``_update_balances`` (and ``_update_positions`` on
perpetual connectors): the time taken *before* the request is the snapshot's ``as_of`` (a fill that arrived earlier
is in the balance, a later one may not be), and only a call that returns normally produces a snapshot.

Websocket balance writes (venues that push balances) land in ``connector._account_balances``; ``BalanceWatch``
notices changes made outside a REST poll (after each user-stream message and on every tick).
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


class BalanceWatch:
    """Detects balance writes made outside a REST poll (websocket pushes): ``_account_balances`` is a cdef ``dict``
    attribute (no subclass can be swapped in), so the base-asset totals are compared with the last values seen
    after each user-stream message is processed and on every tick."""

    def __init__(self, bridge, connector_name: str, conn, assets):
        self.bridge, self.connector_name, self.conn = bridge, connector_name, conn
        self.assets = sorted(set(assets))
        self.in_rest = 0
        self.last = {}
        self.remember()

    def remember(self):
        balances = self.conn._account_balances
        self.last = {a: balances.get(a) for a in self.assets}

    def check(self):
        if self.in_rest:
            return
        balances = self.conn._account_balances
        for asset in self.assets:
            value = balances.get(asset)
            if value != self.last.get(asset):
                self.last[asset] = value
                if value is not None:
                    self.bridge.on_ws_balance(self.connector_name, asset, Decimal(value))


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

    had = attr in conn.__dict__
    setattr(conn, attr, wrapped)

    def unhook():
        if had:
            setattr(conn, attr, orig)
        else:
            conn.__dict__.pop(attr, None)
    return unhook


def _wrap_iter(conn, watch):
    orig = conn._iter_user_event_queue
    had = "_iter_user_event_queue" in conn.__dict__

    @functools.wraps(orig)
    async def iter_user_event_queue(*args, **kwargs):
        async for message in orig(*args, **kwargs):
            yield message
            watch.check()           # the listener has processed `message` when it asks for the next one

    conn._iter_user_event_queue = iter_user_event_queue

    def unhook():
        if had:
            conn._iter_user_event_queue = orig
        else:
            conn.__dict__.pop("_iter_user_event_queue", None)
    return unhook


def install(bridge, connector_name: str, conn) -> Optional[Callable[[], None]]:
    """Hook an ``ExchangePyBase``-style connector instance. Returns an un-hook function, or None when the connector
    cannot be hooked (cdef paper/mock connectors have no instance ``__dict__`` or no ``_update_balances``)."""
    if not hasattr(conn, "_update_balances") or not hasattr(conn, "__dict__"):
        return None
    refs = bridge.refs_for(connector_name)
    unhooks = []
    try:
        watch = None
        spot_assets = [r.base for r in refs if not r.is_perp]
        if bridge.websocket_balance_snapshots and spot_assets and isinstance(
                getattr(conn, "_account_balances", None), dict):
            watch = BalanceWatch(bridge, connector_name, conn, spot_assets)
            bridge._balance_watches.append(watch)
            unhooks.append(lambda: bridge._balance_watches.remove(watch))
            if hasattr(conn, "_iter_user_event_queue"):
                unhooks.append(_wrap_iter(conn, watch))

        def before():
            if watch is not None:
                watch.check()           # attribute earlier pushes to the stream, not to this poll
                watch.in_rest += 1

        def after_any():
            if watch is not None:
                watch.in_rest = max(0, watch.in_rest - 1)
                watch.remember()

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
