"""Guarded V2 scripts: ``InventoryGuardMixin`` (put it before ``StrategyV2Base``), ``GuardedStrategyV2Base`` and the
ready-to-run ``InventoryGuardedV2`` script (runs the controllers listed in its conf, like Hummingbot's
``v2_with_controllers``), plus their config classes.

* Every order on a guarded connector passes the connector gate (``connector_gate.py``): resized (quantized by the
  connector) or blocked with a WARNING log line; a blocked order's id gets the connector's failure event. For
  Cython connectors (paper trade) the gate sits in this strategy's ``buy_with_specific_market`` /
  ``sell_with_specific_market`` (what ``buy()``/``sell()`` and executors call).
* Every tick feeds ``Tick``; ``format_status`` appends the guard table; ``on_stop`` stops the guard (it closes the
  journal once the cancels Hummingbot sends after stopping have arrived).
* A bad ``inventory_guard`` section raises at config load / strategy construction, which stops ``start``.
"""
from __future__ import annotations

import logging
import math
import time
from decimal import Decimal
from typing import TYPE_CHECKING

from hummingbot.core.data_type.common import MarketDict, OrderType, PositionAction
from hummingbot.strategy.strategy_v2_base import StrategyV2Base, StrategyV2ConfigBase
from pydantic import Field

from inventory_guard.events import Side

from .bridge import GuardBridge
from .config import InventoryGuardSettings
from .controllers import ExecutorGuard

log = logging.getLogger("inventory_guard.hummingbot")
s_decimal_nan = Decimal("NaN")

if TYPE_CHECKING:  # to mypy, the mixin is the strategy it is mixed into (Any: Hummingbot ships no type information)
    from hummingbot.strategy.strategy_v2_base import StrategyV2Base as _Strategy
else:
    _Strategy = object


class InventoryGuardMixin(_Strategy):
    """Needs ``config.inventory_guard`` (an ``InventoryGuardSettings``) or a bridge passed as ``inventory_guard``."""

    inventory_guard: GuardBridge | None = None
    executor_guard: ExecutorGuard | None = None

    def __init__(self, connectors, config=None, *args, inventory_guard: GuardBridge | None = None, **kwargs):
        super().__init__(connectors, config, *args, **kwargs)
        if inventory_guard is None:
            settings = getattr(config, "inventory_guard", None)
            if settings is None:
                raise ValueError("inventory_guard: missing section in the strategy config (max_position is required)")
            if isinstance(settings, dict):
                settings = InventoryGuardSettings(**settings)
            markets = {c: set(p) for c, p in (type(self).markets or {}).items() if c in connectors}
            for cname in connectors:                      # markets not declared via update_markets
                markets.setdefault(cname, set(getattr(connectors[cname], "trading_pairs", None) or []))
            inventory_guard = GuardBridge(settings, connectors, markets=markets, clock=self._guard_clock)
        self.inventory_guard = inventory_guard.attach()
        self.executor_guard = ExecutorGuard(self.executor_orchestrator, self.inventory_guard)

    def _guard_clock(self) -> float:
        """The strategy clock (wall time in live trading, the backtest time in tests); NaN before it starts."""
        ts = float(getattr(self, "current_timestamp", 0) or 0)
        if not math.isfinite(ts) or ts <= 0:
            ts = max((float(getattr(c, "current_timestamp", 0) or 0) for c in self.connectors.values()), default=0)
        return ts if math.isfinite(ts) and ts > 0 else time.time()

    # ---- the gate for connectors that cannot be wrapped
    # Python connectors are gated where orders enter them (their own buy/sell, see connector_gate.py); Cython
    # connectors (paper trade) are gated here, where script orders and executors' orders pass.
    def _connector_name_of(self, connector) -> str | None:
        return next((name for name, conn in self.connectors.items() if conn is connector), None)

    def _gated(self, side: Side, place, market_pair, amount, order_type, price, expiration_seconds, position_action):
        bridge = self.inventory_guard
        cname = self._connector_name_of(market_pair.market)
        if bridge is None or cname is None or bridge.gates_connector(cname):
            return place(market_pair, amount, order_type, price, expiration_seconds, position_action)
        return bridge.place(cname, side, market_pair.trading_pair, amount, order_type, price,
                            {"position_action": position_action},
                            lambda size: place(market_pair, size, order_type, price, expiration_seconds,
                                               position_action))

    def buy_with_specific_market(self, market_trading_pair_tuple, amount, order_type=OrderType.MARKET,
                                 price=s_decimal_nan, expiration_seconds=math.nan,
                                 position_action=PositionAction.OPEN):
        return self._gated("buy", super().buy_with_specific_market, market_trading_pair_tuple, amount, order_type,
                           price, expiration_seconds, position_action)

    def sell_with_specific_market(self, market_trading_pair_tuple, amount, order_type=OrderType.MARKET,
                                  price=s_decimal_nan, expiration_seconds=math.nan,
                                  position_action=PositionAction.OPEN):
        return self._gated("sell", super().sell_with_specific_market, market_trading_pair_tuple, amount, order_type,
                           price, expiration_seconds, position_action)

    # ---- lifecycle
    def tick(self, timestamp: float):
        if self.inventory_guard is not None:
            try:
                self.inventory_guard.on_tick(timestamp)
            except Exception:
                self.logger().exception("inventory-guard tick failed")
        super().tick(timestamp)

    def format_status(self) -> str:
        text = super().format_status()
        if self.inventory_guard is None:
            return text
        try:
            table = self.inventory_guard.format_status()
        except Exception as exc:
            table = f"  Inventory guard: status unavailable ({exc!r})"
        return f"{text}\n\n{table}"

    async def on_stop(self):
        try:
            await super().on_stop()
        finally:
            if self.executor_guard is not None:
                self.executor_guard.uninstall()
            if self.inventory_guard is not None:
                # keeps applying the cancels Hummingbot sends after stopping the strategy, then closes
                self.inventory_guard.stop()


class GuardedStrategyV2Base(InventoryGuardMixin, StrategyV2Base):
    """Base for guarded V2 scripts."""


class GuardedStrategyV2ConfigBase(StrategyV2ConfigBase):
    """Config base for guarded V2 scripts: adds the required ``inventory_guard:`` section."""
    inventory_guard: InventoryGuardSettings = Field(
        default=..., json_schema_extra={"prompt": "inventory_guard section (max_position required)",
                                        "prompt_on_new": False})


# ----------------------------------------------------------------------------- the shipped script
class InventoryGuardedV2Config(GuardedStrategyV2ConfigBase):
    """``scripts/inventory_guarded_v2.py``: runs the controllers listed in ``controllers_config`` (plus optional
    extra ``markets``) with every proposal and fill going through the guard."""
    script_file_name: str = Field(default="inventory_guarded_v2.py")
    markets: dict[str, list[str]] = Field(
        default={}, json_schema_extra={"prompt": "Extra markets {connector: [pairs]}: ", "prompt_on_new": False})

    def update_markets(self, markets: MarketDict) -> MarketDict:
        for connector_name, pairs in self.markets.items():
            for pair in pairs:
                markets = markets.add_or_update(connector_name, pair)
        return markets


class InventoryGuardedV2(GuardedStrategyV2Base):
    """Controllers-only guarded script (its own proposals are empty)."""

    def create_actions_proposal(self):
        return []

    def stop_actions_proposal(self):
        return []


__all__ = ["InventoryGuardMixin", "GuardedStrategyV2Base", "GuardedStrategyV2ConfigBase",
           "InventoryGuardedV2", "InventoryGuardedV2Config"]

