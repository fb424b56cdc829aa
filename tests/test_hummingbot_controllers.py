"""Controllers/executors: proposals resized or dropped before an executor exists; shims load through Hummingbot's own
loader from YAML confs written by ``init_root``."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import yaml

from support.hummingbot import BIN, BIN_PAIR, drive, make_binance, make_paper, order_update, trade_update

pytestmark = pytest.mark.hummingbot
D = Decimal

TEST_CONTROLLER = '''
"""Test-only controller: proposes one LIMIT buy OrderExecutor per amount, once."""
from decimal import Decimal
from typing import List

from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.controllers import controller_base as cb
from hummingbot.strategy_v2.executors.order_executor import data_types as od
from hummingbot.strategy_v2.models import executor_actions as ea


class IgTestBuyerConfig(cb.ControllerConfigBase):
    controller_name: str = "ig_test_buyer"
    controller_type: str = "generic"
    connector_name: str = "binance"
    trading_pair: str = "BTC-USDT"
    order_amounts: List[Decimal] = []

    def update_markets(self, markets):
        return markets.add_or_update(self.connector_name, self.trading_pair)


class IgTestBuyer(cb.ControllerBase):
    proposed = False

    async def update_processed_data(self):
        pass

    def determine_executor_actions(self):
        if self.proposed:
            return []
        self.proposed = True
        return [ea.CreateExecutorAction(controller_id=self.config.id, executor_config=od.OrderExecutorConfig(
            timestamp=self.market_data_provider.time(), connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair, side=TradeType.BUY, amount=a, price=Decimal("100"),
            execution_strategy=od.ExecutionStrategy.LIMIT)) for a in self.config.order_amounts]
'''


def _load(root, script_conf: dict, name="inventory_guarded_v2"):
    """Exactly what TradingCore._initialize_v2_strategy does: import scripts.<name>, pick classes, init_markets."""
    from hummingbot.core.trading_core import TradingCore
    (root / "conf" / "scripts" / "conf_test.yml").write_text(yaml.safe_dump(script_conf))
    data = yaml.safe_load((root / "conf" / "scripts" / "conf_test.yml").read_text())
    fake_core = SimpleNamespace(_load_strategy_config=lambda: data)
    return TradingCore.load_v2_class(fake_core, name)


def _write_controller(root, conf_name, **conf):
    gen = root / "controllers" / "generic"
    gen.mkdir(exist_ok=True)
    (gen / "__init__.py").touch()
    (gen / "ig_test_buyer.py").write_text(TEST_CONTROLLER)
    (root / "conf" / "controllers" / conf_name).write_text(yaml.safe_dump(
        {"id": conf_name[:-4], "controller_name": "ig_test_buyer", "controller_type": "generic", **conf}))


def test_shim_loads_guarded_classes_through_hummingbots_loader(hb_env):
    from hummingbot.core.trading_core import TradingCore
    root = hb_env
    assert TradingCore.is_v2_strategy(SimpleNamespace(scripts_path=root / "scripts"), "inventory_guarded_v2")
    example = yaml.safe_load((root / "conf" / "scripts" / "conf_inventory_guarded_v2_1.yml").read_text())
    cls, cfg = _load(root, example)
    assert cls.__name__ == "InventoryGuardedV2" and type(cfg).__name__ == "InventoryGuardedV2Config"
    assert cls.__module__ == "inventory_guard.hummingbot.script"
    assert cfg.inventory_guard.max_position == D("0.05")
    assert dict(cls.markets) == {"binance_paper_trade": {"BTC-USDT"}}    # from the example controller conf
    (ctrl_cfg,) = cfg.load_controller_configs()
    assert type(ctrl_cfg).__name__ == "InventoryGuardedPMMConfig"
    assert ctrl_cfg.get_controller_class().__name__ == "InventoryGuardedPMMController"


def test_bad_guard_section_stops_loading_with_the_key(hb_env):
    import pydantic
    root = hb_env
    conf = {"script_file_name": "inventory_guarded_v2.py", "controllers_config": [],
            "inventory_guard": {"max_position": "1", "pending_fill_max_age_s": "-3"}}
    with pytest.raises(pydantic.ValidationError, match="pending_fill_max_age_s"):
        _load(root, conf)


def test_guarded_controller_without_a_guard_drops_proposals(hb_env):
    """The shipped controller under an unguarded script: no bridge on its connector -> fail closed."""
    from hummingbot.core.data_type.common import TradeType
    from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
    from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction

    from inventory_guard.hummingbot.controllers import GuardedControllerMixin

    class Base:
        def determine_executor_actions(self):
            return [CreateExecutorAction(controller_id="c", executor_config=OrderExecutorConfig(
                timestamp=1, connector_name=BIN, trading_pair=BIN_PAIR, side=TradeType.BUY, amount=D(1),
                price=D(100), execution_strategy=ExecutionStrategy.LIMIT)),
                StopExecutorAction(controller_id="c", executor_id="x")]

        def logger(self):
            import logging
            return logging.getLogger("t")

    class Ctrl(GuardedControllerMixin, Base):
        pass

    async def run():
        c = Ctrl()
        c.market_data_provider = SimpleNamespace(connectors={BIN: make_binance()})
        out = c.determine_executor_actions()
        assert [type(a).__name__ for a in out] == ["StopExecutorAction"]
    asyncio.run(run())


def test_controller_proposals_resized_and_dropped_no_executor_left_running(hb_env, tmp_path):
    from hummingbot.core.clock import Clock
    from hummingbot.core.clock_mode import ClockMode
    from hummingbot.core.data_type.in_flight_order import OrderState
    from hummingbot.strategy_v2.models.base import RunnableStatus
    root = hb_env
    _write_controller(root, "ig_buyer_1.yml", order_amounts=["0.6", "0.6", "0.6"])

    async def run():
        ex = make_binance(btc_free="0.5")
        cls, cfg = _load(root, {"script_file_name": "inventory_guarded_v2.py",
                                "controllers_config": ["ig_buyer_1.yml"],
                                "inventory_guard": {"max_position": "1.5", "size_increment": "0.0001",
                                                    "journal_path": str(tmp_path / "j.sqlite")}})
        assert dict(cls.markets) == {BIN: {BIN_PAIR}}
        strat = cls({BIN: ex}, cfg)
        bridge = strat.inventory_guard
        strat.executor_orchestrator.executors_update_interval = 0.05
        ctrl = strat.controllers["ig_buyer_1"]
        ctrl.update_interval = 0.05
        await ex._update_all_balances()                       # first REST snapshot: 0.5 BTC
        assert bridge.state("BTC").confirmed == D("0.5")
        clock = Clock(ClockMode.BACKTEST, 1.0, 1000.0, 5000.0)
        clock.add_iterator(ex)
        clock.add_iterator(strat)
        await drive(clock, 6, real_sleep=0.1)

        guard = strat.executor_guard
        execs = strat.executor_orchestrator.active_executors["ig_buyer_1"]
        assert sorted(e.config.amount for e in execs) == [D("0.4"), D("0.6")]   # 0.6 ok, 0.6 -> 0.4, dropped
        assert len(guard.dropped) == 1 and len(guard.resized) == 1
        placed = sorted(p[2] for p in ex.placed)
        assert placed == [D("0.4"), D("0.6")]                  # executors' own orders went through
        st = bridge.state("BTC")
        assert st.open_buy_reservations == D("1.0") and st.conservative_exposure == D("1.5")
        assert not bridge.check(BIN, BIN_PAIR, "buy", D("0.1")).allowed

        for i, e in enumerate(execs):                         # the venue fills both orders
            oid = e._order.order_id
            ex._order_tracker.process_trade_update(trade_update(ex, oid, str(e.config.amount), trade_id=f"T{i}"))
            ex._order_tracker.process_order_update(order_update(ex, oid, OrderState.FILLED))
        await drive(clock, 4, real_sleep=0.1)
        assert all(e.status == RunnableStatus.TERMINATED for e in execs), [(e.status, e.close_type) for e in execs]
        st = bridge.state("BTC")
        assert st.open_buy_reservations == 0 and st.pending_fill_buys + st.held_buys == D("1.0")
        assert st.conservative_exposure == D("1.5") and not guard.live
        strat.max_executors_close_attempts = 1
        t0 = time.time()
        await strat.on_stop()
        assert time.time() - t0 < 10
    asyncio.run(run())


def test_shipped_script_and_pmm_controller_run_guarded_on_a_paper_exchange(hb_env, caplog):
    """The installed shim script + shim controller, loaded from YAML, on MockPaperExchange: buy levels are resized or
    dropped at the limit, sell levels dropped without inventory; the strategy keeps ticking."""
    import logging

    from hummingbot.core.clock import Clock
    from hummingbot.core.clock_mode import ClockMode
    from hummingbot.core.data_type.common import TradeType
    root = hb_env
    (root / "conf" / "controllers" / "pmm_paper.yml").write_text(yaml.safe_dump({
        "id": "pmm_paper", "controller_name": "inventory_guarded_pmm", "controller_type": "market_making",
        "connector_name": "mock_paper_exchange", "trading_pair": "HBOT-USDT", "total_amount_quote": 1000,
        "buy_spreads": [0.01, 0.02], "sell_spreads": [0.01, 0.02], "buy_amounts_pct": [1, 1],
        "sell_amounts_pct": [1, 1], "executor_refresh_time": 600}))

    async def run():
        paper = make_paper()
        cls, cfg = _load(root, {"script_file_name": "inventory_guarded_v2.py", "controllers_config": ["pmm_paper.yml"],
                                "inventory_guard": {"max_position": "7", "size_increment": "0.0001",
                                                    "journal_path": None, "user_stream_silence_s": None}})
        strat = cls({"mock_paper_exchange": paper}, cfg)
        ctrl = strat.controllers["pmm_paper"]
        assert type(ctrl).__name__ == "InventoryGuardedPMMController"
        ctrl.update_interval = 0.05
        strat.executor_orchestrator.executors_update_interval = 0.05
        clock = Clock(ClockMode.BACKTEST, 1.0, 1000.0, 5000.0)
        clock.add_iterator(paper)
        clock.add_iterator(strat)
        with caplog.at_level(logging.WARNING):
            await drive(clock, 5, real_sleep=0.1)
        execs = strat.executor_orchestrator.active_executors.get("pmm_paper", [])
        buys = [e.config.amount for e in execs if e.config.side == TradeType.BUY]
        sells = [e for e in execs if e.config.side == TradeType.SELL]
        assert buys and sum(buys) <= D(7) and not sells             # 2 x ~2.5 quote/level... capped at 7
        st = strat.inventory_guard.state("HBOT")
        assert st.conservative_exposure <= D(7)
        assert "Inventory guard" in strat.format_status()
        strat.max_executors_close_attempts = 1
        await strat.on_stop()
    asyncio.run(run())
