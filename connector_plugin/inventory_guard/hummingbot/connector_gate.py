"""The connector gate: the safety boundary. Every order that enters a guarded connector passes here, whoever placed
it (the script's ``buy()``/``sell()``, ``buy_with_specific_market``, a direct ``connector.buy``, any executor at any
time, controllers): it is placed whole, resized (quantized by the connector) or blocked.

* Python connectors (every ``ExchangePyBase`` / ``PerpetualDerivativePyBase``): the instance's ``buy``/``sell`` are
  wrapped. Hummingbot's ``buy_with_specific_market`` reaches them through ``ConnectorBase.c_buy`` -> ``self.buy``.
* Cython connectors (paper trade) have no instance attributes: the guarded strategy gates its own
  ``buy_with_specific_market``/``sell_with_specific_market`` instead (script orders and executors go through them);
  a direct ``connector.buy`` on such a connector is not gated.
* Every block is counted in the core's ``orders_blocked`` (by side and ``BlockReason``): the gate's own blocks by
  its check, the blocks made here without it (``guard_error``, ``unknown_market``, ``invalid_size``) by an
  ``OrderBlocked`` event. An order for a pair the guard does not guard is counted under the first market (by id) its
  connector guards: a metric needs a guarded market's labels; the log line names the pair.
* A blocked order follows Hummingbot's failed-order path: the caller gets an order id, and that id receives the
  ``MarketOrderFailureEvent`` the connector emits for a rejected order (``error_type`` ``InventoryGuardBlocked``),
  from the event loop, after the call returned, so an executor retries or stops as on a venue rejection.
* Orders that only reduce exposure (``position_action`` CLOSE, a sell against a perpetual long, a buy against a
  short) are never blocked for the limit, also while the market is halted. A halted market blocks every order
  that adds exposure.
* An executor's own order is checked with its approved budget taken out of the exposure (the order uses the room
  the budget held); what it places is taken from the budget.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from decimal import Decimal

from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.event.events import MarketEvent, MarketOrderFailureEvent
from hummingbot.core.utils.async_utils import safe_ensure_future

from inventory_guard.core import Decision
from inventory_guard.events import BlockReason, InvalidEvent, Side

from .core_port import CorePort
from .events import BLOCKED_ERROR_TYPE
from .markets import MarketMap, Route
from .reservations import Reservations
from .translate import executor_context

log = logging.getLogger("inventory_guard.hummingbot")

D0 = Decimal(0)
NAN = Decimal("NaN")


class InventoryGuardBlocked(Exception):
    """The exception a blocked order fails with (its class name is the failure event's ``error_type``)."""


assert InventoryGuardBlocked.__name__ == BLOCKED_ERROR_TYPE


class ConnectorGate:
    def __init__(self, core: CorePort, market_map: MarketMap, reservations: Reservations):
        self.core = core
        self.map = market_map
        self.reservations = reservations
        self.wrapped: dict[str, object] = {}     # connector name -> connector whose buy/sell are wrapped

    # ------------------------------------------------------------------ decisions
    def decide(self, route: Route, amount: Decimal) -> Decision:
        """Place, resize or block one order of ``route``. Never raises: a guard error halts the market and
        blocks what adds exposure."""
        market, side = route.ref.market, route.side
        amount = Decimal(amount)
        if amount <= 0 or not amount.is_finite():
            return self.block(market, side, BlockReason.INVALID_SIZE)
        if route.reduce_only:
            return Decision(True, amount)
        reduce_room = self._reduce_room(route)
        if amount <= reduce_room:
            return Decision(True, amount)        # only reduces the exposure: never blocked for the limit
        adds = side == "buy" or self._allows_short(market)
        if market in self.core.halted:
            if not adds:
                return Decision(True, amount)
            room = self._round(market, reduce_room)
            if room > 0:
                return Decision(True, room, BlockReason.GUARD_ERROR)
            return self.block(market, side, BlockReason.GUARD_ERROR)
        try:
            return self.core.check(market, side, amount)
        except InvalidEvent as exc:              # e.g. below size_increment: block this order, the guard is fine
            log.warning("inventory-guard: %s %s %s blocked: %s", side, amount, market, exc)
            return self.block(market, side, BlockReason.INVALID_SIZE)
        except Exception as exc:
            self.core.halt(market, f"checking a {side}", exc)
            return self.block(market, side, BlockReason.GUARD_ERROR) if adds else Decision(True, amount)

    def unknown_market(self, connector_name: str, trading_pair: str, side: Side, amount) -> Decision:
        """Block an order for a pair the guard does not guard; counted under the connector's first market."""
        log.error("inventory-guard blocked %s %s %s on %s: %s (the guard does not know this pair)", side.upper(),
                  amount, trading_pair, connector_name, BlockReason.UNKNOWN_MARKET)
        refs = self.map.refs_for(connector_name) or self.map.all_refs()
        return self.block(min(r.market for r in refs), side, BlockReason.UNKNOWN_MARKET)

    def block(self, market: str, side: Side, reason: BlockReason) -> Decision:
        """A block made without the gate's check, reported to the core (which counts it in orders_blocked)."""
        self.core.blocked(market, side, reason)
        return Decision(False, D0, reason)

    def _reduce_room(self, route: Route) -> Decimal:
        """How much of an order on a signed perpetual market only brings the position towards 0 (0 elsewhere)."""
        ref = route.ref
        if not ref.is_perp or ref.leg is not None:
            return D0
        view = self.core.view(ref.market)
        if view is None:
            return D0
        if route.side == "sell":        # against a long: what is left after the open sells
            return max(D0, view.available_to_sell)
        return max(D0, -view.conservative_exposure)     # against a short: counting every buy that may have filled

    def _allows_short(self, market: str) -> bool:
        try:
            return bool(self.core.config.market(market).allow_negative_position)
        except Exception:
            return bool(self.core.config.allow_negative_position)

    def _round(self, market: str, amount: Decimal) -> Decimal:
        try:
            step = self.core.config.market(market).size_increment
        except Exception:
            return amount
        return (amount // step) * step

    # ------------------------------------------------------------------ placing
    def place(self, connector_name: str, conn, send: Callable[[Decimal], str], side: Side, trading_pair: str,
              amount, order_type, price, kwargs: dict) -> str:
        """Gate one order; ``send(size)`` places it. Returns the order id (of the failing order when blocked)."""
        amount = Decimal(amount)
        route = self.map.route(connector_name, trading_pair, side, kwargs.get("position_action"))
        if route is None:
            self.unknown_market(connector_name, trading_pair, side, amount)
            return self.fail_blocked(conn, side, trading_pair, amount, order_type, price, kwargs,
                               BlockReason.UNKNOWN_MARKET)
        token = self.reservations.suspend_budget(executor_context.get(), route)
        placed = D0
        try:
            decision = self.decide(route, amount)
            size = Decimal(decision.size) if decision.allowed else D0
            if D0 < size < amount:
                size = self._quantize(conn, trading_pair, size)
            if size <= 0:
                reason = decision.reason
                why = f"{reason}"
                if decision.allowed:                  # the connector's own step rounds the allowed size to 0
                    reason = self.block(route.ref.market, route.side, BlockReason.INVALID_SIZE).reason
                    why = f"{reason} (the connector rounds the allowed {decision.size} to 0)"
                log.warning("inventory-guard blocked %s %s %s on %s (market %s): %s", side.upper(), amount,
                            trading_pair, connector_name, route.ref.market, why)
                assert reason is not None  # the gate names every block
                return self.fail_blocked(conn, side, trading_pair, amount, order_type, price, kwargs, reason)
            if size < amount and decision.reason:     # reason None: only rounded to size_increment
                log.warning("inventory-guard resized %s %s on %s (market %s) from %s to %s: %s", side.upper(),
                            trading_pair, connector_name, route.ref.market, amount, size, decision.reason)
            order_id = send(size)
            placed = size
            self.reservations.opened(connector_name, route, order_id, size, price)
            return order_id
        finally:
            self.reservations.resume_budget(token, placed)

    @staticmethod
    def _quantize(conn, trading_pair: str, size: Decimal) -> Decimal:
        try:
            return min(size, Decimal(conn.quantize_order_amount(trading_pair, size)))
        except Exception:
            return size

    def fail_blocked(self, conn, side: str, trading_pair: str, amount: Decimal, order_type, price, kwargs: dict,
               reason: str) -> str:
        """A new order id whose failure the connector reports from the event loop (Hummingbot's own path for an
        order rejected before it reached the venue)."""
        from hummingbot.connector.utils import get_new_client_order_id
        try:
            order_id = get_new_client_order_id(side == "buy", trading_pair,
                                               hbot_order_id_prefix=getattr(conn, "client_order_id_prefix", ""),
                                               max_id_len=getattr(conn, "client_order_id_max_length", None))
        except Exception:
            order_id = get_new_client_order_id(side == "buy", trading_pair)
        exc = InventoryGuardBlocked(f"inventory-guard blocked {side} {amount} {trading_pair}: {reason}")
        safe_ensure_future(_fail(conn, order_id, side, trading_pair, amount, order_type, price, kwargs, exc))
        return order_id

    # ------------------------------------------------------------------ wrapping connectors
    def install(self, connector_name: str, conn) -> Callable[[], None] | None:
        """Wrap the connector instance's buy/sell; None when it has no instance attributes (Cython paper trade)."""
        if not hasattr(conn, "__dict__"):
            return None
        unhooks: list[Callable[[], None]] = []
        for side in ("buy", "sell"):
            orig = getattr(conn, side)
            had = side in conn.__dict__

            def gated(trading_pair, amount, order_type=OrderType.LIMIT, price=NAN, _orig=orig, _side=side,
                      **kwargs):
                return self.place(connector_name, conn, lambda size: _orig(trading_pair, size, order_type, price,
                                                                          **kwargs),
                                  _side, trading_pair, amount, order_type, price, kwargs)
            functools.update_wrapper(gated, orig)
            try:
                setattr(conn, side, gated)
            except (AttributeError, TypeError):
                for u in unhooks:
                    u()
                return None

            def unhook(_side=side, _orig=orig, _had=had):
                if _had:
                    setattr(conn, _side, _orig)
                else:
                    conn.__dict__.pop(_side, None)
            unhooks.append(unhook)
        self.wrapped[connector_name] = conn

        def unhook_all():
            for u in unhooks:
                u()
            self.wrapped.pop(connector_name, None)
        return unhook_all

    def wraps(self, connector_name: str, conn) -> bool:
        return self.wrapped.get(connector_name) is conn


async def _fail(conn, order_id, side, trading_pair, amount, order_type, price, kwargs, exc):
    trade_type = TradeType.BUY if side == "buy" else TradeType.SELL
    order_type = order_type or OrderType.LIMIT
    tracked = False
    if hasattr(conn, "_update_order_after_failure") and hasattr(conn, "_order_tracker"):
        try:
            extra = {k: v for k, v in kwargs.items() if k == "position_action"}
            conn.start_tracking_order(order_id=order_id, exchange_order_id=None, trading_pair=trading_pair,
                                      trade_type=trade_type, price=price, amount=amount, order_type=order_type,
                                      **extra)
            tracked = True
            conn._update_order_after_failure(order_id=order_id, trading_pair=trading_pair, exception=exc)
            return
        except Exception:
            if tracked:
                log.exception("inventory-guard: reporting the block of %s through the order tracker failed", order_id)
                return
    ts = getattr(conn, "current_timestamp", None)
    conn.trigger_event(MarketEvent.OrderFailure, MarketOrderFailureEvent(
        timestamp=ts, order_id=order_id, order_type=order_type, error_message=str(exc),
        error_type=BLOCKED_ERROR_TYPE))
