"""A guarded pure-market-making controller (the shipped controller behind the ``controllers/market_making/
inventory_guarded_pmm.py`` shim). Same behaviour as Hummingbot's ``pmm_simple``: one ``PositionExecutor`` per spread
level, with the triple barrier from the config; every proposal is filtered by the guard attached to its connector.

Hummingbot picks the first matching class by name, so this module exposes exactly one config class and one
controller class (bases are imported as modules)."""
from __future__ import annotations

from decimal import Decimal

from hummingbot.strategy_v2.controllers import market_making_controller_base as mm
from hummingbot.strategy_v2.executors.position_executor import data_types as pe
from pydantic import Field

from . import controllers as _guard


class InventoryGuardedPMMConfig(mm.MarketMakingControllerConfigBase):
    controller_name: str = "inventory_guarded_pmm"
    candles_config: list = Field(default=[])


class InventoryGuardedPMMController(_guard.GuardedControllerMixin, mm.MarketMakingControllerBase):
    def __init__(self, config: InventoryGuardedPMMConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config = config

    def get_executor_config(self, level_id: str, price: Decimal, amount: Decimal):
        trade_type = self.get_trade_type_from_level_id(level_id)
        return pe.PositionExecutorConfig(
            timestamp=self.market_data_provider.time(),
            level_id=level_id,
            connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair,
            entry_price=price,
            amount=amount,
            triple_barrier_config=self.config.triple_barrier_config,
            leverage=self.config.leverage,
            side=trade_type,
        )
