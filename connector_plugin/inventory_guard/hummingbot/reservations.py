"""Order reservations as Hummingbot sees them: orders placed through the gate or reported by the connector,
executor budgets held until an executor's own orders replace them, and cancels held back while fills may still be
in flight (a user-stream outage). Writes to the core only through the ``CorePort``."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from inventory_guard import events as E

from .core_port import CorePort
from .markets import Route
from .translate import _text

log = logging.getLogger("inventory_guard.hummingbot")

EXECUTOR_PREFIX = "executor:"


class Reservations:
    def __init__(self, core: CorePort, stream_settled):
        self.core = core
        self._stream_settled = stream_settled          # connector name -> bool (fills can no longer be in flight)
        self.orders: dict[str, tuple[str, E.Side]] = {}   # open order id -> (market, core side)
        self.connector_of: dict[str, str] = {}          # order id -> connector name (orders of this run)
        self.deferred: dict[str, tuple] = {}           # order id -> (connector name, not before): release held back
        self.awaiting_fills: dict[str, float] = {}      # order id -> when it completed with fills not seen yet
        self.fill_wait_s = 30.0
        # (executor id, market, side) -> [amount left, n]; its reservation id is executor:<id>:<market>:<side>#n
        self.budgets: dict[tuple[str, str, str], list] = {}

    # ------------------------------------------------------------------ orders
    def opened(self, connector_name: str, route: Route, order_id: object, amount: Decimal,
               price: Decimal | None = None) -> None:
        """Reserve an order (right after the connector returned its id, or from its creation event)."""
        order_id = _text(order_id)
        if order_id is None or order_id in self.orders or Decimal(amount) <= 0:
            return
        if price is not None:
            price = Decimal(price)
            if not price.is_finite() or price <= 0:
                price = None
        market = route.ref.market
        self.orders[order_id] = (market, route.side)
        self.connector_of[order_id] = connector_name
        self.core.apply(E.OrderOpen(self.core.t(), market, order_id, route.side, Decimal(amount), price), market,
                        "opening an order", invalid_ok=True)

    def closed(self, order_id: object) -> None:
        """Release an order's reservation (idempotent; also for orders restored from the journal)."""
        order_id = _text(order_id)
        if order_id is None:
            return
        known = self.orders.pop(order_id, None)
        self.deferred.pop(order_id, None)
        self.awaiting_fills.pop(order_id, None)
        self.connector_of.pop(order_id, None)
        if known is None and order_id not in self.core.open_orders():
            return
        self.core.apply(E.OrderClosed(self.core.t(), order_id), known[0] if known else None, "closing an order")

    def released(self, connector_name: str, order_id: str, now: float, hold_s: float = 0.0) -> None:
        """Cancelled / expired (``hold_s`` = cancel_release_delay_s) or failed (0): fills the venue matched before
        the cancel may still be on their way, so the reservation is kept ``hold_s`` and, whatever the kind, while
        the connector's user stream is down or just back; the fills that arrive meanwhile take it over."""
        if order_id not in self.orders:
            self.closed(order_id)
            return
        if hold_s > 0 or not self._stream_settled(connector_name):
            self.deferred[order_id] = (connector_name, now + hold_s)
            log.debug("inventory-guard: keeping the reservation of %s for fills still in flight", order_id)
            return
        self.closed(order_id)

    def completed(self, order_id: str, now: float) -> None:
        """A filled order completed. When the guard has not seen all its fills yet (lost messages, a completion
        that overtook them) what remains stays reserved: the fills still to arrive take it over; the rest is
        released ``fill_wait_s`` later (by then a snapshot shows what they did)."""
        o = self.core.open_orders().get(order_id)
        if o is not None and o.remaining > 0:
            self.awaiting_fills.setdefault(order_id, now)
            log.info("inventory-guard: %s completed with %s of its fills not seen yet; keeping that reserved",
                     order_id, o.remaining)
            return
        self.closed(order_id)

    def filled(self, order_id: str | None) -> None:
        """After a fill: a completed order whose fills have all arrived is released."""
        if order_id in self.awaiting_fills:
            o = self.core.open_orders().get(order_id)
            if o is None or o.remaining <= 0:
                self.awaiting_fills.pop(order_id, None)
                self.closed(order_id)

    def release_deferred(self, now: float) -> None:
        for oid, (cname, release_at) in list(self.deferred.items()):
            if now >= release_at and self._stream_settled(cname):
                del self.deferred[oid]
                self.closed(oid)
        for oid, since in list(self.awaiting_fills.items()):
            if now - since >= self.fill_wait_s:
                del self.awaiting_fills[oid]
                self.closed(oid)

    def side_of(self, order_id: str) -> tuple[str, E.Side] | None:
        """(market, core side) of an order the guard reserved (this run or restored from the journal)."""
        known = self.orders.get(order_id)
        if known is not None:
            return known
        o = self.core.open_orders().get(order_id)
        return None if o is None else (o.market, o.side)

    def sync(self, live: dict[str, tuple[str, Any]], complete: bool, route_of) -> None:
        """Match the reservations with the orders the connectors track (``live``: order id -> (connector, in-flight
        order)). Releases reservations of orders the connectors no longer track (``complete``: every connector's
        orders are known) and of executors of a previous run; reserves tracked orders the core lacks."""
        for oid, order in list(self.core.open_orders().items()):
            if oid in self.connector_of and oid not in live:
                continue                          # placed by this run: its events will close it
            if oid.startswith(EXECUTOR_PREFIX) and not self._is_budget(oid):
                log.info("inventory-guard: releasing the reservation of %s (an executor of a previous run)", oid)
                self.orders[oid] = (order.market, order.side)
                self.closed(oid)
            elif complete and oid not in live and not oid.startswith(EXECUTOR_PREFIX):
                log.info("inventory-guard: releasing the reservation of %s (the connector does not track it)", oid)
                self.orders[oid] = (order.market, order.side)
                self.closed(oid)
            else:
                self.orders.setdefault(oid, (order.market, order.side))
        for oid, (cname, o) in live.items():
            if oid in self.core.open_orders():
                self.connector_of.setdefault(oid, cname)
                continue
            remaining = Decimal(o.amount) - Decimal(getattr(o, "executed_amount_base", 0) or 0)
            route = route_of(cname, o)
            if remaining > 0 and route is not None:
                log.info("inventory-guard: reserving %s %s %s tracked by %s", oid, route.side, remaining, cname)
                self.opened(cname, route, oid, remaining, getattr(o, "price", None))

    # ------------------------------------------------------------------ executor budgets
    @staticmethod
    def _budget_oid(executor_id: str, market: str, side: str, n: int) -> str:
        return f"{EXECUTOR_PREFIX}{executor_id}:{market}:{side}#{n}"

    def _is_budget(self, oid: str) -> bool:
        return any(self._budget_oid(e, m, s, b[1]) == oid for (e, m, s), b in self.budgets.items())

    def approve_budget(self, executor_id: str, route: Route, amount: Decimal) -> None:
        """An approved executor's budget: reserved until its own orders replace it, released when it closes."""
        amount = Decimal(amount)
        if amount <= 0:
            return
        key = (executor_id, route.ref.market, route.side)
        self.budgets[key] = [amount, 0]
        self._reserve_budget(key)

    def _reserve_budget(self, key) -> None:
        executor_id, market, side = key
        left, n = self.budgets[key]
        oid = self._budget_oid(executor_id, market, side, n)
        self.orders[oid] = (market, side)
        self.core.apply(E.OrderOpen(self.core.t(), market, oid, side, left), market, "reserving for an executor",
                        invalid_ok=True)

    def suspend_budget(self, executor_id: str | None, route: Route) -> tuple | None:
        """Before the gate checks an executor's own order: take its budget out of the exposure (the order competes
        for the same room). Returns a token for ``resume_budget``."""
        if executor_id is None:
            return None
        key = (executor_id, route.ref.market, route.side)
        b = self.budgets.get(key)
        if b is None:
            return None
        self.closed(self._budget_oid(executor_id, route.ref.market, route.side, b[1]))
        return key

    def resume_budget(self, token: tuple | None, used: Decimal) -> None:
        """After the order was placed (``used`` = its size) or blocked (``used`` = 0): reserve what is left."""
        if token is None or token not in self.budgets:
            return
        b = self.budgets[token]
        b[0] -= Decimal(used)
        b[1] += 1
        if b[0] > 0:
            self._reserve_budget(token)
        else:
            del self.budgets[token]

    def finish_executor(self, executor_id: str) -> None:
        for key in [k for k in self.budgets if k[0] == executor_id]:
            _, n = self.budgets.pop(key)
            self.closed(self._budget_oid(executor_id, key[1], key[2], n))
