"""The demo's market maker: a Hummingbot V2 script whose orders go through the guard."""

from __future__ import annotations

from decimal import Decimal

from hummingbot.core.data_type.common import OrderType
from hummingbot.strategy.strategy_v2_base import StrategyV2ConfigBase
from pydantic import Field

from ..script import GuardedStrategyV2Base
from ..sim.connector import CONNECTOR_NAME
from .settings import TRADING_PAIR


class DemoMarketMakerConfig(StrategyV2ConfigBase):
    """The session passes the quoting values (``SessionSettings``)."""
    script_file_name: str = Field(default="inventory_guard_demo.py")
    controllers_config: list[str] = Field(default=[])
    connector_name: str = Field(default=CONNECTOR_NAME)
    trading_pair: str = Field(default=TRADING_PAIR)
    order_amount: Decimal
    spread_ticks: int
    order_refresh_s: float


class DemoMarketMaker(GuardedStrategyV2Base):
    """Quotes one bid and one ask ``spread_ticks`` around the mid, replaced every ``order_refresh_s``.
    Buys and sells go through the guard's gate (resized or blocked); sells are also capped by the venue's
    available (settled) balance, since the venue rejects sells of unsettled shares."""

    markets = {CONNECTOR_NAME: {TRADING_PAIR}}

    def __init__(self, connectors, config, inventory_guard=None):
        super().__init__(connectors, config, inventory_guard=inventory_guard)
        self._next_refresh = 0.0

    def start(self, clock, timestamp: float) -> None:
        # StrategyV2Base.start asks HummingbotApplication.main_application() for its MQTT bridge: no client here.
        self._last_timestamp = timestamp
        self.apply_initial_setting()
        for controller in self.controllers.values():
            controller.start()

    def create_actions_proposal(self):
        return []

    def stop_actions_proposal(self):
        return []

    def on_tick(self):
        cfg = self.config
        now = self.current_timestamp
        if now < self._next_refresh:
            return
        self._next_refresh = now + cfg.order_refresh_s
        conn = self.connectors[cfg.connector_name]
        for order in list(conn.in_flight_orders.values()):
            if not order.is_done:
                self.cancel(cfg.connector_name, order.trading_pair, order.client_order_id)
        mid = conn.get_mid_price(cfg.trading_pair)
        tick = conn.trading_rules[cfg.trading_pair].min_price_increment
        bid = conn.quantize_order_price(cfg.trading_pair, mid - cfg.spread_ticks * tick)
        ask = conn.quantize_order_price(cfg.trading_pair, mid + cfg.spread_ticks * tick)
        if ask <= bid:
            ask = bid + tick
        self.buy(cfg.connector_name, cfg.trading_pair, cfg.order_amount, OrderType.LIMIT, bid)
        base = cfg.trading_pair.split("-")[0]
        sell_amount = min(cfg.order_amount, conn.quantize_order_amount(cfg.trading_pair,
                                                                       conn.get_available_balance(base)))
        if sell_amount > 0:
            self.sell(cfg.connector_name, cfg.trading_pair, sell_amount, OrderType.LIMIT, ask)
