"""Guarded V2 script (GuardedStrategyV2Base) on MockPaperExchange: buy() gate, fail closed, journal restart, status."""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from support.hummingbot import PAPER, PAPER_PAIR, drive, make_paper

pytestmark = pytest.mark.hummingbot
D = Decimal
MKT = "HBOT"            # spot: one guard market per asset


def _classes():
    from hummingbot.core.data_type.common import OrderType

    from inventory_guard.hummingbot.script import GuardedStrategyV2Base, GuardedStrategyV2ConfigBase

    class BuyerScriptConfig(GuardedStrategyV2ConfigBase):
        script_file_name: str = "buyer_script.py"
        direct_buys: list[Decimal] = []
        direct_sells: list[Decimal] = []

        def update_markets(self, markets):
            return markets.add_or_update(PAPER, PAPER_PAIR)

    class BuyerScript(GuardedStrategyV2Base):
        def __init__(self, connectors, config):
            super().__init__(connectors, config)
            self.ids, self.sell_ids, self.ticks = [], [], 0
            self.failed = []
            self._done = False

        def did_fail_order(self, event):
            self.failed.append((event.order_id, event.error_type))

        def on_tick(self):
            super().on_tick()
            self.ticks += 1
            if not self._done:
                self._done = True
                for amt in self.config.direct_buys:
                    self.ids.append(self.buy(PAPER, PAPER_PAIR, amt, OrderType.MARKET))
                for amt in self.config.direct_sells:
                    self.sell_ids.append(self.sell(PAPER, PAPER_PAIR, amt, OrderType.MARKET))

        def create_actions_proposal(self):
            return []

        def stop_actions_proposal(self):
            return []

    return BuyerScript, BuyerScriptConfig


def _make(paper, tmp_path=None, **cfg):
    Script, Config = _classes()
    guard = {"max_position": "5", "size_increment": "1", "pending_fill_max_age_s": 30,
             "user_stream_silence_s": None,
             "journal_path": str(tmp_path / "ig.sqlite") if tmp_path else None}
    guard.update(cfg.pop("guard", {}))
    config = Config(controllers_config=[], inventory_guard=guard, **cfg)
    Script.init_markets(config)
    return Script({PAPER: paper}, config)


def _clock(paper, strat):
    from hummingbot.core.clock import Clock
    from hummingbot.core.clock_mode import ClockMode
    clock = Clock(ClockMode.BACKTEST, 1.0, 1000.0, 5000.0)
    clock.add_iterator(paper)
    clock.add_iterator(strat)
    return clock


def test_script_buys_resized_then_blocked_at_the_limit(hb_env, caplog):
    async def run():
        paper = make_paper()
        strat = _make(paper, direct_buys=[D(3), D(3), D(3)])
        with caplog.at_level(logging.WARNING):
            await drive(_clock(paper, strat), 10)
        assert all(strat.ids)                                            # 3 ok, 3 -> 2, then blocked:
        assert strat.failed == [(strat.ids[2], "InventoryGuardBlocked")]  # the blocked id got the failure event
        assert paper.get_balance("HBOT") == D(5)
        st = strat.inventory_guard.state(MKT)
        assert st.confirmed == D(5) and st.conservative_exposure == D(5) and st.open_buy_reservations == 0
        msgs = [r.getMessage() for r in caplog.records]
        assert any("resized BUY HBOT-USDT" in m and "from 3 to 2" in m for m in msgs)
        assert any("blocked BUY 3 HBOT-USDT" in m and "position_limit" in m for m in msgs)
        status = strat.format_status()
        assert "Inventory guard" in status and "conservative_exposure" in status and MKT in status
        await strat.on_stop()
    asyncio.run(run())


def test_script_sell_limited_to_available_inventory(hb_env):
    async def run():
        paper = make_paper(hbot="2")
        strat = _make(paper, direct_sells=[D(1), D(3)])
        await drive(_clock(paper, strat), 10)
        assert strat.sell_ids[0] and strat.sell_ids[1]                  # 1 ok, 3 -> resized to 1
        assert paper.get_balance("HBOT") == D(0)
        await strat.on_stop()
    asyncio.run(run())


def test_broken_guard_blocks_buys_and_strategy_keeps_ticking(hb_env, caplog):
    async def run():
        paper = make_paper()
        strat = _make(paper, direct_buys=[D(1)])
        bridge = strat.inventory_guard

        def broken(event):
            raise RuntimeError("guard internals broke")
        bridge.guard.apply = broken
        with caplog.at_level(logging.WARNING):
            await drive(_clock(paper, strat), 8)
        assert strat.failed == [(strat.ids[0], "InventoryGuardBlocked")] and paper.get_balance("HBOT") == D(0)
        assert strat.ticks >= 6                                          # kept ticking
        assert MKT in bridge.halted
        assert any(r.levelno >= logging.ERROR and "BLOCKED" in r.getMessage() for r in caplog.records)
        assert "guard_error" in " ".join(r.getMessage() for r in caplog.records)
        assert "halted: guard_error" in strat.format_status() or "ERROR" in strat.format_status()
        await strat.on_stop()
    asyncio.run(run())


def test_restart_restores_the_guard_from_its_journal(hb_env, tmp_path):
    async def run():
        paper = make_paper()
        strat = _make(paper, tmp_path, direct_buys=[D(3)])
        await drive(_clock(paper, strat), 10)
        assert paper.get_balance("HBOT") == D(3)
        before = strat.inventory_guard.state(MKT)
        fills_before = strat.inventory_guard.counters(MKT)
        await strat.on_stop()                                            # closes the journal

        paper2 = make_paper(hbot="3")
        strat2 = _make(paper2, tmp_path, direct_buys=[D(3)])            # restart: same journal
        after = strat2.inventory_guard.state(MKT)                 # before any tick / snapshot
        assert after.confirmed == before.confirmed == D(3)
        assert after.conservative_exposure == D(3)
        assert strat2.inventory_guard.counters(MKT) == fills_before
        d = strat2.inventory_guard.check(PAPER, PAPER_PAIR, "buy", D(3))
        assert d.allowed and d.size == D(2)
        await strat2.on_stop()
    asyncio.run(run())


def test_bad_guard_config_names_the_key(hb_env):
    import pydantic
    _, Config = _classes()
    with pytest.raises(pydantic.ValidationError, match="max_position"):
        Config(controllers_config=[], inventory_guard={"max_position": "-1"})
    with pytest.raises(pydantic.ValidationError, match="max_postion"):
        Config(controllers_config=[], inventory_guard={"max_position": "1", "max_postion": "2"})
    with pytest.raises(pydantic.ValidationError, match="inventory_guard"):
        Config(controllers_config=[])                                   # the section is required

    async def run():
        from inventory_guard.config import ConfigError
        with pytest.raises(ConfigError, match="inventory_guard.markets.ETH-USDT"):
            _make(make_paper(), guard={"markets": {"ETH-USDT": {"max_position": "1"}}})
    asyncio.run(run())
