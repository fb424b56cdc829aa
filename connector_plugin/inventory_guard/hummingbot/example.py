"""The shipped example that trades (``scripts/inventory_guarded_example.py`` shim, written by
``inventory-guard hummingbot init``, started with ``start --v2 conf_inventory_guarded_example_1.yml``).

Every ``order_interval_s`` it places one MARKET order on ``connector_name`` / ``trading_pair``: ``buys_per_sell``
buys of ``buy_amount``, then one sell of ``sell_amount``, round and round. Every order goes through the guard.
With Hummingbot's default paper balance (1 BTC, 100000 USDT on ``binance_paper_trade``) and the shipped limit
(``max_position: 1.25``) the position climbs from 1 BTC towards the limit: a buy that would pass it is resized to
what fits, a buy at the limit is blocked, the sell makes room, and the cycle repeats every
``(buys_per_sell + 1) * order_interval_s`` seconds (40 s with the shipped conf); every resize and block is a
line in Hummingbot's log.

It uses direct script orders because at Hummingbot 20260922 executors that read ``trading_rules`` (position, DCA,
TWAP, grid) cannot start on ``*_paper_trade`` connectors (``PaperTradeExchange`` has no ``trading_rules``, an
upstream limitation). Controllers listed in ``controllers_config`` run as in any guarded V2 script.

Hummingbot takes the first StrategyV2Base subclass and the first config class it finds in the shim, so the shim
imports exactly these two classes.
"""
from __future__ import annotations

from decimal import Decimal

from hummingbot.core.data_type.common import MarketDict, OrderType
from pydantic import Field

from .script import GuardedStrategyV2Base, GuardedStrategyV2ConfigBase


class InventoryGuardedExampleConfig(GuardedStrategyV2ConfigBase):
    script_file_name: str = Field(default="inventory_guarded_example.py")
    connector_name: str = Field(default="binance_paper_trade")
    trading_pair: str = Field(default="BTC-USDT")
    buy_amount: Decimal = Field(default=Decimal("0.1"), gt=0)
    sell_amount: Decimal = Field(default=Decimal("0.15"), gt=0)
    buys_per_sell: int = Field(default=3, ge=0)
    order_interval_s: float = Field(default=10.0, gt=0)

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class InventoryGuardedExample(GuardedStrategyV2Base):
    """Direct MARKET orders in a buy/buy/.../sell cycle, each one checked by the guard (see the module docstring)."""

    def __init__(self, connectors, config: InventoryGuardedExampleConfig, *args, **kwargs):
        super().__init__(connectors, config, *args, **kwargs)
        self.config = config
        self._next_order_at: float | None = None
        self._step = 0
        self.sent: dict[str, int] = {"buy": 0, "sell": 0}        # orders asked of the guarded buy()/sell()
        self.placed: dict[str, int] = {"buy": 0, "sell": 0}      # ... that returned an order id

    def on_tick(self):
        super().on_tick()
        cfg = self.config
        now = self.current_timestamp
        connector = self.connectors.get(cfg.connector_name)
        if connector is None or not connector.ready:
            return
        if self._next_order_at is None:
            self._next_order_at = now + cfg.order_interval_s
        if now < self._next_order_at:
            return
        self._next_order_at = now + cfg.order_interval_s
        selling = self._step % (cfg.buys_per_sell + 1) == cfg.buys_per_sell
        self._step += 1
        side, amount = ("sell", cfg.sell_amount) if selling else ("buy", cfg.buy_amount)
        place = self.sell if selling else self.buy
        self.sent[side] += 1
        order_id = place(cfg.connector_name, cfg.trading_pair, amount, OrderType.MARKET)
        if order_id is not None:
            self.placed[side] += 1
            self.logger().info(f"example: {side.upper()} {amount} {cfg.trading_pair} sent ({order_id}); "
                               f"{cfg.connector_name} balance {connector.get_balance(cfg.trading_pair.split('-')[0])}")

    def create_actions_proposal(self):
        return []

    def stop_actions_proposal(self):
        return []

    def format_status(self) -> str:
        cfg = self.config
        head = (f"  Example: MARKET orders every {cfg.order_interval_s:g} s on {cfg.connector_name} "
                f"{cfg.trading_pair}: "
                f"{cfg.buys_per_sell} x buy {cfg.buy_amount}, 1 x sell {cfg.sell_amount}; "
                f"sent {self.sent['buy']} buys / {self.sent['sell']} sells, "
                f"placed {self.placed['buy']} / {self.placed['sell']}")
        return f"{head}\n{super().format_status()}"


__all__ = ["InventoryGuardedExample", "InventoryGuardedExampleConfig"]
