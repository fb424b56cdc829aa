"""The simulated venue (``inventory_guard.hummingbot.sim``) with real Hummingbot objects, and the guard on it.

Everything runs on a simulated clock (``SimDriver``): no sockets, no wall-clock sleeps, seeded randomness.
"""
import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest

try:  # never a silent skip: the README's test command installs the hummingbot extra
    import hummingbot  # noqa: F401
except ImportError as exc:
    raise ImportError("the Hummingbot tests need the hummingbot extra (bash connector_plugin/bootstrap.sh test "
                      "installs it)") from exc
pytestmark = pytest.mark.hummingbot

from hummingbot.connector.client_order_tracker import ClientOrderTracker  # noqa: E402
from hummingbot.connector.exchange_py_base import ExchangePyBase  # noqa: E402
from hummingbot.core.data_type.common import OrderType  # noqa: E402
from hummingbot.core.event.event_forwarder import SourceInfoEventForwarder  # noqa: E402
from hummingbot.core.event.events import MarketEvent  # noqa: E402

from inventory_guard.config import GuardConfig  # noqa: E402
from inventory_guard.hummingbot.bridge import GuardBridge  # noqa: E402
from inventory_guard.hummingbot.demo.session import GuardedSimSession, headless_hummingbot, link_trade_statuses  # noqa: E402
from inventory_guard.hummingbot.demo.settings import DEMO_VENUE, SessionSettings  # noqa: E402
from inventory_guard.hummingbot.sim.connector import CONNECTOR_NAME, SimClobExchange, SimVenueEvent  # noqa: E402
from inventory_guard.hummingbot.sim.driver import SimDriver  # noqa: E402
from inventory_guard.hummingbot.sim.exchange import SimExchange, VenueConfig  # noqa: E402
from support.guard import counter  # noqa: E402

D = Decimal
TP = "YES-USDC"
QUIET = dict(dup_prob=0.0, fail_prob=0.0, disconnect_rate_per_s=0.0, outside_sell_rate_per_s=0.0,
             outside_buy_rate_per_s=0.0)


class Recorder:
    """Every Hummingbot market event and sim venue event of a connector (holds the forwarders strongly)."""

    def __init__(self, conn):
        self.events: list[tuple] = []
        self._fwds = []
        for tag in list(MarketEvent) + list(SimVenueEvent):
            fwd = SourceInfoEventForwarder(lambda t, src, ev: self.events.append((t, ev)))
            self._fwds.append(fwd)
            conn.add_listener(tag, fwd)

    def of(self, tag):
        return [ev for t, ev in self.events if t == tag.value]


async def make(seed=1, poll_interval_s=5.0, with_bridge=True, adapter=None, **venue_kw):
    venue = SimExchange(VenueConfig(seed=seed, **{**QUIET, **venue_kw}))
    conn = SimClobExchange(venue)
    rec = Recorder(conn)
    bridge = None
    driver = SimDriver(venue, conn, poll_interval_s=poll_interval_s)
    if with_bridge:
        cfg = GuardConfig.model_validate({"bot_name": "test", "connector": CONNECTOR_NAME, "max_position": "100",
                                          "size_increment": "1", "pending_fill_max_age_s": 30})
        bridge = GuardBridge(cfg, {CONNECTOR_NAME: conn}, None, markets={CONNECTOR_NAME: [TP]},
                             clock=conn._sim_time, user_stream_silence_s=None, **(adapter or {})).attach()
        link_trade_statuses(conn, bridge, CONNECTOR_NAME)
        driver.on_step.append(bridge.on_tick)
    await driver.start()
    await driver.step()
    return venue, conn, rec, bridge, driver


async def make_with_a_phantom_buy(**make_kw):
    """``make(**make_kw)``, then a buy of 10 at the ask whose trade the venue will fail, filled by one step."""
    venue, conn, rec, bridge, driver = await make(**make_kw)
    venue.fail_next_trades(1)
    conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
    await driver.step()
    return venue, conn, rec, bridge, driver


async def steps(driver, n):
    for _ in range(n):
        await driver.step()


def run(coro):
    return asyncio.run(coro)


# ------------------------------------------------------------------------------------------------ the connector
def test_connector_runs_hummingbots_order_tracker_and_emits_lifecycle_events():
    async def go():
        venue, conn, rec, bridge, driver = await make(with_bridge=False)
        assert isinstance(conn, ExchangePyBase) and type(conn._order_tracker) is ClientOrderTracker
        assert conn.ready, conn.status_dict

        # a crossing limit buy: matched at once against the outside book
        ask = venue.best_ask()
        oid = conn.buy(TP, D(10), OrderType.LIMIT, ask)
        await asyncio.sleep(0)                                  # Hummingbot's _create_order task
        assert oid in conn._order_tracker.all_orders
        await driver.step()
        created = rec.of(MarketEvent.BuyOrderCreated)
        fills = rec.of(MarketEvent.OrderFilled)
        done = rec.of(MarketEvent.BuyOrderCompleted)
        assert [e.order_id for e in created] == [oid]
        assert len(fills) == 1 and fills[0].order_id == oid and fills[0].amount == D(10) and fills[0].price == ask
        assert isinstance(fills[0].exchange_trade_id, str)
        assert fills[0].exchange_order_id == created[0].exchange_order_id
        assert [e.order_id for e in done] == [oid] and oid not in conn.in_flight_orders

        # settlement delay + lagging balance API: the fill is known long before the balance shows it
        assert venue.settled_base == 0 and conn.get_balance("YES") == 0
        await steps(driver, 6)                                  # settled at the venue after 6 s ...
        assert venue.settled_base == 10 and conn.get_balance("YES") == 0
        await steps(driver, 8)                                  # ... visible 4 s later, at the next poll
        assert conn.get_balance("YES") == 10 and conn.last_balance_snapshot.as_of <= driver.now - 4

        # a resting order, then a cancel
        oid2 = conn.buy(TP, D(5), OrderType.LIMIT, venue.best_bid() - D("0.05"))
        await driver.step()
        assert conn.in_flight_orders[oid2].exchange_order_id is not None
        conn.cancel(TP, oid2)
        await driver.step()
        assert [e.order_id for e in rec.of(MarketEvent.OrderCancelled)] == [oid2]
        assert venue.open_buy_size() == 0

        # the venue refuses a sell of shares we do not hold: Hummingbot's OrderFailure
        oid3 = conn.sell(TP, D(50), OrderType.LIMIT, D("0.90"))
        await driver.step()
        assert [e.order_id for e in rec.of(MarketEvent.OrderFailure)] == [oid3]

        # outside takers hit a resting bid (maker fill through the user stream)
        venue.config.outside_sell_rate_per_s = 1.0
        oid4 = conn.buy(TP, D(30), OrderType.LIMIT, venue.best_bid() + D("0.01"))
        await steps(driver, 30)
        assert any(f.order_id == oid4 for f in rec.of(MarketEvent.OrderFilled))
        await conn.stop_network()
    run(go())


def test_same_seed_same_run():
    async def go(seed):
        with headless_hummingbot():
            s = GuardedSimSession(SessionSettings(seed=seed, venue=dict(DEMO_VENUE, fail_prob=0.15, dup_prob=0.2)))
            await s.start()
            await s.run(300)
            await s.stop()
            return s.venue.stats.as_dict(), s.counters(), s.summary()["max_true_exposure"]
    a, b, c = run(go(11)), run(go(11)), run(go(12))
    assert a == b
    assert a != c


# ------------------------------------------------------------------------------------------------ phantom fills
def test_phantom_fill_dropped_when_the_venue_reports_the_trade_failed():
    async def go():
        venue, conn, rec, bridge, driver = await make_with_a_phantom_buy()
        (fill,) = rec.of(MarketEvent.OrderFilled)
        st = bridge.state(bridge.markets[0])
        assert st.pending_fill_buys == 10 and st.effective == 10
        await steps(driver, 16)                                 # fail_delay_s = 15
        failed = rec.of(SimVenueEvent.TradeFailed)
        assert [e.trade_id for e in failed] == [fill.exchange_trade_id] and failed[0].source == "ws"
        statuses = [(e.trade_id, e.status) for e in rec.of(SimVenueEvent.TradeStatus)]
        assert statuses == [(fill.exchange_trade_id, s) for s in ("MATCHED", "RETRYING", "FAILED")]
        st = bridge.state(bridge.markets[0])
        assert st.pending_fill_buys == 0 and st.effective == 0 and st.conservative_exposure == 0
        assert counter(bridge.counters(bridge.markets[0]), "fills_failed") == 1
        await steps(driver, 20)
        assert venue.settled_base == 0 and conn.get_balance("YES") == 0      # the balance never moved
        bridge.close()
    run(go())


def test_phantom_fill_failure_seen_through_rest_when_the_websocket_was_down():
    async def go():
        venue, conn, rec, bridge, driver = await make_with_a_phantom_buy()
        venue.disconnect(300)                                   # the FAILED message will be lost
        await steps(driver, 20)
        failed = rec.of(SimVenueEvent.TradeFailed)
        assert len(failed) == 1 and failed[0].source == "rest"  # found in the order's REST trade history
        assert counter(bridge.counters(bridge.markets[0]), "fills_failed") == 1
        assert bridge.state(bridge.markets[0]).pending_fill_buys == 0
        bridge.close()
    run(go())


def test_phantom_fill_ages_out_when_the_venue_never_reports_it():
    async def go():
        venue, conn, rec, bridge, driver = await make_with_a_phantom_buy(failed_trade_reports=False)
        assert bridge.state(bridge.markets[0]).pending_fill_buys == 10
        await steps(driver, 25)
        assert bridge.state(bridge.markets[0]).pending_fill_buys == 10   # still counted: no proof either way
        await steps(driver, 10)                                           # pending_fill_max_age_s = 30
        st = bridge.state(bridge.markets[0])
        assert st.pending_fill_buys == 0 and st.effective == 0 and st.confirmed == 0
        assert counter(bridge.counters(bridge.markets[0]), "fills_aged_out") == 1
        assert rec.of(SimVenueEvent.TradeFailed) == [] and venue.stats.trades_failed == 1
        bridge.close()
    run(go())


# ------------------------------------------------------------------------------------------------ trade statuses
def test_trade_statuses_reported_like_polymarkets_user_channel_and_confirmed_goes_to_trade_settled():
    """MATCHED (the fill) -> MINED -> CONFIRMED, each a ``trade`` message of Polymarket's user-channel shape;
    CONFIRMED reaches ``bridge.trade_settled`` (the core's fill_settled) through the adapter-side link."""
    async def go():
        venue, conn, rec, bridge, driver = await make()
        settled = []
        bridge.trade_settled = lambda *a, **kw: settled.append((a, kw))   # until the bridge has its own
        link_trade_statuses(conn, bridge, CONNECTOR_NAME)
        seen: list = []
        drain = venue.ws_drain

        def spy():
            out = drain()
            seen.extend(m for m in out if m.get("event_type") == "trade")
            return out
        venue.ws_drain = spy
        oid = conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
        await steps(driver, 8)                                  # mine_delay_s 2, settle_delay_s 6
        (fill,) = rec.of(MarketEvent.OrderFilled)
        ev = rec.of(SimVenueEvent.TradeStatus)
        assert [(e.trade_id, e.status, e.source) for e in ev] == [
            (fill.exchange_trade_id, s, "ws") for s in ("MATCHED", "MINED", "CONFIRMED")]
        assert all(e.order_id == oid and e.amount == D(10) for e in ev)
        assert [m["status"] for m in seen] == ["MATCHED", "MINED", "CONFIRMED"]
        msg = seen[-1]
        assert msg["type"] == "TRADE" and msg["id"] == fill.exchange_trade_id and msg["taker_order_id"] == \
            fill.exchange_order_id and msg["maker_orders"] == []
        assert float(msg["last_update"]) - float(msg["matchtime"]) == venue.config.settle_delay_s
        assert settled == [((CONNECTOR_NAME, TP, fill.exchange_trade_id), {"order_id": oid})] * 2   # two links
        assert len(rec.of(MarketEvent.OrderFilled)) == 1        # later statuses never re-fill the order
        bridge.close()
    run(go())


def test_lost_status_notices_are_found_in_the_rest_trade_history():
    async def go():
        venue, conn, rec, bridge, driver = await make(status_notice_loss_prob=1.0)
        settled = []
        bridge.trade_settled = lambda *a, **kw: settled.append(a)
        conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
        await steps(driver, 20)
        assert venue.stats.trades_confirmed == 1 and venue.stats.status_notices_lost == 2      # MINED, CONFIRMED
        (fill,) = rec.of(MarketEvent.OrderFilled)
        statuses = [(e.status, e.source) for e in rec.of(SimVenueEvent.TradeStatus)]
        assert statuses == [("MATCHED", "ws"), ("CONFIRMED", "rest")]   # Hummingbot's poll of the order's trades
        assert settled == [(CONNECTOR_NAME, TP, fill.exchange_trade_id)]
        m = bridge.markets[0]
        assert bridge.state(m).confirmed == 10 and bridge.state(m).pending_fill_buys == 0
        bridge.close()
    run(go())


# ------------------------------------------------------------------------------------------------ duplicates
def test_duplicate_websocket_fill_counted_once():
    async def go():
        venue, conn, rec, bridge, driver = await make(dup_prob=1.0)
        conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
        await driver.step()
        assert venue.stats.ws_duplicates_sent >= 1              # the trade message arrived twice
        assert len(rec.of(MarketEvent.OrderFilled)) == 1        # Hummingbot's order tracker absorbed the copy
        m = bridge.markets[0]
        assert bridge.state(m).pending_fill_buys == 10 and counter(bridge.counters(m), "fills") == 1
        bridge.close()
    run(go())


def test_replayed_fill_that_slips_past_hummingbot_is_ignored_by_the_guard():
    """On resubscribe the venue replays recent trades with the id written as a number: Hummingbot's per-order
    dedup (keyed by the raw id) emits a second OrderFilled; the guard (ids normalised to text) ignores it."""
    async def go():
        venue, conn, rec, bridge, driver = await make(replay_window_s=60)
        conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
        await driver.step()
        venue.disconnect(3)
        await steps(driver, 5)                                  # back: the venue replays the last minute's trades
        fills = rec.of(MarketEvent.OrderFilled)
        assert len(fills) == 2 and str(fills[1].exchange_trade_id) == fills[0].exchange_trade_id
        assert fills[1].exchange_trade_id == int(fills[0].exchange_trade_id)   # numeric: Hummingbot let it through
        c = bridge.counters(bridge.markets[0])
        assert counter(c, "fills") == 1 and counter(c, "duplicate_fills") == 1
        bridge.close()
    run(go())


# ------------------------------------------------------------------------------------------------ reconnects
@pytest.mark.parametrize("reconcile_event", ["force", "auto"])
def test_user_stream_reconnect_forces_a_reconcile(reconcile_event):
    # (auto: this venue settles after the fill, settlement: delayed, so the reconnect's balance is a snapshot)
    async def go():
        venue, conn, rec, bridge, driver = await make(adapter={"reconcile_event": reconcile_event})
        conn.buy(TP, D(10), OrderType.LIMIT, venue.best_ask())
        await steps(driver, 20)                                 # settled and visible in the API
        m = bridge.markets[0]
        assert bridge.state(m).confirmed == 10
        venue.disconnect(4)
        await driver.step()
        assert [e.connected for e in rec.of(SimVenueEvent.UserStreamDisconnected)] == [False]
        assert counter(bridge.counters(m), "force_reconciles") == 0
        await steps(driver, 5)
        (up,) = rec.of(SimVenueEvent.UserStreamReconnected)
        assert up.connected and up.connection_id == 2 and up.down_since is not None
        forced = counter(bridge.counters(m), "force_reconciles", reason="ws_reconnect")
        assert forced == (1 if reconcile_event == "force" else 0)
        assert bridge.state(m).confirmed == 10
        bridge.close()
    run(go())


# ------------------------------------------------------------------------------------------------ the limit holds
def _session(seed, sim_seconds, **venue):
    async def go():
        with headless_hummingbot():
            s = GuardedSimSession(SessionSettings(seed=seed, venue=dict(DEMO_VENUE, **venue)))
            await s.start()
            await s.run(sim_seconds)
            await s.stop()
            return s
    return run(go())


FAULTS = dict(fail_prob=0.15, dup_prob=0.2, settle_delay_s=6.0, balance_lag_s=4.0)


@pytest.mark.parametrize("seed", range(6))
def test_limit_never_exceeded_randomized_without_disconnects(seed):
    """15-minute sessions: fills, phantom fills, duplicate deliveries, settlement delay and a lagging balance API.
    At every simulated second the venue's worst-case exposure (settled + matched-unsettled buys + live buy orders)
    stays within max_position, and the guard's conservative exposure is never below it."""
    s = _session(seed, 900, disconnect_rate_per_s=0.0, **FAULTS)
    sm = s.summary()
    assert sm["venue_trades_failed"] > 0 and sm["venue_trades_matched"] > 30
    assert s.limit_violations == [], s.limit_violations[:5]
    assert s.undercounts == [], s.undercounts[:5]
    assert sm["buys_blocked"] + sm["buys_resized"] > 0          # the limit was actually reached
    assert sm["max_true_exposure"] <= sm["max_position"]


@pytest.mark.parametrize("seed", range(4))
def test_limit_never_exceeded_randomized_with_disconnects(seed):
    """The same sessions with the user stream dropping about once a minute: a force reconcile holds the buys it
    clears in conservative exposure, and a cancel during an outage keeps its reservation until fills can arrive."""
    s = _session(seed, 900, disconnect_rate_per_s=1 / 60, **FAULTS)
    assert s.venue.stats.disconnects > 0
    assert s.limit_violations == [] and s.undercounts == [], (s.limit_violations[:3], s.undercounts[:3])


# ------------------------------------------------------------------------------------------------ the demo
def test_demo_runs_end_to_end_and_prints_its_summary(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    journal = tmp_path / "demo.sqlite"
    proc = subprocess.run([sys.executable, "-m", "inventory_guard.hummingbot.demo", "--duration", "3", "--speed",
                           "60", "--no-live", "--journal", str(journal)],
                          capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for needle in ("inventory-guard demo: summary", "fills seen by the guard", "phantom fills",
                   "fills confirmed", "(by identity ", ", by sums ", "unconfirmed fills aged out",
                   "CONFIRMED statuses reached the connector", "status notices were lost",
                   "duplicate fills ignored", "buys blocked / resized", "force reconciles",
                   "max conservative exposure", "vs limit 100"):
        assert needle in out, out
    assert "t=    60s" in out                                  # --no-live: a status line per simulated minute
    assert journal.exists() and (tmp_path / "demo.log").exists()
    chart = tmp_path / "chart.svg"                             # a picture of the run, its path printed
    assert f"chart: {chart}" in out
    import xml.dom.minidom
    svg = xml.dom.minidom.parse(str(chart))
    assert len(svg.getElementsByTagName("polyline")) == 4      # true position, confirmed, effective, conservative
    assert "limit (max_position)" in chart.read_text()


def test_demo_via_the_cli_serves_metrics_while_it_runs(tmp_path):
    import re
    import urllib.request

    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    proc = subprocess.Popen([sys.executable, "-m", "inventory_guard.cli", "demo", "--duration", "8", "--no-live",
                             "--journal", str(tmp_path / "j.sqlite")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        head = proc.stdout.readline() + proc.stdout.readline()
        url = re.search(r"metrics (http://127\.0\.0\.1:\d+/metrics)", head)
        assert url, head
        body, deadline = "", time.monotonic() + 20
        while "inventory_guard_conservative_exposure" not in body and time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(url.group(1), timeout=2).read().decode()
            except OSError:
                time.sleep(0.2)
        assert 'inventory_guard_conservative_exposure{bot="demo"' in body, body[:500]
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, head + rest + err
    assert "inventory-guard demo: summary" in rest
    assert "limit held at the venue        yes" in rest, rest
