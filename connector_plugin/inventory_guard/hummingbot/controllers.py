"""Vetting V2 executor proposals *before* an executor exists (resized or dropped), so no executor is created that
can only fail. The safety boundary is the connector gate (``connector_gate.py``): every order an executor places,
at any time, passes it too.

``guard_orchestrator(orchestrator, bridge)`` wraps the instance's ``execute_action`` (which ``execute_actions``, the
strategy's tick and the controllers' action queue all go through).

* An approved executor gets a budget reservation per leg (``executor:<id>:<market>:<side>#n``) for its base amount,
  so back-to-back proposals cannot both pass; each order it places (inside ``executor_context``) is checked with
  that budget taken out of the exposure and is taken from it; the rest is released when the executor closes.
* Sizes: executors with ``side`` + ``amount`` (Order, Position) are resized; DCA (``amounts_quote``/``prices``),
  Grid and TWAP (``total_amount_quote``) are estimated in base and dropped unless fully allowed; XEMM and arbitrage
  are vetted leg by leg (a buy of ``order_amount`` on ``buying_market``, a sell on ``selling_market``: both legs
  must fit whole, else dropped with the reason); other types (LP, unknown) cannot be sized and are dropped with an
  error log (fail closed).
"""
from __future__ import annotations

import functools
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, ExecutorAction

from inventory_guard.events import BlockReason

from .bridge import bridge_for_connector, executor_context

log = logging.getLogger("inventory_guard.hummingbot")


class Leg(NamedTuple):
    connector_name: str
    trading_pair: str
    side: str                  # "buy" / "sell"
    amount: Decimal            # base amount
    resizable: bool
    position_action: str | None = None


def executor_legs(cfg, connectors=None) -> list[Leg] | None:
    """The orders an executor config will place, in base units, or None when the guard cannot size it."""
    buying, selling = getattr(cfg, "buying_market", None), getattr(cfg, "selling_market", None)
    if buying is not None and selling is not None and getattr(cfg, "order_amount", None) is not None:
        amount = Decimal(cfg.order_amount)          # XEMM / arbitrage: buy on one market, sell on the other
        return [Leg(buying.connector_name, buying.trading_pair, "buy", amount, False),
                Leg(selling.connector_name, selling.trading_pair, "sell", amount, False)]
    size = executor_size(cfg, connectors)
    if size is None:
        return None
    cname, pair, side, amount, resizable = size
    return [Leg(cname, pair, side, amount, resizable, "OPEN" if getattr(cfg, "leverage", None) else None)]


def executor_size(cfg, connectors=None) -> tuple[str, str, str, Decimal, bool] | None:
    """(connector_name, trading_pair, side, base_amount, resizable) of a one-sided executor config, or None."""
    side = getattr(cfg, "side", None)
    cname, pair = getattr(cfg, "connector_name", None), getattr(cfg, "trading_pair", None)
    if side not in (TradeType.BUY, TradeType.SELL) or not cname or not pair:
        return None
    s = "buy" if side == TradeType.BUY else "sell"
    if getattr(cfg, "amount", None) is not None:
        return cname, pair, s, Decimal(cfg.amount), True
    if getattr(cfg, "amounts_quote", None) and getattr(cfg, "prices", None):
        base = sum((Decimal(q) / Decimal(p) for q, p in zip(cfg.amounts_quote, cfg.prices, strict=True)), Decimal(0))
        return cname, pair, s, base, False
    if getattr(cfg, "total_amount_quote", None) is not None:
        price = getattr(cfg, "start_price", None)     # grid: the lowest price buys the most base
        if price is None and connectors and cname in connectors:
            try:
                price = connectors[cname].get_mid_price(pair)
            except Exception:
                price = None
        if price:
            return cname, pair, s, Decimal(cfg.total_amount_quote) / Decimal(price), False
    return None


def gate_create_action(bridge, action: ExecutorAction, connectors=None,
                       quiet: bool = False) -> ExecutorAction | None:
    """Return the action (possibly with a smaller amount) or None to drop it. Never raises. ``quiet`` logs the
    decision at DEBUG (the controller-level pre-filter; the orchestrator logs the final decision)."""
    warn = log.debug if quiet else log.warning
    if not isinstance(action, CreateExecutorAction):
        return action
    cfg = action.executor_config
    name = type(cfg).__name__
    try:
        legs = executor_legs(cfg, connectors or bridge.connectors)
        if legs is None:
            log.error("inventory-guard: dropped %s for %s: executor type cannot be sized by the guard",
                      name, action.controller_id)
            return None
        if len(legs) > 1:                      # every leg must fit whole
            for leg in legs:
                decision = bridge.check(leg.connector_name, leg.trading_pair, leg.side, leg.amount,
                                        leg.position_action)
                if not decision.allowed or decision.size < leg.amount:
                    warn("inventory-guard: dropped %s of %s: its %s leg of %s %s on %s does not fit (%s)", name,
                         action.controller_id, leg.side, leg.amount, leg.trading_pair, leg.connector_name,
                         decision.reason)
                    return None
            return action
        (leg,) = legs
        cname, pair, side, amount, resizable = leg[:5]
        decision = bridge.check(cname, pair, side, amount, leg.position_action)
        if not decision.allowed or decision.size <= 0:
            warn("inventory-guard: dropped %s %s %s %s proposal of %s (%s)", name, side, amount, pair,
                 action.controller_id, decision.reason)
            return None
        new_amount = amount
        if decision.size < amount:
            if not resizable:
                warn("inventory-guard: dropped %s %s %s %s proposal of %s (%s; cannot resize this type)",
                     name, side, amount, pair, action.controller_id, decision.reason)
                return None
            new_amount = Decimal(decision.size)
            conn = bridge.connectors.get(cname)
            if conn is not None and hasattr(conn, "quantize_order_amount"):
                new_amount = min(new_amount, Decimal(conn.quantize_order_amount(pair, new_amount)))
            if new_amount <= 0:
                warn("inventory-guard: dropped %s %s %s proposal of %s (%s; resized to zero)", side, amount,
                     pair, action.controller_id, decision.reason)
                return None
            cfg.amount = new_amount
            (warn if decision.reason else log.debug)(     # reason None: only rounded to size_increment
                "inventory-guard: resized %s %s %s proposal of %s from %s to %s (%s)", name,
                side, pair, action.controller_id, amount, new_amount, decision.reason or "size_increment")
        return action
    except Exception as exc:
        market = bridge.market_id(getattr(cfg, "connector_name", "") or "", getattr(cfg, "trading_pair", "") or "")
        bridge.halt(market, "gating an executor proposal", exc)
        return None


class ExecutorGuard:
    """Wraps one ``ExecutorOrchestrator`` instance; see the module docstring."""

    def __init__(self, orchestrator, bridge):
        self.orchestrator = orchestrator
        self.bridge = bridge
        self.live: dict[str, Any] = {}
        self.dropped: list[ExecutorAction] = []
        self.resized: list[ExecutorAction] = []
        self._orig = orchestrator.execute_action
        orchestrator.execute_action = self.execute_action
        bridge.add_tick_hook(self.sweep)

    def uninstall(self):
        self.orchestrator.__dict__.pop("execute_action", None)
        self.bridge.remove_tick_hook(self.sweep)

    def execute_action(self, action: ExecutorAction):
        if not isinstance(action, CreateExecutorAction):
            return self._orig(action)
        before = getattr(action.executor_config, "amount", None)
        gated = gate_create_action(self.bridge, action)
        if gated is None:
            self.dropped.append(action)
            return None
        after = getattr(gated.executor_config, "amount", None)
        if before is not None and after is not None and after < before - self._increment(gated):
            self.resized.append(gated)
        result = self._orig(gated)
        self._track(gated)
        return result

    def _increment(self, action) -> Decimal:
        cfg = action.executor_config
        market = self.bridge.market_id(getattr(cfg, "connector_name", ""), getattr(cfg, "trading_pair", ""))
        try:
            return Decimal(self.bridge.config.market(market).size_increment) if market else Decimal(0)
        except Exception:
            return Decimal(0)

    def _track(self, action: CreateExecutorAction):
        cfg = action.executor_config
        execs = self.orchestrator.active_executors.get(action.controller_id, [])
        executor = next((e for e in reversed(execs) if e.config.id == cfg.id), None)
        if executor is None:
            return
        for leg in executor_legs(cfg, self.bridge.connectors) or []:
            self.bridge.executor_approved(cfg.id, leg.connector_name, leg.trading_pair, leg.side, leg.amount,
                                          leg.position_action)
        orig_place = executor.place_order

        @functools.wraps(orig_place)
        def place_order(*args, **kwargs):
            token = executor_context.set(cfg.id)
            try:
                return orig_place(*args, **kwargs)
            finally:
                executor_context.reset(token)

        executor.place_order = place_order
        self.live[cfg.id] = executor

    def sweep(self, now: float = 0.0):
        """Release the reservation of executors that have closed."""
        for eid, executor in list(self.live.items()):
            try:
                done = executor.is_closed or getattr(executor.status, "name", "") == "TERMINATED"
            except Exception:
                done = False
            if done:
                self.bridge.executor_finished(eid)
                del self.live[eid]


def guard_orchestrator(orchestrator, bridge) -> ExecutorGuard:
    return ExecutorGuard(orchestrator, bridge)


if TYPE_CHECKING:  # to mypy, the mixin is the controller it is mixed into (Any: Hummingbot ships no type information)
    from hummingbot.strategy_v2.controllers.controller_base import ControllerBase as _Controller
else:
    _Controller = object


class GuardedControllerMixin(_Controller):
    """Put BEFORE a ``ControllerBase`` subclass. Filters the controller's own proposals through the bridge guarding
    its connector (no reservation here; the guarded strategy's orchestrator reserves). With no guard attached to the
    connector (e.g. the controller runs under an unguarded script) every buy/sell proposal is dropped: fail closed."""

    def determine_executor_actions(self) -> list[ExecutorAction]:
        actions = super().determine_executor_actions()
        out = []
        for action in actions:
            if not isinstance(action, CreateExecutorAction):
                out.append(action)
                continue
            cname = getattr(action.executor_config, "connector_name", None)
            conn = self.market_data_provider.connectors.get(cname) if cname else None
            bridge = bridge_for_connector(conn) if conn is not None else None
            if bridge is None:
                if not getattr(self, "_ig_warned", False):
                    self._ig_warned = True
                    self.logger().error("inventory-guard: no guard attached to %s; proposals dropped (%s). Run this "
                                        "controller under the guarded script.", cname, BlockReason.GUARD_ERROR)
                continue
            gated = gate_create_action(bridge, action, quiet=True)
            if gated is not None:
                out.append(gated)
        return out
