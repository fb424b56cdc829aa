"""Order reservations as Hummingbot sees them: orders placed through the gate or reported by the connector,
executor budgets held until an executor's own orders replace them, and cancels held back while fills may still be
in flight (a user-stream outage). Mixed into ``GuardBridge``; uses its core, clock and fault latch."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Dict, Optional, Tuple

from inventory_guard import events as E

from .translate import _side, _text, executor_context

log = logging.getLogger("inventory_guard.hummingbot")


class Reservations:
    def order_opened(self, connector_name: str, trading_pair: str, order_id: str, side: str, amount: Decimal,
                     price: Optional[Decimal] = None):
        """Reserve an order placed through the gate (call right after buy()/sell() returned its id)."""
        if not order_id or order_id in self._orders:
            return
        market = self.market_id(connector_name, trading_pair)
        if market is None:
            return
        side = side if isinstance(side, str) else _side(side)
        if price is not None:
            price = Decimal(price)
            if price.is_nan() or price <= 0:
                price = None
        if Decimal(amount) <= 0:
            return
        self._orders[order_id] = market
        self._apply(E.OrderOpen(self._t(), market, order_id, side, Decimal(amount), price), market, "opening an order",
                    invalid_ok=True)
        exec_id = executor_context.get()
        if exec_id is not None:
            self._consume_executor_budget(exec_id, market, side, Decimal(amount))

    def order_closed(self, order_id: str):
        """Release an order's reservation (idempotent; also for orders restored from the journal)."""
        order_id = _text(order_id)
        if order_id is None:
            return
        market = self._orders.pop(order_id, None)
        self._deferred_closes.pop(order_id, None)
        if market is None and order_id not in self._core_orders():
            return
        self._apply(E.OrderClosed(self._t(), order_id), market, "closing an order")

    def _core_orders(self) -> dict:
        core = getattr(self.guard, "guard", self.guard)       # a Journal wraps a Guard
        return getattr(core, "orders", None) or {}

    def _sync_open_orders(self):
        """On attach (e.g. after a restart from the journal): release reservations of orders that are no longer
        open on the connectors (and of executors of the previous run), reserve open orders the core lacks."""
        live: Dict[str, Tuple[str, object]] = {}
        complete = True
        for cname, conn in self.connectors.items():
            try:
                ifo = getattr(conn, "in_flight_orders", None)
            except Exception:
                ifo = None
            if not isinstance(ifo, dict):
                complete = False
                continue
            for oid, o in ifo.items():
                if not getattr(o, "is_done", False):
                    live[oid] = (cname, o)
        for oid, order in list(self._core_orders().items()):
            if oid.startswith("executor:") or (complete and oid not in live):
                log.info("inventory-guard: releasing the reservation of %s (not open any more)", oid)
                self._orders[oid] = order.market
                self.order_closed(oid)
            else:
                self._orders.setdefault(oid, order.market)
        for oid, (cname, o) in live.items():
            if oid not in self._core_orders():
                remaining = Decimal(o.amount) - Decimal(getattr(o, "executed_amount_base", 0) or 0)
                if remaining > 0:
                    self.order_opened(cname, o.trading_pair, oid, _side(o.trade_type), remaining, o.price)

    def executor_approved(self, executor_id: str, connector_name: str, trading_pair: str, side: str,
                          amount: Decimal):
        market = self.market_id(connector_name, trading_pair)
        if market is None or amount <= 0:
            return
        oid = f"executor:{executor_id}"
        self._orders[oid] = market
        self._executor_budget[executor_id] = (market, side, Decimal(amount), 0)
        self._apply(E.OrderOpen(self._t(), market, oid, side, Decimal(amount)), market, "reserving for an executor",
                    invalid_ok=True)

    def _consume_executor_budget(self, executor_id: str, market: str, side: str, amount: Decimal):
        b = self._executor_budget.get(executor_id)
        if b is None or b[0] != market or b[1] != side:
            return
        _, _, left, n = b
        self.order_closed(self._budget_oid(executor_id, n))
        left -= amount
        if left > 0:
            n += 1
            oid = self._budget_oid(executor_id, n)
            self._orders[oid] = market
            self._apply(E.OrderOpen(self._t(), market, oid, side, left), market, "reserving for an executor",
                        invalid_ok=True)
            self._executor_budget[executor_id] = (market, side, left, n)
        else:
            self._executor_budget.pop(executor_id, None)

    @staticmethod
    def _budget_oid(executor_id: str, n: int) -> str:
        return f"executor:{executor_id}" + (f"#{n}" if n else "")

    def executor_finished(self, executor_id: str):
        b = self._executor_budget.pop(executor_id, None)
        if b is not None:
            self.order_closed(self._budget_oid(executor_id, b[3]))

    def _on_created(self, cname: str, side: str, ev):
        # orders placed outside the gate (or by executors) are reserved from the connector's own event
        self.order_opened(cname, ev.trading_pair, ev.order_id, side, Decimal(ev.amount), ev.price)

    def _on_order_done(self, ev):
        self.order_closed(ev.order_id)

    def _on_order_released(self, cname: str, ev):
        """Cancelled / failed / expired: release now, unless fills of it may still be in flight (stream down or
        just back), in which case the reservation is kept until ``cancel_release_delay_s`` after the stream is up."""
        if ev.order_id in self._orders and not self._stream_settled(cname):
            self._deferred_closes[ev.order_id] = cname
            log.info("inventory-guard: keeping the reservation of %s until %s's user stream has settled",
                     ev.order_id, cname)
            return
        self.order_closed(ev.order_id)

    def _stream_settled(self, cname: str) -> bool:
        if self._stream_down.get(cname):
            return False
        up_at = self._stream_up_at.get(cname)
        return up_at is None or self.now() - up_at >= self.cancel_release_delay_s

    def _release_deferred(self):
        for oid, cname in list(self._deferred_closes.items()):
            if self._stream_settled(cname):
                del self._deferred_closes[oid]
                self.order_closed(oid)
