"""A guarded session on the simulated venue, headless: venue + connector + demo strategy + bridge on one
``SimDriver``, and what it observed (the venue's truth against the guard's view, a record for the chart)."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from pathlib import Path

from hummingbot.connector.markets_recorder import MarketsRecorder

from inventory_guard.config import GuardConfig

from ..bridge import GuardBridge
from ..sim.connector import CONNECTOR_NAME, SimClobExchange
from ..sim.driver import SimDriver
from ..sim.exchange import SimExchange, VenueConfig
from .chart import RunRecord
from .settings import TRADING_PAIR, SessionSettings
from .strategy import DemoMarketMaker, DemoMarketMakerConfig

log = logging.getLogger("inventory_guard.demo")

ZERO = Decimal(0)


# ----------------------------------------------------------------------------------------------- headless stand-ins
class _NullMarketsRecorder:
    """Stands in for Hummingbot's ``MarketsRecorder`` singleton (an SQLite recorder owned by the client): the
    executor orchestrator asks it for stored executors/positions and stores executors and controller configs."""

    def get_all_executors(self, *a, **kw):
        return []

    def get_all_positions(self, *a, **kw):
        return []

    def __getattr__(self, name):          # store_or_update_executor, store_controller_config, ...: no-ops
        def _noop(*a, **kw):
            return None
        return _noop


@contextlib.contextmanager
def headless_hummingbot():
    """Install the stand-ins StrategyV2Base needs without a Hummingbot client; restore on exit."""
    previous = MarketsRecorder._shared_instance
    if previous is None:
        MarketsRecorder._shared_instance = _NullMarketsRecorder()
    try:
        yield
    finally:
        if previous is None:
            MarketsRecorder._shared_instance = None


# ----------------------------------------------------------------------------------------------- venue -> guard
def link_trade_statuses(connector, bridge, connector_name: str):
    """The adapter side of the simulated venue's trade statuses (the simulator imports nothing of the adapter):
    ``CONFIRMED`` -> ``bridge.trade_settled(...)`` (the core's ``fill_settled``; skipped while the bridge has no
    such method: the balance snapshots confirm the fill instead), ``FAILED`` -> ``bridge.trade_failed(...)``.
    Returns the listener (the connector holds it strongly)."""
    def on_status(ev) -> None:
        if ev.status == "CONFIRMED":
            settled = getattr(bridge, "trade_settled", None)
            if callable(settled):
                settled(connector_name, ev.trading_pair, ev.trade_id, order_id=ev.order_id)
        elif ev.status == "FAILED":
            bridge.trade_failed(connector_name, ev.trading_pair, ev.trade_id)
    connector.add_trade_status_listener(on_status)
    return on_status


def count(counters: dict, name: str, **labels) -> int:
    """A guard counter (``bridge.counters(market)``) summed over the label sets that match ``labels``."""
    return sum(value for (counter, counter_labels), value in counters.items()
               if counter == name and all(dict(counter_labels).get(k) == v for k, v in labels.items()))


# ----------------------------------------------------------------------------------------------- a guarded session
class GuardedSimSession:
    """Venue + connector + guarded demo strategy + bridge on one ``SimDriver``; tracks the truth every step:
    the venue's worst-case exposure (settled + matched-unsettled buys + live buy orders) against the limit and
    against the guard's conservative exposure."""

    def __init__(self, settings: SessionSettings, journal_path: Path | None = None):
        self.settings = settings
        venue_kw = dict(settings.venue)
        if settings.start_time is not None:
            venue_kw.setdefault("start_time", float(settings.start_time))
        self.venue = SimExchange(VenueConfig(seed=settings.seed, trading_pair=TRADING_PAIR, **venue_kw))
        self.connector = SimClobExchange(self.venue, [TRADING_PAIR])
        self.connector_name = CONNECTOR_NAME
        cfg = GuardConfig.model_validate({
            "bot_name": "demo", "connector": CONNECTOR_NAME, "max_position": str(settings.max_position),
            "size_increment": str(self.venue.config.size_increment),
            "min_order_size": str(self.venue.config.min_order_size)})
        self.bridge = GuardBridge(cfg, {CONNECTOR_NAME: self.connector}, journal_path,
                                  markets={CONNECTOR_NAME: [TRADING_PAIR]}, clock=self.connector._sim_time,
                                  balance_api_lag_s=float(self.venue.config.balance_lag_s))
        market = self.bridge.market_id(CONNECTOR_NAME, TRADING_PAIR)
        assert market is not None  # the bridge guards exactly this pair
        self.market = market
        self.strategy_config = DemoMarketMakerConfig(order_amount=settings.order_amount,
                                                     spread_ticks=settings.spread_ticks,
                                                     order_refresh_s=settings.order_refresh_s)
        self.strategy: DemoMarketMaker | None = None
        self._driver: SimDriver | None = None  # made by start()
        self.max_true_exposure = ZERO
        self.max_conservative_exposure = ZERO
        self.limit_violations: list[tuple] = []       # (t, true exposure)
        self.undercounts: list[tuple] = []            # (t, conservative, true)
        self.record = RunRecord(limit=settings.max_position)  # one sample per simulated second, for the chart
        self._seen_blocks = self._seen_phantoms = 0
        self.trade_statuses: dict[str, int] = {}      # status -> notices seen by the connector

    async def start(self) -> None:
        self.strategy = DemoMarketMaker({self.connector_name: self.connector}, self.strategy_config,
                                        inventory_guard=self.bridge)
        self._driver = SimDriver(self.venue, self.connector, iterators=[self.strategy],
                                 poll_interval_s=self.settings.poll_interval_s)
        self.connector.add_trade_status_listener(self._on_status)
        link_trade_statuses(self.connector, self.bridge, self.connector_name)
        self.driver.on_step.append(self._observe)
        await self.driver.start()

    @property
    def driver(self) -> SimDriver:
        if self._driver is None:
            raise RuntimeError("the demo session is not started (await start() first)")
        return self._driver

    def _on_status(self, ev) -> None:
        self.trade_statuses[ev.status] = self.trade_statuses.get(ev.status, 0) + 1

    def _observe(self, t: float) -> None:
        true = self.venue.true_exposure()
        self.max_true_exposure = max(self.max_true_exposure, true)
        if true > self.settings.max_position:
            self.limit_violations.append((t, true))
        if self.market in set(self.bridge.guard.markets):
            st = self.bridge.state(self.market)
            cons = st.conservative_exposure
            self.max_conservative_exposure = max(self.max_conservative_exposure, cons)
            if cons < true:
                self.undercounts.append((t, cons, true))
            self._record(t, st)

    def _record(self, t: float, st) -> None:
        start = self._driver.start_time if self._driver is not None else t
        bb, _, sb, _ = self.venue._unsettled()
        self.record.sample(t - start, true_position=self.venue.settled_base + bb - sb, confirmed=st.confirmed,
                           effective=st.effective, conservative=st.conservative_exposure)
        c = self.counters()
        blocks = count(c, "orders_blocked", side="buy")
        phantoms = count(c, "fills_failed")
        self.record.blocks += [t - start] * max(0, blocks - self._seen_blocks)
        self.record.phantoms += [t - start] * max(0, phantoms - self._seen_phantoms)
        self._seen_blocks, self._seen_phantoms = blocks, phantoms

    async def run(self, sim_seconds: float, realtime_factor: float | None = None, should_stop=None) -> float:
        return await self.driver.run(sim_seconds, realtime_factor=realtime_factor, should_stop=should_stop)

    async def stop(self) -> None:
        if self.strategy is not None:
            self.strategy.max_executors_close_attempts = 1
            try:
                await self.strategy.on_stop()          # closes the bridge (and its journal)
            except Exception:
                log.exception("demo: strategy on_stop failed")
                self.bridge.close()
        else:
            self.bridge.close()

    # ------------------------------------------------------------------ what it observed
    def counters(self) -> dict:
        try:
            return self.bridge.counters(self.market)
        except Exception:
            return {}

    def summary(self) -> dict:
        c = self.counters()
        v = self.venue.stats
        st = None
        with contextlib.suppress(Exception):
            st = self.bridge.state(self.market)
        elapsed = (self._driver.now - self._driver.start_time) if self._driver else 0.0
        return {
            "sim_seconds": elapsed,
            "seed": self.settings.seed,
            "fills_seen_by_guard": count(c, "fills"),
            "venue_trades_matched": v.trades_matched,
            "venue_trades_failed": v.trades_failed,
            "phantom_fills_dropped_on_failed_report": count(c, "fills_failed"),
            "phantom_fills_aged_out": count(c, "fills_aged_out"),
            "fills_confirmed": count(c, "fills_confirmed"),
            "fills_confirmed_by_identity": count(c, "fills_confirmed", how="identity"),
            "fills_confirmed_by_sums": count(c, "fills_confirmed", how="sums"),
            "venue_trades_confirmed": v.trades_confirmed,
            "confirmed_notices_seen": self.trade_statuses.get("CONFIRMED", 0),
            "status_notices_lost": v.status_notices_lost,
            "duplicate_deliveries_sent": v.ws_duplicates_sent + v.ws_replays_sent,
            "duplicate_fills_ignored_by_guard": count(c, "duplicate_fills"),
            "buys_blocked": count(c, "orders_blocked", side="buy"),
            "buys_resized": count(c, "orders_resized", side="buy"),
            "sells_blocked": count(c, "orders_blocked", side="sell"),
            "force_reconciles": count(c, "force_reconciles"),
            "user_stream_disconnects": v.disconnects,
            "max_conservative_exposure": self.max_conservative_exposure,
            "max_true_exposure": self.max_true_exposure,
            "max_position": self.settings.max_position,
            "limit_violations": len(self.limit_violations),
            "undercount_steps": len(self.undercounts),
            "final_true_position": self.venue.true_position(),
            "final_settled_position": self.venue.settled_base,
            "final_confirmed": None if st is None else st.confirmed,
            "final_conservative_exposure": None if st is None else st.conservative_exposure,
        }
