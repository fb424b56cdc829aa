"""A bounded randomized run on the simulated venue (``inventory_guard.hummingbot.sim``, used as is): a guarded
strategy starts executors of every kind (position, DCA, TWAP, grid, order) and places direct script and direct
connector orders at random; the venue's true exposure (settled + matched-unsettled buys + live buy orders) must
never pass the limit, whatever the venue does (settlement delay, phantom fills, duplicates, disconnects)."""
from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from support.guard import counter
from support.hummingbot import guarded_strategy

pytestmark = pytest.mark.hummingbot
D = Decimal
TP = "YES-USDC"
LIMIT = D("100")
KINDS = ("position", "dca", "twap", "grid", "order", "script_buy", "connector_buy", "script_sell", "connector_sell",
         "cancel")


def _executor_config(kind, rng, now, mid, tick):
    from hummingbot.core.data_type.common import OrderType, TradeType
    from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig
    from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
    from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
    from hummingbot.strategy_v2.executors.position_executor.data_types import (
        PositionExecutorConfig,
        TripleBarrierConfig,
    )
    from hummingbot.strategy_v2.executors.twap_executor.data_types import TWAPExecutorConfig

    from inventory_guard.hummingbot.sim.connector import CONNECTOR_NAME as C
    size = D(rng.randint(5, 60))
    below = max(tick, mid - tick * rng.randint(0, 3))
    if kind == "position":
        return PositionExecutorConfig(timestamp=now, connector_name=C, trading_pair=TP, side=TradeType.BUY,
                                      amount=size, entry_price=below, triple_barrier_config=TripleBarrierConfig(
                                          take_profit=D("0.03"), stop_loss=D("0.05"), time_limit=rng.randint(20, 90),
                                          open_order_type=OrderType.LIMIT))
    if kind == "dca":
        prices = [below - tick * i for i in range(3)]
        return DCAExecutorConfig(timestamp=now, connector_name=C, trading_pair=TP, side=TradeType.BUY,
                                 amounts_quote=[size * p / 3 for p in prices], prices=prices, time_limit=60)
    if kind == "twap":
        return TWAPExecutorConfig(timestamp=now, connector_name=C, trading_pair=TP, side=TradeType.BUY,
                                  total_amount_quote=size * mid, total_duration=rng.choice([10, 20, 30]),
                                  order_interval=5)
    if kind == "grid":
        return GridExecutorConfig(timestamp=now, connector_name=C, trading_pair=TP, side=TradeType.BUY,
                                  start_price=mid - 6 * tick, end_price=mid + 2 * tick, limit_price=mid - 10 * tick,
                                  total_amount_quote=size * mid, min_order_amount_quote=D("1"),
                                  min_spread_between_orders=D("0.01"), max_open_orders=3, leverage=1,
                                  triple_barrier_config=TripleBarrierConfig(take_profit=D("0.02"),
                                                                            open_order_type=OrderType.LIMIT_MAKER))
    return OrderExecutorConfig(timestamp=now, connector_name=C, trading_pair=TP, side=TradeType.BUY, amount=size,
                               price=below, execution_strategy=ExecutionStrategy.LIMIT)


def _register_connector_settings(monkeypatch, name):
    """Executors look their connector's fee schema up in AllConnectorSettings (the simulated venue is not listed)."""
    from hummingbot.client.settings import AllConnectorSettings
    from hummingbot.core.data_type.trade_fee import TradeFeeSchema
    settings = AllConnectorSettings.get_connector_settings()
    monkeypatch.setitem(settings, name, settings["binance"]._replace(
        name=name, trade_fee_schema=TradeFeeSchema(maker_percent_fee_decimal=D(0), taker_percent_fee_decimal=D(0))))


@pytest.mark.parametrize("seed", [3, 11])
def test_random_executors_and_direct_orders_never_pass_the_limit_at_the_venue(hb_env, monkeypatch, seed):
    from hummingbot.core.data_type.common import OrderType
    from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction

    from inventory_guard.hummingbot.sim.connector import CONNECTOR_NAME, SimClobExchange
    from inventory_guard.hummingbot.sim.driver import SimDriver
    from inventory_guard.hummingbot.sim.exchange import SimExchange, VenueConfig

    _register_connector_settings(monkeypatch, CONNECTOR_NAME)

    async def run():
        rng = random.Random(seed)
        venue = SimExchange(VenueConfig(seed=seed, trading_pair=TP, outside_sell_rate_per_s=0.6,
                                        outside_buy_rate_per_s=0.3))
        conn = SimClobExchange(venue, [TP])
        strat = guarded_strategy({CONNECTOR_NAME: conn}, {"max_position": str(LIMIT), "size_increment": "1",
                                                          "min_order_size": "1", "pending_fill_max_age_s": 30},
                                 {CONNECTOR_NAME: [TP]})
        strat.executor_orchestrator.executors_update_interval = 0.0
        bridge = strat.inventory_guard
        assert bridge.gates_connector(CONNECTOR_NAME)
        driver = SimDriver(venue, conn, iterators=[strat], poll_interval_s=5.0)
        await driver.start()
        seen = {k: 0 for k in KINDS}
        worst = D(0)
        for step in range(600):
            await driver.step()
            true = venue.true_exposure()
            worst = max(worst, true)
            assert true <= LIMIT, (step, true, bridge.format_status())
            if rng.random() > 0.3:
                continue
            kind = rng.choice(KINDS)
            seen[kind] += 1
            mid = conn.get_mid_price(TP)
            tick = conn.trading_rules[TP].min_price_increment
            bid = conn.quantize_order_price(TP, mid - tick)
            amount = D(rng.randint(5, 60))
            if kind == "script_buy":
                strat.buy(CONNECTOR_NAME, TP, amount, OrderType.LIMIT, bid)
            elif kind == "connector_buy":
                conn.buy(TP, amount, OrderType.LIMIT, bid)
            elif kind == "script_sell":                       # crosses the outside bid: sells at once
                strat.sell(CONNECTOR_NAME, TP, amount, OrderType.LIMIT, conn.quantize_order_price(TP, mid - 3 * tick))
            elif kind == "connector_sell":
                conn.sell(TP, amount, OrderType.LIMIT, conn.quantize_order_price(TP, mid + tick))
            elif kind == "cancel":
                open_orders = [o for o in conn.in_flight_orders.values() if not o.is_done]
                if open_orders:
                    o = rng.choice(open_orders)
                    conn.cancel(TP, o.client_order_id)
            else:
                strat.executor_orchestrator.execute_action(CreateExecutorAction(
                    controller_id="random", executor_config=_executor_config(kind, rng, driver.now, mid, tick)))
        assert all(seen.values()), seen
        blocked = counter(bridge.counters(bridge.market_id(CONNECTOR_NAME, TP)), "orders_blocked")
        assert worst > LIMIT / 2 and blocked > 0, (worst, blocked)      # the run did press against the limit
        strat.max_executors_close_attempts = 1
        await strat.on_stop()
        bridge.close()
    asyncio.run(run())
