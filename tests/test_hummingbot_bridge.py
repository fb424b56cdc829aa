"""GuardBridge on a real BinanceExchange (ExchangePyBase) with mocked REST: events, snapshots, reconciles."""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from unittest.mock import AsyncMock, MagicMock

import pydantic
import pytest

from support.guard import counter
from support.hummingbot import (
    BIN,
    BIN_PAIR,
    FakeClock,
    limit_buy,
    make_binance,
    order_update,
    set_account,
    trade_update,
)

pytestmark = pytest.mark.hummingbot
D = Decimal
MKT = "BTC"        # spot: one guard market per asset


def _bridge(ex, clock, **kw):
    from inventory_guard.hummingbot import GuardBridge
    # settlement: delayed, as these tests follow fills through the pending book (binance defaults to instant)
    cfg = {"max_position": "2", "size_increment": "0.0001", "settlement": "delayed", **kw.pop("cfg", {})}
    return GuardBridge(cfg, {BIN: ex}, markets={BIN: [BIN_PAIR]}, clock=clock, **kw).attach()


async def _started(btc_free, offline_user_stream=False, **kw):
    """An offline binance holding ``btc_free`` BTC, a clock at 1000 and ``_bridge`` on them, after the connector's
    first balance poll (what the status polling loop runs): (connector, clock, bridge).

    ``offline_user_stream``: the user stream's connect and interruption calls, which the bridge watches, are mocks
    the test awaits (no network)."""
    ex, clock = make_binance(btc_free=btc_free), FakeClock(1000)
    if offline_user_stream:
        ds = ex._user_stream_tracker.data_source
        ds._connected_websocket_assistant = AsyncMock(return_value=MagicMock())
        ds._on_user_stream_interruption = AsyncMock()
    bridge = _bridge(ex, clock, **kw)
    await ex._update_all_balances()
    return ex, clock, bridge


def test_fill_pending_then_rest_snapshot_confirms_and_partial_fill_shrinks_reservation():
    from hummingbot.core.data_type.in_flight_order import OrderState

    async def run():
        ex, clock, bridge = await _started("1.0")
        st = bridge.state(MKT)
        assert st.confirmed == D("1.0") and st.confirmed_at == D("1000") and st.connector == BIN

        oid = await limit_buy(ex, "0.4")
        assert bridge.state(MKT).open_buy_reservations == D("0.4")

        clock.t = 1001
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.1", trade_id="T1"))
        st = bridge.state(MKT)
        assert st.pending_fill_buys == D("0.1") and st.effective == D("1.1")
        assert st.open_buy_reservations == D("0.3")        # the partial fill shrank the reservation
        assert st.conservative_exposure == D("1.4")
        d = bridge.check(BIN, BIN_PAIR, "buy", D("1"))
        assert d.allowed and d.size == D("0.6") and d.reason == "position_limit"

        clock.t = 1005                                    # REST snapshot now includes the fill
        set_account(ex, "1.1")
        await ex._update_all_balances()
        st = bridge.state(MKT)
        assert st.confirmed == D("1.1") and st.pending_fills == 0 and st.effective == D("1.1")
        assert counter(bridge.counters(MKT), "fills_confirmed") == 1

        clock.t = 1010                                    # a failed balance call is not a snapshot
        ex.fail_account = True
        await ex._update_all_balances()
        assert bridge.state(MKT).confirmed_at == D("1005")
        ex.fail_account = False

        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.3", trade_id="T2"))
        ex._order_tracker.process_order_update(order_update(ex, oid, OrderState.FILLED))
        await asyncio.sleep(0.05)
        st = bridge.state(MKT)
        assert st.open_buy_reservations == 0 and st.pending_fill_buys == D("0.3")
        bridge.close()
    asyncio.run(run())


def test_failed_trade_is_dropped_and_duplicate_fill_ignored():
    from hummingbot.core.event.events import MarketEvent

    from inventory_guard.hummingbot import GuardEvent, TradeFailedEvent

    async def run():
        ex, clock, bridge = await _started("0")
        oid = await limit_buy(ex, "1")
        fills: list = []
        ex.add_listener(MarketEvent.OrderFilled, keep := __import__(
            "hummingbot.core.event.event_forwarder", fromlist=["EventForwarder"]).EventForwarder(fills.append))
        upd = trade_update(ex, oid, "0.5", trade_id="T1")
        ex._order_tracker.process_trade_update(upd)
        ex._order_tracker.process_trade_update(upd)        # re-delivered by the websocket
        assert len(fills) == 1                              # hummingbot's tracker already drops it
        ex.trigger_event(MarketEvent.OrderFilled, fills[0])  # a venue connector re-emitting it
        st = bridge.state(MKT)
        assert st.pending_fill_buys == D("0.5") and counter(bridge.counters(MKT), "duplicate_fills") == 1

        ex.trigger_event(GuardEvent.TradeFailed, TradeFailedEvent(1001.0, BIN_PAIR, "T1", oid))
        st = bridge.state(MKT)
        assert st.pending_fill_buys == 0 and st.effective == 0 and counter(bridge.counters(MKT), "fills_failed") == 1
        del keep
        bridge.close()
    asyncio.run(run())


def test_fee_in_base_asset_reduces_the_fill():
    from hummingbot.core.data_type.trade_fee import DeductedFromReturnsTradeFee, TokenAmount

    async def run():
        ex, clock, bridge = await _started("0")
        oid = await limit_buy(ex, "1")
        fee = DeductedFromReturnsTradeFee(flat_fees=[TokenAmount("BTC", D("0.001"))])
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1", fee=fee))
        assert bridge.state(MKT).pending_fill_buys == D("0.499")
        bridge.close()
    asyncio.run(run())


def test_websocket_balance_write_is_a_snapshot():
    async def run():
        ex, clock, bridge = await _started("1")
        clock.t = 1003
        queue = ex._user_stream_tracker.user_stream
        queue.put_nowait({"e": "outboundAccountPosition"})
        queue.put_nowait({"e": "next"})
        messages = ex._iter_user_event_queue()              # what _user_stream_event_listener iterates
        await messages.__anext__()
        ex._account_balances["BTC"] = D("1.7")               # the listener applies the venue's balance push
        await messages.__anext__()                          # ...and asks for the next message
        st = bridge.state(MKT)
        assert st.confirmed == D("1.7") and st.confirmed_at == D("1003")
        clock.t = 1004
        ex._account_balances["BTC"] = D("1.9")               # also noticed on the next tick
        bridge.on_tick()
        assert bridge.state(MKT).confirmed == D("1.9")
        await messages.aclose()
        bridge.close()
    asyncio.run(run())


def test_user_stream_reconnect_forces_reconcile():
    async def run():
        ex, clock, bridge = await _started("1", offline_user_stream=True, reconcile_event="force")
        ds = ex._user_stream_tracker.data_source
        oid = await limit_buy(ex, "0.5")
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1"))
        assert bridge.state(MKT).effective == D("1.5")

        await ds._connected_websocket_assistant()           # first connection: nothing to reconcile
        assert counter(bridge.counters(MKT), "force_reconciles") == 0
        clock.t = 1010
        set_account(ex, "1.2")                              # API disagrees with our fills
        await ds._connected_websocket_assistant()           # reconnect
        await asyncio.sleep(0.05)                           # the reconcile poll runs
        st = bridge.state(MKT)
        assert counter(bridge.counters(MKT), "force_reconciles", reason="ws_reconnect") == 1
        assert st.confirmed == D("1.2") and st.pending_fills == 0 and st.force_reconcile_gap == D("0.3")
        bridge.close()
    asyncio.run(run())


def test_user_stream_silence_and_periodic_force_reconcile():
    async def run():
        ex, clock, bridge = await _started("1", user_stream_silence_s=60, periodic_reconcile_s=500,
                                           reconcile_event="force")
        ds = ex._user_stream_tracker.data_source
        ds._ws_assistant = MagicMock(last_recv_time=1000.0)
        clock.t = 1050
        bridge.on_tick()
        await asyncio.sleep(0.05)
        assert counter(bridge.counters(MKT), "force_reconciles") == 0
        clock.t = 1100
        bridge.on_tick()
        await asyncio.sleep(0.05)
        assert counter(bridge.counters(MKT), "force_reconciles", reason="sequence_gap") == 1
        clock.t = 1200
        bridge.on_tick()                                    # same silent stretch: not again
        await asyncio.sleep(0.05)
        assert counter(bridge.counters(MKT), "force_reconciles", reason="sequence_gap") == 1
        ds._ws_assistant.last_recv_time = 1190.0            # stream alive again
        clock.t = 1600
        bridge.on_tick()                                    # silent again (410 s) and periodic due (600 s):
        await asyncio.sleep(0.05)                           # both requests fold into one reconcile
        assert counter(bridge.counters(MKT), "force_reconciles") == 2
        bridge.close()
    asyncio.run(run())


def test_periodic_reconcile():
    async def run():
        ex, clock, bridge = await _started("1", periodic_reconcile_s=300, reconcile_event="force")
        bridge.on_tick()
        clock.t = 1299
        bridge.on_tick()
        await asyncio.sleep(0.05)
        assert counter(bridge.counters(MKT), "force_reconciles") == 0
        clock.t = 1300
        bridge.on_tick()
        await asyncio.sleep(0.05)
        assert counter(bridge.counters(MKT), "force_reconciles", reason="periodic") == 1
        bridge.close()
    asyncio.run(run())


def test_a_restart_clears_the_previous_runs_guard_error_halt(tmp_path, caplog):
    from inventory_guard.events import BlockReason

    async def run():
        journal = tmp_path / "guard.sqlite"
        ex, clock, bridge = await _started("1", journal_path=journal)
        bridge._halt(MKT, "testing", RuntimeError("boom"))
        assert bridge.state(MKT).halted_reason == BlockReason.GUARD_ERROR
        bridge.close()
        with caplog.at_level(logging.WARNING):
            again = _bridge(ex, clock, journal_path=journal)  # the strategy restarted once the cause was fixed
        assert not again.state(MKT).halted
        assert any("previous run" in r.getMessage() for r in caplog.records)
        assert again.check(BIN, BIN_PAIR, "buy", D("0.1")).allowed
        again.close()
    asyncio.run(run())


def test_a_guard_error_halts_buys_not_sells_and_logs(caplog):
    async def run():
        ex, clock, bridge = await _started("1")
        real_apply = bridge.guard.apply

        def broken(event):
            if type(event).__name__ == "Fill":
                raise RuntimeError("boom")
            return real_apply(event)
        bridge.guard.apply = broken
        oid = await limit_buy(ex, "0.5")
        with caplog.at_level(logging.ERROR):
            ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1"))
        assert MKT in bridge.halted
        assert any("BLOCKED" in r.getMessage() for r in caplog.records)
        d = bridge.check(BIN, BIN_PAIR, "buy", D("0.1"))
        assert not d.allowed and d.reason == "guard_error"
        assert bridge.check(BIN, BIN_PAIR, "sell", D("0.1")).allowed
        assert bridge.state(MKT).halted                 # recorded in the core (and journal/exporter)
        assert "halted: guard_error" in bridge.format_status()
        bridge.guard.apply = real_apply
        bridge.resume(MKT)
        assert bridge.check(BIN, BIN_PAIR, "buy", D("0.1")).allowed
        bridge.close()
    asyncio.run(run())


def test_signed_perp_position_and_contract_market_naming():
    from hummingbot.connector.derivative.position import Position
    from hummingbot.core.data_type.common import PositionSide

    from inventory_guard.hummingbot.config import market_id
    from inventory_guard.hummingbot.snapshots import signed_position

    conn = MagicMock()
    conn.account_positions = {
        "a": Position("ETH-USDT", PositionSide.SHORT, D(0), D(100), D("-2"), D(1)),
        "b": Position("ETH-USDT", PositionSide.LONG, D(0), D(100), D("0.5"), D(1)),
        "c": Position("BTC-USDT", PositionSide.LONG, D(0), D(100), D("9"), D(1)),
    }
    assert signed_position(conn, "ETH-USDT") == D("-1.5")
    assert market_id("binance", "BTC-USDT", False) == "BTC-USDT"
    assert market_id("binance", "BTC-USDT", True) == "binance:BTC-USDT"


def test_two_connectors_use_connector_prefixed_market_ids():
    from inventory_guard.hummingbot import GuardBridge

    async def run():
        a, b = make_binance(), make_binance()
        bridge = GuardBridge({"max_position": "1"}, {"binance": a, "kucoin": b},
                             markets={"binance": [BIN_PAIR], "kucoin": [BIN_PAIR]}, clock=FakeClock())
        assert bridge.markets == ["binance:BTC", "kucoin:BTC"]          # spot: per asset, connector-prefixed
        assert bridge.config.market("kucoin:BTC").connector == "kucoin"
    asyncio.run(run())


def test_cancel_during_user_stream_outage_keeps_the_reservation_until_the_stream_settles():
    from hummingbot.core.data_type.in_flight_order import OrderState

    async def run():
        ex, clock, bridge = await _started("0", offline_user_stream=True, cancel_release_delay_s=5)
        ds = ex._user_stream_tracker.data_source
        await ds._connected_websocket_assistant()
        oid = await limit_buy(ex, "1")
        await ds._on_user_stream_interruption(None)           # the websocket dropped
        ex._order_tracker.process_order_update(order_update(ex, oid, OrderState.CANCELED))   # seen via REST
        await asyncio.sleep(0.01)
        assert bridge.state(MKT).open_buy_reservations == D("1")    # fills may still be in flight
        clock.t = 1002
        await ds._connected_websocket_assistant()           # back: replays a fill of the cancelled order
        await asyncio.sleep(0.05)
        bridge.on_tick()
        assert bridge.state(MKT).open_buy_reservations == D("1")
        clock.t = 1008
        bridge.on_tick()
        assert bridge.state(MKT).open_buy_reservations == 0
        bridge.close()
    asyncio.run(run())


def test_a_cancelled_order_keeps_its_reservation_for_fills_matched_before_the_cancel():
    """The venue's cancel ack can overtake the websocket fills of trades matched just before it: the reservation
    is kept cancel_release_delay_s after the cancel, and a late fill takes it over."""
    from hummingbot.core.data_type.common import OrderType
    from hummingbot.core.data_type.in_flight_order import OrderState

    async def run():
        ex, clock, bridge = await _started("0", cancel_release_delay_s=5)
        oid = await limit_buy(ex, "1")
        ex._order_tracker.process_order_update(order_update(ex, oid, OrderState.CANCELED))
        await asyncio.sleep(0.01)
        assert bridge.state(MKT).open_buy_reservations == D("1")
        clock.t = 1002
        ex.trigger_event(MarketEvent.OrderFilled, OrderFilledEvent(
            1002, oid, BIN_PAIR, TradeType.BUY, OrderType.LIMIT, D("100"), D("0.3"), AddedToCostTradeFee(),
            exchange_trade_id="T-late"))                                       # matched before the cancel
        st = bridge.state(MKT)
        assert st.open_buy_reservations == D("0.7") and st.pending_fill_buys == D("0.3")
        bridge.on_tick()
        assert bridge.state(MKT).open_buy_reservations == D("0.7")
        clock.t = 1005
        bridge.on_tick()
        assert bridge.state(MKT).open_buy_reservations == 0
        bridge.close()
    from hummingbot.core.data_type.common import TradeType
    from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee
    from hummingbot.core.event.events import MarketEvent, OrderFilledEvent
    asyncio.run(run())


@pytest.mark.parametrize("reconcile_event", ["snapshot", "auto"])  # (auto: snapshot on a delayed market)
def test_reconcile_as_snapshot_keeps_fills_a_lagging_api_does_not_show(reconcile_event):
    async def run():
        # a lagging API: settlement delayed
        ex, clock, bridge = await _started("1", offline_user_stream=True, reconcile_event=reconcile_event)
        ds = ex._user_stream_tracker.data_source
        await ds._connected_websocket_assistant()
        oid = await limit_buy(ex, "0.5")
        clock.t = 1001
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1"))
        clock.t = 1005
        await ds._connected_websocket_assistant()           # reconnect; the balance API has not settled T1
        await asyncio.sleep(0.05)
        st = bridge.state(MKT)
        assert st.confirmed == D("1") and st.pending_fill_buys == D("0.5") and st.effective == D("1.5")
        assert counter(bridge.counters(MKT), "force_reconciles") == 0
        bridge.close()
    asyncio.run(run())


@pytest.mark.parametrize("settlement, reason, forced", [
    ("instant", "ws_reconnect", 1), ("delayed", "ws_reconnect", 0), ("delayed", "manual", 1)])
def test_auto_reconcile_forces_on_instant_markets_and_for_the_operator(settlement, reason, forced):
    # reconcile_event: auto (the default) — a force reconcile where the balance API shows every fill (instant) and
    # when the operator asks for one; an ordinary snapshot on a delayed market, whose API lags its fills
    async def run():
        ex, clock, bridge = await _started("1", cfg={"settlement": settlement})
        oid = await limit_buy(ex, "0.5")
        clock.t = 1001
        ex._order_tracker.process_trade_update(trade_update(ex, oid, "0.5", trade_id="T1"))
        clock.t = 1005
        bridge.request_reconcile(BIN, reason)
        await asyncio.sleep(0.05)                           # the reconcile poll runs
        assert counter(bridge.counters(MKT), "force_reconciles", reason=reason) == forced
        st = bridge.state(MKT)
        if settlement == "delayed" and not forced:           # the fill the API does not show yet stays in effective
            assert st.confirmed == D("1") and st.effective == D("1.5")
        bridge.close()
    asyncio.run(run())


def test_attach_after_restart_releases_orders_that_are_gone_and_reserves_open_ones(tmp_path):
    from inventory_guard.hummingbot import GuardBridge

    async def run():
        ex, clock = make_binance(btc_free="0"), FakeClock(1000)
        cfg = {"max_position": "2", "size_increment": "0.0001"}
        bridge = GuardBridge(cfg, {BIN: ex}, tmp_path / "j.sqlite", markets={BIN: [BIN_PAIR]}, clock=clock).attach()
        await ex._update_all_balances()
        await limit_buy(ex, "0.7")
        bridge.executor_approved("E1", BIN, BIN_PAIR, "buy", D("0.2"))
        assert bridge.state(MKT).open_buy_reservations == D("0.9")
        bridge.close()

        ex2 = make_binance(btc_free="0")                      # restart: the old order is gone, a new one is open
        oid2 = await limit_buy(ex2, "0.3")
        bridge2 = GuardBridge(cfg, {BIN: ex2}, tmp_path / "j.sqlite", markets={BIN: [BIN_PAIR]}, clock=clock)
        assert bridge2.state(MKT).open_buy_reservations == D("0.9")     # restored from the journal
        bridge2.attach()                       # executors of the previous run are gone; orders wait for the restore
        assert bridge2.state(MKT).open_buy_reservations == D("1.0")
        bridge2.on_tick()                      # first tick: Hummingbot has restored what it still tracks
        assert bridge2.state(MKT).open_buy_reservations == D("0.3")
        bridge2.order_closed(oid2)
        assert bridge2.state(MKT).open_buy_reservations == 0
        bridge2.close()
    asyncio.run(run())


def test_attach_takes_the_balances_the_connector_already_has_as_the_first_snapshot():
    async def run():
        ex, clock = make_binance(btc_free="0.8", btc_locked="0.2"), FakeClock(1000)
        await ex._update_all_balances()                     # fetched before the strategy existed
        bridge = _bridge(ex, clock)
        st = bridge.state(MKT)
        assert st.confirmed == D("1.0") and st.confirmed_at == D("1000")
        d = bridge.check(BIN, BIN_PAIR, "buy", D("5"))
        assert d.allowed and d.size == D("1")
        bridge.close()
    asyncio.run(run())


def test_venue_amounts_made_from_floats_are_read_as_the_decimals_they_stand_for():
    # Paper trade reports a fill of 0.1 as Decimal(0.1) = 0.1000000000000000055511151231257827…: taken as is, with
    # the size step's rounding up, no fill ever matched its balance move.
    from inventory_guard.hummingbot.translate import venue_decimal
    assert venue_decimal(D(0.1)) == D("0.1") and venue_decimal(0.1) == D("0.1")
    assert venue_decimal(D("0.12345678901234567890123")) == D("0.12345678901234567890123")  # not a float's value
    assert venue_decimal(D("1.5")) == D("1.5") and venue_decimal("2") == D(2)


def test_the_adapter_keys_are_options_of_a_bridge_on_a_core_config():
    from inventory_guard.hummingbot import AdapterSettings, GuardBridge, InventoryGuardSettings

    async def run():
        ex = make_binance()
        bridge = GuardBridge({"max_position": "1"}, {BIN: ex}, markets={BIN: [BIN_PAIR]}, clock=FakeClock(1000))
        assert bridge.health.silence_s == AdapterSettings.model_fields["user_stream_silence_s"].default == 120
        assert bridge.feed.reconcile_event == "auto" and bridge.health.cancel_release_delay_s == 5
        with pytest.raises(pydantic.ValidationError, match="user_stream_silence_sec"):
            GuardBridge({"max_position": "1"}, {BIN: ex}, markets={BIN: [BIN_PAIR]}, user_stream_silence_sec=60)
        with pytest.raises(pydantic.ValidationError, match="reconcile_event"):
            GuardBridge({"max_position": "1"}, {BIN: ex}, markets={BIN: [BIN_PAIR]}, reconcile_event="sometimes")
        settings = InventoryGuardSettings(max_position="1", journal_path=None)
        with pytest.raises(TypeError, match="periodic_reconcile_s: set in the inventory_guard section"):
            GuardBridge(settings, {BIN: ex}, markets={BIN: [BIN_PAIR]}, periodic_reconcile_s=60)
    asyncio.run(run())


@pytest.mark.parametrize("key, value", [
    ("seen_fill_keys_max", True), ("seen_fill_keys_max", "10"), ("pending_fill_max_age_s", True),
    ("allow_negative_position", 1), ("snapshot_max_age_s", "1e400"), ("size_increment", "1e-19"), ("bot_name", "a\nb"),
])
def test_the_section_accepts_what_the_guard_config_accepts(key, value):
    from inventory_guard.config import ConfigError, parse_config
    from inventory_guard.hummingbot import InventoryGuardSettings
    with pytest.raises(ConfigError, match=f"guard.yaml: {key}: "):
        parse_config({"max_position": "1", key: value}, "guard.yaml")
    with pytest.raises(pydantic.ValidationError) as exc:
        InventoryGuardSettings(max_position="1", **{key: value})
    assert [e["loc"] for e in exc.value.errors()] == [(key,)]
