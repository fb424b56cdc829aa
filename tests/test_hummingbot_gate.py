"""The connector gate on real Hummingbot objects (offline): every order that enters a guarded connector passes it,
whoever placed it; positions per asset on spot; perpetual HEDGE / ONEWAY; restart; cancels after on_stop; balance
requests for fills waiting for a snapshot. Each test is one finding of issue 10."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from support.hummingbot import (
    BIN,
    BIN_PAIR,
    PERP,
    FakeClock,
    VenueFills,
    drive,
    failures,
    guarded_strategy,
    limit_buy,
    make_binance,
    make_binance_perp,
    order_update,
    set_account,
    set_mid,
    set_position,
    trade_update,
)

pytestmark = pytest.mark.hummingbot
D = Decimal
BLOCKED = "InventoryGuardBlocked"


def _bridge(conns, clock, cfg, **kw):
    from inventory_guard.hummingbot import GuardBridge
    conns = conns if isinstance(conns, dict) else {BIN: conns}
    markets = kw.pop("markets", None) or {c: list(getattr(x, "_trading_pairs", None) or [BIN_PAIR])
                                          for c, x in conns.items()}
    return GuardBridge({"size_increment": "0.0001", **cfg}, conns, markets=markets, clock=clock, **kw).attach()


async def _started(cfg):
    """An offline binance without BTC, a clock at 1000 and ``_bridge`` on them with ``cfg``, after the connector's
    first balance poll: (connector, clock, bridge)."""
    ex, clock = make_binance(btc_free="0"), FakeClock(1000)
    bridge = _bridge(ex, clock, cfg)
    await ex._update_all_balances()
    return ex, clock, bridge


def _clock(*iterators):
    from hummingbot.core.clock import Clock
    from hummingbot.core.clock_mode import ClockMode
    clock = Clock(ClockMode.BACKTEST, 1.0, 1000.0, 5000.0)
    for it in iterators:
        clock.add_iterator(it)
    return clock


async def _twap_buy(max_position: str, total_duration: int):
    """A guarded script on an offline binance (no BTC), its clock run 1 s, then a TWAP buy executor of 400 USDT in
    10 s slices created through the orchestrator: (connector, strategy, clock)."""
    from hummingbot.core.data_type.common import TradeType
    from hummingbot.strategy_v2.executors.twap_executor.data_types import TWAPExecutorConfig
    from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction
    ex = make_binance(btc_free="0")
    strat = guarded_strategy({BIN: ex}, {"max_position": max_position, "size_increment": "0.0001"}, {BIN: [BIN_PAIR]})
    strat.executor_orchestrator.executors_update_interval = 0.02
    await ex._update_all_balances()
    clock = _clock(ex, strat)
    await drive(clock, 1, real_sleep=0.02)
    strat.executor_orchestrator.execute_action(CreateExecutorAction(controller_id="main", executor_config=(
        TWAPExecutorConfig(timestamp=clock.current_timestamp, connector_name=BIN, trading_pair=BIN_PAIR,
                           side=TradeType.BUY, total_amount_quote=D("400"), total_duration=total_duration,
                           order_interval=10))))
    return ex, strat, clock


# ------------------------------------------------------------------------------------------------ every path
def test_direct_connector_calls_are_gated_and_a_blocked_id_gets_the_failure_event():
    from hummingbot.core.data_type.common import OrderType

    async def run():
        ex, clock, bridge = await _started({"max_position": "2"})
        failed, keep = failures(ex)
        ids = [ex.buy(BIN_PAIR, D("1.5"), OrderType.LIMIT, D("100")) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert [p[2] for p in ex.placed] == [D("1.5"), D("0.5")]       # whole, resized, blocked
        assert [(e.order_id, e.error_type) for e in failed] == [(ids[2], BLOCKED)]
        assert ids[2] not in ex.in_flight_orders                      # Hummingbot's failed-order path
        assert bridge.state(bridge.market_id(BIN, BIN_PAIR)).open_buy_reservations == D("2")
        del keep
        bridge.close()
    asyncio.run(run())


def test_buy_with_specific_market_is_gated(hb_env):
    from hummingbot.core.data_type.common import OrderType
    from hummingbot.strategy.market_trading_pair_tuple import MarketTradingPairTuple

    async def run():
        ex = make_binance(btc_free="0")
        strat = guarded_strategy({BIN: ex}, {"max_position": "2", "size_increment": "0.0001"}, {BIN: [BIN_PAIR]})
        await ex._update_all_balances()
        await drive(_clock(ex, strat), 1)                 # the strategy's clock (its order tracker needs one)
        pair = MarketTradingPairTuple(ex, BIN_PAIR, "BTC", "USDT")
        strat.buy_with_specific_market(pair, D("3"), OrderType.LIMIT, D("100"))
        strat.sell_with_specific_market(pair, D("1"), OrderType.LIMIT, D("101"))    # nothing to sell
        await asyncio.sleep(0.05)
        assert [(p[2], p[3].name) for p in ex.placed] == [(D("2"), "BUY")]
        strat.inventory_guard.close()
    asyncio.run(run())


def test_twap_slices_after_the_price_halves_stay_within_the_limit(hb_env):
    """TWAP approved at mid 100 for 4 BTC (400 USDT) against a limit of 4.5; the price then halves, so its slices
    ask for twice the base: the gate holds the venue's position at 4.5."""
    async def run():
        ex, strat, clock = await _twap_buy(max_position="4.5", total_duration=30)
        bridge = strat.inventory_guard
        m = bridge.market_id(BIN, BIN_PAIR)                              # "BTC": spot markets are per asset
        assert bridge.state(m).open_buy_reservations == D("4")            # approved at mid 100
        set_mid(ex, BIN_PAIR, 50)
        venue = VenueFills(ex)
        worst = D(0)
        for _ in range(45):
            await drive(clock, 1, real_sleep=0.03)
            venue.pump()
            worst = max(worst, venue.btc)
        assert D("4") <= worst <= D("4.5"), ex.placed
        assert bridge.state(m).conservative_exposure <= D("4.5")
        assert sum(p[2] for p in ex.placed) <= D("4.5")
        strat.max_executors_close_attempts = 1
        await strat.on_stop()
    asyncio.run(run())


def test_a_halted_market_blocks_running_executors_buys(hb_env):
    async def run():
        ex, strat, clock = await _twap_buy(max_position="10", total_duration=20)
        venue = VenueFills(ex)
        await drive(clock, 2, real_sleep=0.03)
        venue.pump()
        first = len(ex.placed)
        assert first == 1
        bridge = strat.inventory_guard
        bridge._halt(bridge.market_id(BIN, BIN_PAIR), "testing", RuntimeError("boom"))     # "buys BLOCKED"
        for _ in range(25):
            await drive(clock, 1, real_sleep=0.02)
            venue.pump()
        assert len(ex.placed) == first                                 # the running executor bought nothing more
        strat.max_executors_close_attempts = 1
        await strat.on_stop()
    asyncio.run(run())


def test_xemm_and_arbitrage_proposals_are_vetted_leg_by_leg():
    from hummingbot.strategy_v2.executors.arbitrage_executor.data_types import ArbitrageExecutorConfig
    from hummingbot.strategy_v2.executors.data_types import ConnectorPair
    from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction

    from inventory_guard.hummingbot.controllers import gate_create_action

    async def run():
        a, b = make_binance(btc_free="0"), make_binance(btc_free="0")
        bridge = _bridge({BIN: a, "kucoin": b}, FakeClock(1000), {"max_position": "1"})
        await a._update_all_balances()
        await b._update_all_balances()

        def action():
            return CreateExecutorAction(controller_id="arb", executor_config=ArbitrageExecutorConfig(
                timestamp=1000, buying_market=ConnectorPair(connector_name=BIN, trading_pair=BIN_PAIR),
                selling_market=ConnectorPair(connector_name="kucoin", trading_pair=BIN_PAIR),
                order_amount=D("0.5"), min_profitability=D("0.001")))
        assert gate_create_action(bridge, action()) is None           # nothing to sell on kucoin
        set_account(b, "0.7")
        await b._update_all_balances()
        assert gate_create_action(bridge, action()) is not None      # both legs fit
        bridge.close()
    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ positions per asset
def test_two_pairs_of_one_asset_share_one_market():
    from hummingbot.core.data_type.common import OrderType

    async def run():
        ex, clock = make_binance(btc_free="0", pairs=("BTC-USDT", "BTC-USDC")), FakeClock(1000)
        bridge = _bridge(ex, clock, {"max_position": "0.05"}, markets={BIN: ["BTC-USDT", "BTC-USDC"]})
        assert bridge.markets == ["BTC"]
        await ex._update_all_balances()
        ex.buy("BTC-USDT", D("0.04"), OrderType.LIMIT, D("100"))
        ex.buy("BTC-USDC", D("0.04"), OrderType.LIMIT, D("100"))
        await asyncio.sleep(0.05)
        assert [(p[1], p[2]) for p in ex.placed] == [("BTC-USDT", D("0.04")), ("BTC-USDC", D("0.01"))]
        for oid, *_ in ex.placed:
            ex._order_tracker.process_order_update(order_update(ex, oid, __import__(
                "hummingbot.core.data_type.in_flight_order", fromlist=["OrderState"]).OrderState.CANCELED))
        set_account(ex, "0.08")
        await ex._update_all_balances()
        del ex.placed[:]
        ex.sell("BTC-USDT", D("0.08"), OrderType.LIMIT, D("101"))
        ex.sell("BTC-USDC", D("0.08"), OrderType.LIMIT, D("101"))     # the same 0.08 cannot be sold twice
        await asyncio.sleep(0.05)
        assert [(p[1], p[2]) for p in ex.placed] == [("BTC-USDT", D("0.08"))]
        st = bridge.state("BTC")
        assert st.confirmed == D("0.08") and st.open_sell_reservations == D("0.08")
        bridge.close()
    asyncio.run(run())


def test_two_pairs_of_one_asset_with_different_limits_is_a_config_error():
    from inventory_guard.config import ConfigError
    from inventory_guard.hummingbot import GuardBridge, InventoryGuardSettings

    async def run():
        ex = make_binance(pairs=("BTC-USDT", "BTC-USDC"))
        settings = InventoryGuardSettings(max_position="1", journal_path=None, markets={
            "BTC-USDT": {"max_position": "0.05"}, "BTC-USDC": {"max_position": "0.1"}})
        with pytest.raises(ConfigError, match=r"markets\.BTC-USDC\.max_position.*markets\.BTC-USDT\.max_position"
                                              r"|markets\.BTC-USDT\.max_position.*markets\.BTC-USDC\.max_position"):
            GuardBridge(settings, {BIN: ex}, markets={BIN: ["BTC-USDT", "BTC-USDC"]})
        same = InventoryGuardSettings(max_position="1", journal_path=None, markets={
            "BTC-USDT": {"max_position": "0.05"}, "BTC": {"size_increment": "0.001"}})
        bridge = GuardBridge(same, {BIN: ex}, markets={BIN: ["BTC-USDT", "BTC-USDC"]})
        m = bridge.config.market("BTC")
        assert m.max_position == D("0.05") and m.size_increment == D("0.001") and m.settlement == "instant"
    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ perpetuals
def test_hedge_mode_long_and_short_are_separate_exposures():
    from hummingbot.core.data_type.common import OrderType, PositionAction

    async def run():
        ex = make_binance_perp(hedge=True, positions=[(BIN_PAIR, "LONG", "1"), (BIN_PAIR, "SHORT", "1")])
        bridge = _bridge({PERP: ex}, FakeClock(1000), {"max_position": "1", "size_increment": "0.001"})
        assert bridge.markets == ["BTC-USDT:long", "BTC-USDT:short"]
        assert bridge.state("BTC-USDT:long").confirmed == 1 and bridge.state("BTC-USDT:short").confirmed == 1
        failed, keep = failures(ex)
        ex.buy(BIN_PAIR, D("1"), OrderType.LIMIT, D("100"), position_action=PositionAction.OPEN)   # long full
        ex.sell(BIN_PAIR, D("1"), OrderType.LIMIT, D("100"), position_action=PositionAction.OPEN)  # short full
        ex.sell(BIN_PAIR, D("1"), OrderType.LIMIT, D("100"), position_action=PositionAction.CLOSE)  # closes long
        ex.buy(BIN_PAIR, D("0.5"), OrderType.LIMIT, D("100"), position_action=PositionAction.CLOSE)  # closes short
        await asyncio.sleep(0.05)
        assert [(p[3].name, p[2], p[5]) for p in ex.placed] == [
            ("SELL", D("1"), PositionAction.CLOSE), ("BUY", D("0.5"), PositionAction.CLOSE)]
        assert len(failed) == 2 and {e.error_type for e in failed} == {BLOCKED}
        assert bridge.state("BTC-USDT:long").open_sell_reservations == 1
        assert bridge.state("BTC-USDT:short").open_sell_reservations == D("0.5")
        del keep
        bridge.close()
    asyncio.run(run())


def test_oneway_short_is_normal_and_reduce_only_orders_pass_while_halted():
    from hummingbot.core.data_type.common import OrderType, PositionAction

    async def run():
        ex = make_binance_perp(positions=[(BIN_PAIR, "SHORT", "1")])
        bridge = _bridge({PERP: ex}, FakeClock(1000), {"max_position": "1", "size_increment": "0.001"})
        assert bridge.markets == [BIN_PAIR]
        assert bridge.state(BIN_PAIR).confirmed == -1 and not bridge.halted          # a short is normal
        assert bridge.config.market(BIN_PAIR).allow_negative_position
        assert not bridge.check(PERP, BIN_PAIR, "sell", D("0.5")).allowed            # already at -max_position
        bridge._halt(BIN_PAIR, "testing", RuntimeError("boom"))
        op = PositionAction.OPEN
        ex.buy(BIN_PAIR, D("0.4"), OrderType.LIMIT, D("100"), position_action=op)     # reduces the short
        ex.buy(BIN_PAIR, D("2"), OrderType.LIMIT, D("100"), position_action=op)       # only 0.6 reduces
        ex.sell(BIN_PAIR, D("0.1"), OrderType.LIMIT, D("100"), position_action=op)    # adds exposure: blocked
        ex.buy(BIN_PAIR, D("1"), OrderType.LIMIT, D("100"), position_action=PositionAction.CLOSE)   # reduce-only
        await asyncio.sleep(0.05)
        assert [(p[3].name, p[2]) for p in ex.placed] == [("BUY", D("0.4")), ("BUY", D("0.6")), ("BUY", D("1"))]
        bridge.close()
    asyncio.run(run())


def test_perpetual_websocket_position_updates_are_snapshots():
    async def run():
        ex, clock = make_binance_perp(positions=[(BIN_PAIR, "LONG", "0.5")]), FakeClock(1000)
        bridge = _bridge({PERP: ex}, clock, {"max_position": "1", "size_increment": "0.001"})
        assert bridge.state(BIN_PAIR).confirmed == D("0.5")
        clock.t = 1003
        set_position(ex, BIN_PAIR, "LONG", "0.8")            # what the user-stream listener does on ACCOUNT_UPDATE
        bridge.on_tick()
        st = bridge.state(BIN_PAIR)
        assert st.confirmed == D("0.8") and st.confirmed_at == D("1003")
        bridge.close()
    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ snapshots in time
def test_a_fill_is_confirmed_before_it_would_age_out_waiting_for_the_120s_poll(caplog):
    async def run():
        ex, clock, bridge = await _started({"max_position": "1", "pending_fill_max_age_s": 30})
        oid = await limit_buy(ex, "0.8")
        clock.t = 1001
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.8", trade_id="T1"))
        set_account(ex, "0.8")                  # the venue's balance has it; Hummingbot polls REST only every 120 s
        for t in range(1002, 1045):
            clock.t = t
            bridge.on_tick()
            await asyncio.sleep(0.01)
        m = bridge.market_id(BIN, BIN_PAIR)
        st = bridge.state(m)
        assert st.confirmed == D("0.8") and st.pending_fills == 0
        c = bridge.counters(m)
        assert not any(k[0] == "fills_aged_out" for k in c) and any(k[0] == "fills_confirmed" for k in c)
        assert bridge.snapshot_requests(BIN) == 1
        assert "snapshot_requests" in bridge.format_status()
        await limit_buy(ex, "1")
        assert [p[2] for p in ex.placed] == [D("0.8"), D("0.2")]
        bridge.close()
    with caplog.at_level("INFO"):
        asyncio.run(run())
    assert any("requesting a balance update from binance" in r.getMessage() for r in caplog.records)


def test_balance_requests_are_rate_limited_for_a_phantom_fill():
    async def run():
        ex, clock, bridge = await _started({"max_position": "1", "pending_fill_max_age_s": 40})
        oid = await limit_buy(ex, "0.5")
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1"))   # never in balances
        calls = ex._api_get.call_count
        for t in range(1001, 1061):
            clock.t = t
            bridge.on_tick()
            await asyncio.sleep(0.005)
        # requests from 20 s (half the age) every 10 s (a quarter) until a snapshot at >= arrival + 40 s
        assert bridge.snapshot_requests(BIN) == 3
        assert ex._api_get.call_count - calls == 3
        bridge.close()
    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ counting blocks
def test_every_block_reaches_orders_blocked_total_by_reason(tmp_path):
    """Issue 11: the blocks the adapter makes without the gate are journaled through the core port and served by
    the exporter as orders_blocked_total{reason}, beside the gate's own; an unguarded pair of the connector counts
    under its first market."""
    from hummingbot.core.data_type.common import OrderType

    from inventory_guard_exporter.collector import StateCollector
    from inventory_guard_exporter.render import render_text
    from inventory_guard_exporter.targets import Targets
    from support.exporter import parse_samples

    async def run():
        ex, clock = make_binance(btc_free="0", pairs=(BIN_PAIR, "ETH-USDT")), FakeClock(1000)
        ex._trading_rules[BIN_PAIR].min_base_amount_increment = D("0.3")     # coarser than size_increment
        journal = tmp_path / "ig.sqlite"
        bridge = _bridge(ex, clock, {"max_position": "2"}, journal_path=journal, markets={BIN: [BIN_PAIR]})
        await ex._update_all_balances()
        failed, keep = failures(ex)
        await limit_buy(ex, "1.8")                              # placed
        await limit_buy(ex, "1")   # the gate resizes it to 0.2, which the connector's step of 0.3 rounds to 0
        await limit_buy(ex, "0")                                # invalid_size: not positive
        await limit_buy(ex, "0.00001")                          # invalid_size: below size_increment
        await limit_buy(ex, "1", "ETH-USDT")                    # unknown_market: placed on a guarded connector
        assert bridge.check(BIN, "ETH-USDT", "buy", D("1")).reason == "unknown_market"   # and checked
        ex.sell(BIN_PAIR, D("1"), OrderType.LIMIT, D("100"))   # the gate's insufficient_inventory: nothing to sell
        bridge.halt("BTC", "testing", RuntimeError("boom"))
        await limit_buy(ex, "0.1")                              # guard_error
        assert [p[2] for p in ex.placed] == [D("1.8")] and len(failed) == 6
        bridge.guard.flush()
        samples = parse_samples(render_text(StateCollector(Targets(paths=(str(journal),))).families()))
        blocked = {(dict(labels)["bot"], dict(labels)["connector"], dict(labels)["market"], dict(labels)["reason"],
                    dict(labels)["side"]): value for (name, labels), value in samples.items()
                   if name == "inventory_guard_orders_blocked_total" and value}
        assert blocked == {("ig", BIN, "BTC", "invalid_size", "buy"): 3, ("ig", BIN, "BTC", "unknown_market", "buy"): 2,
                           ("ig", BIN, "BTC", "insufficient_inventory", "sell"): 1,
                           ("ig", BIN, "BTC", "guard_error", "buy"): 1}
        assert [row["orders_blocked"] for row in bridge.status_rows()] == [7]     # the status table counts them too
        del keep
        bridge.close()
    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ restart and stop
def test_restart_reserves_the_live_orders_hummingbot_restores(hb_env, tmp_path):
    async def run():
        journal = str(tmp_path / "ig.sqlite")
        guard = {"max_position": "1", "size_increment": "0.0001", "journal_path": journal}
        ex = make_binance(btc_free="0")
        strat = guarded_strategy({BIN: ex}, guard, {BIN: [BIN_PAIR]})
        await ex._update_all_balances()
        live = await limit_buy(ex, "0.8")
        gone = await limit_buy(ex, "0.1")
        saved = {k: v for k, v in ex.tracking_states.items() if k == live}
        strat.inventory_guard.close()                        # an unclean stop: the journal keeps 0.9 reserved

        ex2 = make_binance(btc_free="0")
        strat2 = guarded_strategy({BIN: ex2}, guard, {BIN: [BIN_PAIR]})
        ex2.restore_tracking_states(saved)                   # Hummingbot restores after the strategy exists
        clock = _clock(ex2, strat2)
        await drive(clock, 2, real_sleep=0.02)
        st = strat2.inventory_guard.state(strat2.inventory_guard.market_id(BIN, BIN_PAIR))
        assert st.open_buy_reservations == D("0.8"), st      # the live order; the gone one released
        assert live in ex2.in_flight_orders and gone not in ex2.in_flight_orders
        await limit_buy(ex2, "1")
        assert [p[2] for p in ex2.placed] == [D("0.2")]
        strat2.inventory_guard.close()
    asyncio.run(run())


def test_cancels_after_on_stop_are_still_applied(hb_env, tmp_path):
    from hummingbot.core.data_type.in_flight_order import OrderState

    from inventory_guard.config import GuardConfig
    from inventory_guard.journal import Journal

    async def run():
        journal = tmp_path / "ig.sqlite"
        ex = make_binance(btc_free="0")
        strat = guarded_strategy({BIN: ex}, {"max_position": "1", "size_increment": "0.0001",
                                             "journal_path": str(journal)}, {BIN: [BIN_PAIR]})
        await ex._update_all_balances()
        oid = await limit_buy(ex, "0.5")
        strat.max_executors_close_attempts = 1
        await strat.on_stop()
        bridge = strat.inventory_guard
        m = bridge.market_id(BIN, BIN_PAIR)
        ex._order_tracker.process_order_update(order_update(ex, oid, OrderState.CANCELED))   # after on_stop
        await asyncio.sleep(0.01)
        bridge.close()                                       # (a no-op: it closed itself once nothing was open)
        j = Journal.open(journal, GuardConfig.model_validate({"max_position": "1", "size_increment": "0.0001"}))
        assert j.state(m).open_buy_reservations == 0
        j.close()
    asyncio.run(run())


def test_an_order_completed_before_its_fills_arrived_stays_reserved_until_they_do():
    from hummingbot.core.data_type.common import OrderType, TradeType
    from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee
    from hummingbot.core.event.events import BuyOrderCompletedEvent, MarketEvent, OrderFilledEvent

    async def run():
        ex, clock, bridge = await _started({"max_position": "2"})
        oid = await limit_buy(ex, "1")
        m = bridge.market_id(BIN, BIN_PAIR)
        ex.trigger_event(MarketEvent.BuyOrderCompleted, BuyOrderCompletedEvent(
            1000, oid, "BTC", "USDT", D("1"), D("100"), OrderType.LIMIT))      # the REST status overtook the fill
        assert bridge.state(m).open_buy_reservations == D("1")
        ex.trigger_event(MarketEvent.OrderFilled, OrderFilledEvent(
            1001, oid, BIN_PAIR, TradeType.BUY, OrderType.LIMIT, D("100"), D("1"), AddedToCostTradeFee(),
            exchange_trade_id="T1"))
        st = bridge.state(m)
        assert st.open_buy_reservations == 0 and st.conservative_exposure == D("1")   # the fill took it over
        assert oid not in bridge.core.open_orders()
        bridge.close()
    asyncio.run(run())


def test_trade_settled_feeds_fill_settled():
    from inventory_guard.hummingbot import GuardEvent, TradeSettledEvent

    async def run():
        ex, clock = make_binance(btc_free="0"), FakeClock(1000)
        bridge = _bridge(ex, clock, {"max_position": "2"})
        seen = []
        real_apply = bridge.guard.apply

        def spy(event):
            seen.append(event)
            return real_apply(event)
        bridge.guard.apply = spy
        ex.trigger_event(GuardEvent.TradeSettled, TradeSettledEvent(1000.0, BIN_PAIR, "T9", "o-1"))
        bridge.trade_settled(BIN, BIN_PAIR, 10, None)
        settled = [(e.trade_id, e.order_id) for e in seen if type(e).__name__ == "FillSettled"]
        assert settled == [("T9", "o-1"), ("10", None)]
        bridge.guard.apply = real_apply
        bridge.close()
    asyncio.run(run())
