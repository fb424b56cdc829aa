"""The connectors' order events as core events: fills (routed to their market and core side), order lifecycle
(reservations), and the venue's reports of a trade's fate (``GuardEvent.TradeFailed`` / ``TradeSettled``).

PubSub keeps only weak references, so the forwarders are held here; an exception in a handler halts the market
of the event (Hummingbot would swallow it silently)."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from hummingbot.core.data_type.common import TradeType
from hummingbot.core.event.event_forwarder import EventForwarder
from hummingbot.core.event.events import MarketEvent

from inventory_guard import events as E

from .core_port import CorePort
from .events import GuardEvent
from .markets import MarketMap, Route
from .reservations import Reservations
from .translate import _side, _text, fee_in_base, venue_decimal

log = logging.getLogger("inventory_guard.hummingbot")

D0 = Decimal(0)


class OrderEvents:
    def __init__(self, core: CorePort, market_map: MarketMap, reservations: Reservations, *,
                 cancel_hold_s: Callable[[], float], stopping: Callable[[], bool], after: Callable[[], object],
                 halt: Callable[[str | None, str, BaseException], None]):
        self.core = core
        self.map = market_map
        self.reservations = reservations
        self._cancel_hold_s = cancel_hold_s
        self._stopping = stopping
        self._after = after                       # after an order closed (the bridge may close once stopped)
        self._halt = halt
        self._forwarders: list[tuple[Any, object, EventForwarder]] = []

    # ------------------------------------------------------------------ subscribing
    def subscribe(self, cname: str, conn) -> None:
        self._listen(conn, MarketEvent.OrderFilled, lambda e: self.on_fill(cname, e))
        self._listen(conn, MarketEvent.BuyOrderCreated, lambda e: self.on_created(cname, "buy", e))
        self._listen(conn, MarketEvent.SellOrderCreated, lambda e: self.on_created(cname, "sell", e))
        for tag in (MarketEvent.BuyOrderCompleted, MarketEvent.SellOrderCompleted):
            self._listen(conn, tag, lambda e: self.on_completed(e.order_id))
        for tag in (MarketEvent.OrderCancelled, MarketEvent.OrderExpired):
            self._listen(conn, tag, lambda e: self.on_released(cname, e.order_id, cancelled=True))
        self._listen(conn, MarketEvent.OrderFailure, lambda e: self.on_released(cname, e.order_id))
        self._listen(conn, GuardEvent.TradeFailed,
                     lambda e: self.trade_failed(cname, e.trading_pair, e.exchange_trade_id, e.order_id))
        self._listen(conn, GuardEvent.TradeSettled,
                     lambda e: self.trade_settled(cname, e.trading_pair, e.exchange_trade_id, e.order_id))

    def _listen(self, conn, tag, fn):
        def safe(event, fn=fn, tag=tag):
            try:
                fn(event)
            except Exception as exc:   # hummingbot swallows listener exceptions silently; halt and log here
                pair = getattr(event, "trading_pair", None)
                ref = next((r for r in self.map.all_refs() if pair in r.pairs), None) if pair else None
                self._halt(ref.market if ref else None, f"handling {getattr(tag, 'name', tag)}", exc)
        fwd = EventForwarder(safe)
        self._forwarders.append((conn, tag, fwd))       # strong ref: PubSub keeps only weak references
        conn.add_listener(tag, fwd)

    def unsubscribe_all(self) -> None:
        for conn, tag, fwd in self._forwarders:
            with contextlib.suppress(Exception):
                conn.remove_listener(tag, fwd)
        self._forwarders.clear()

    # ------------------------------------------------------------------ handlers
    def route(self, cname: str, trading_pair: str, side, position_action=None) -> Route | None:
        """``side``: "buy"/"sell" as the caller gave it (``GuardBridge.check``'s argument), or a TradeType."""
        core_side = cast(E.Side, side) if isinstance(side, str) else _side(side)
        return self.map.route(cname, trading_pair, core_side, position_action)

    def _fill_route(self, cname: str, ev) -> Route | None:
        known = self.reservations.side_of(_text(ev.order_id) or "")
        if known is not None:                   # the market and core side the order was reserved with
            ref = self.map.by_market(known[0])
            if ref is not None:
                return Route(ref, known[1])
        side: E.Side = "buy" if ev.trade_type == TradeType.BUY else "sell"
        return self.route(cname, ev.trading_pair, side, getattr(ev, "position", None))

    def on_fill(self, cname: str, ev) -> None:
        route = self._fill_route(cname, ev)
        amount = venue_decimal(ev.amount)
        if route is None or amount <= 0:
            return
        r = route.ref
        fee = D0 if r.is_perp else fee_in_base(ev.trade_fee, r.base, amount, ev.trade_type == TradeType.BUY)
        price = venue_decimal(ev.price) if ev.price is not None else None
        if price is not None and (not price.is_finite() or price <= 0):
            price = None
        self.core.apply(E.Fill(self.core.t(), r.market, route.side, amount, price=price,
                               trade_id=_text(ev.exchange_trade_id), order_id=_text(ev.order_id), fee_base=fee),
                        r.market, "recording a fill")
        self.reservations.filled(_text(ev.order_id))

    def on_created(self, cname: str, side: str, ev) -> None:
        # orders placed outside the gate (direct calls on Cython connectors) are reserved from the connector's event
        if self.reservations.side_of(ev.order_id) is None:
            route = self.route(cname, ev.trading_pair, side, getattr(ev, "position", None))
            if route is not None:
                self.reservations.opened(cname, route, ev.order_id, venue_decimal(ev.amount), ev.price)

    def on_completed(self, order_id: str) -> None:
        self.reservations.completed(order_id, self.core.now())
        self._after()

    def on_released(self, cname: str, order_id: str, cancelled: bool = False) -> None:
        if self._stopping():                 # no more orders will be placed: nothing can use the room
            self.reservations.closed(order_id)
        else:
            self.reservations.released(cname, order_id, self.core.now(), self._cancel_hold_s() if cancelled else 0.0)
        self._after()

    def trade_failed(self, cname: str, trading_pair: str, trade_id, order_id: str | None = None) -> None:
        """The venue reports that a matched trade failed (a phantom fill): the core's ``trade_failed``."""
        trade_id = _text(trade_id)
        if trade_id is not None:
            ref = self.map.market_ref(cname, trading_pair)
            self.core.apply(E.TradeFailed(self.core.t(), trade_id), ref.market if ref else None,
                            "dropping a failed trade")

    def trade_settled(self, cname: str, trading_pair: str, trade_id, order_id: str | None = None) -> None:
        """The venue reports a trade final: the core's ``fill_settled``."""
        trade_id = _text(trade_id)
        if trade_id is not None:
            ref = self.map.market_ref(cname, trading_pair)
            self.core.apply(E.FillSettled(self.core.t(), trade_id, _text(order_id)), ref.market if ref else None,
                            "recording a settled trade")
