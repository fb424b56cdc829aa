"""``inventory-guard demo``: a guarded market maker on the simulated Polymarket-style venue, headless.

A Hummingbot V2 script (``DemoMarketMaker``, a ``GuardedStrategyV2Base``) quotes a bid and an ask around the mid
of ``YES-USDC`` on ``sim_clob`` (``sim.SimClobExchange``, a real ``ExchangePyBase`` connector over the in-process
``sim.SimExchange``). Every buy/sell goes through the guard (``GuardBridge``); fills, phantom fills, duplicate
deliveries, lagging balances and user-stream reconnects come from the venue. The simulated clock runs ``speed``
times faster than the wall clock (default 10: one wall minute is a ten-minute session). A status table refreshes
in the terminal (or a line is printed every few simulated minutes with ``--no-live`` / when stdout is not a TTY),
and a summary ends the run (Ctrl-C ends it early, with the summary).

Nothing here needs the Hummingbot client: ``headless_hummingbot()`` installs a no-op ``MarketsRecorder`` for the
executor orchestrator, and ``DemoMarketMaker.start`` skips the client's MQTT lookup.

Entry points: ``run_demo(...)`` (wired to ``inventory-guard demo``), ``add_arguments(parser)`` /
``run_from_args(args)`` for a CLI, and ``python -m inventory_guard.hummingbot.demo``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Optional

log = logging.getLogger("inventory_guard.demo")

D = Decimal
ZERO = D(0)
TRADING_PAIR = "YES-USDC"


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
    from hummingbot.connector.markets_recorder import MarketsRecorder
    previous = MarketsRecorder._shared_instance
    if previous is None:
        MarketsRecorder._shared_instance = _NullMarketsRecorder()
    try:
        yield
    finally:
        if previous is None:
            MarketsRecorder._shared_instance = None


# ----------------------------------------------------------------------------------------------- the strategy
def _strategy_classes():
    """Built lazily: importing them imports hummingbot and the adapter."""
    from pydantic import Field

    from hummingbot.core.data_type.common import OrderType
    from hummingbot.strategy.strategy_v2_base import StrategyV2ConfigBase

    from .script import GuardedStrategyV2Base
    from .sim.connector import CONNECTOR_NAME

    class DemoMarketMakerConfig(StrategyV2ConfigBase):
        script_file_name: str = Field(default="inventory_guard_demo.py")
        controllers_config: List[str] = Field(default=[])
        connector_name: str = Field(default=CONNECTOR_NAME)
        trading_pair: str = Field(default=TRADING_PAIR)
        order_amount: Decimal = Field(default=D("20"))
        spread_ticks: int = Field(default=1)
        order_refresh_s: float = Field(default=10.0)

    class DemoMarketMaker(GuardedStrategyV2Base):
        """Quotes one bid and one ask ``spread_ticks`` around the mid, replaced every ``order_refresh_s``.
        Buys and sells go through the guard's gate (resized or refused); sells are also capped by the venue's
        available (settled) balance, since the venue rejects sells of unsettled shares."""

        markets = {CONNECTOR_NAME: {TRADING_PAIR}}

        def __init__(self, connectors, config, inventory_guard=None):
            super().__init__(connectors, config, inventory_guard=inventory_guard)
            self._next_refresh = 0.0
            self.quotes_placed = {"buy": 0, "sell": 0}
            self.quotes_refused = {"buy": 0, "sell": 0}
            self.quotes_resized = 0

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
            self._quote("buy", cfg.order_amount, bid)
            base = cfg.trading_pair.split("-")[0]
            sell_amount = min(cfg.order_amount, conn.quantize_order_amount(cfg.trading_pair,
                                                                           conn.get_available_balance(base)))
            if sell_amount > 0:
                self._quote("sell", sell_amount, ask)

        def _quote(self, side: str, amount: Decimal, price: Decimal):
            cfg = self.config
            place = self.buy if side == "buy" else self.sell
            before = self.inventory_guard.counters(self.inventory_guard.markets[0]) if self.inventory_guard else {}
            oid = place(cfg.connector_name, cfg.trading_pair, amount, OrderType.LIMIT, price)
            if oid is None:
                self.quotes_refused[side] += 1
            else:
                self.quotes_placed[side] += 1
                after = self.inventory_guard.counters(self.inventory_guard.markets[0]) if self.inventory_guard else {}
                if _count(after, "orders_resized") > _count(before, "orders_resized"):
                    self.quotes_resized += 1

    return DemoMarketMakerConfig, DemoMarketMaker


def _count(counters: dict, name: str, **labels) -> int:
    total = 0
    for key, value in (counters or {}).items():
        kname, klabels = (key if isinstance(key, tuple) else (key, ()))
        if kname != name:
            continue
        lab = dict(klabels) if klabels else {}
        if all(lab.get(k) == v for k, v in labels.items()):
            total += int(value)
    return total


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


# ----------------------------------------------------------------------------------------------- a guarded session
@dataclass
class SessionSettings:
    seed: int = 7
    max_position: Decimal = D("100")
    order_amount: Decimal = D("20")
    spread_ticks: int = 1
    order_refresh_s: float = 10.0
    poll_interval_s: float = 5.0
    venue: Dict[str, object] = field(default_factory=dict)   # VenueConfig overrides
    start_time: Optional[float] = None      # simulated epoch of the first tick (default: VenueConfig's fixed one)


DEMO_VENUE = {
    # outside sellers a bit more active than buyers: the maker accumulates inventory and meets its limit
    "outside_sell_rate_per_s": 0.40,
    "outside_buy_rate_per_s": 0.25,
    # a share of the venue's trade status notices (MINED / CONFIRMED / FAILED ...) never arrives
    "status_notice_loss_prob": 0.10,
}


class GuardedSimSession:
    """Venue + connector + guarded demo strategy + bridge on one ``SimDriver``; tracks the truth every step:
    the venue's worst-case exposure (settled + matched-unsettled buys + live buy orders) against the limit and
    against the guard's conservative exposure."""

    def __init__(self, settings: SessionSettings, journal_path: Optional[Path] = None):
        from inventory_guard.config import GuardConfig

        from .bridge import GuardBridge
        from .sim.connector import CONNECTOR_NAME, SimClobExchange, SimVenueEvent
        from .sim.driver import SimDriver
        from .sim.exchange import SimExchange, VenueConfig

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
        self.market = self.bridge.market_id(CONNECTOR_NAME, TRADING_PAIR)
        config_cls, strategy_cls = _strategy_classes()
        self.strategy_config = config_cls(order_amount=settings.order_amount, spread_ticks=settings.spread_ticks,
                                          order_refresh_s=settings.order_refresh_s)
        self._strategy_cls = strategy_cls
        self.strategy = None
        self.driver: Optional[SimDriver] = None
        self._driver_cls = SimDriver
        self.max_true_exposure = ZERO
        self.max_conservative_exposure = ZERO
        self.limit_violations: List[tuple] = []       # (t, true exposure)
        self.undercounts: List[tuple] = []            # (t, conservative, true)
        from .chart import RunRecord
        self.record = RunRecord(limit=settings.max_position)  # one sample per simulated second, for the chart
        self._seen_blocks = self._seen_phantoms = 0
        self.reconnects = 0
        self.trade_failures_reported = 0
        self.trade_statuses: Dict[str, int] = {}      # status -> notices seen by the connector
        self._keep = []
        self._sim_event = SimVenueEvent

    async def start(self) -> None:
        self.strategy = self._strategy_cls({self.connector_name: self.connector}, self.strategy_config,
                                           inventory_guard=self.bridge)
        self.driver = self._driver_cls(self.venue, self.connector, iterators=[self.strategy],
                                       poll_interval_s=self.settings.poll_interval_s)
        self.connector.add_user_stream_listener(self._on_stream)
        self.connector.add_trade_failed_listener(self._on_failed)
        self.connector.add_trade_status_listener(self._on_status)
        link_trade_statuses(self.connector, self.bridge, self.connector_name)
        self.driver.on_step.append(self._observe)
        await self.driver.start()

    def _on_stream(self, ev) -> None:
        if ev.connected:
            self.reconnects += 1

    def _on_failed(self, ev) -> None:
        self.trade_failures_reported += 1

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
        start = self.driver.start_time if self.driver is not None else t
        bb, _, sb, _ = self.venue._unsettled()
        self.record.sample(t - start, true_position=self.venue.settled_base + bb - sb, confirmed=st.confirmed,
                           effective=st.effective, conservative=st.conservative_exposure)
        c = self.counters()
        blocks = sum(n for (name, labels), n in c.items()
                     if name == "orders_blocked" and ("side", "buy") in tuple(labels))
        phantoms = _count(c, "fills_failed")
        self.record.blocks += [t - start] * max(0, blocks - self._seen_blocks)
        self.record.phantoms += [t - start] * max(0, phantoms - self._seen_phantoms)
        self._seen_blocks, self._seen_phantoms = blocks, phantoms

    def write_chart(self, path: Path) -> Optional[Path]:
        """The run as an SVG chart (true position, confirmed, effective, conservative exposure, limit, blocks and
        phantom fills); None when nothing was recorded."""
        if not self.record.t:
            return None
        from .chart import write_svg
        title = (f"inventory-guard demo: {TRADING_PAIR}, seed {self.settings.seed}, max_position "
                 f"{self.settings.max_position}")
        return write_svg(self.record, path, title)

    async def run(self, sim_seconds: float, realtime_factor: Optional[float] = None, should_stop=None) -> float:
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

    # ------------------------------------------------------------------ reporting
    def counters(self) -> dict:
        try:
            return self.bridge.counters(self.market)
        except Exception:
            return {}

    def summary(self) -> dict:
        c = self.counters()
        v = self.venue.stats
        st = None
        try:
            st = self.bridge.state(self.market)
        except Exception:
            pass
        elapsed = (self.driver.now - self.driver.start_time) if self.driver else 0.0
        return {
            "sim_seconds": elapsed,
            "seed": self.settings.seed,
            "fills_seen_by_guard": _count(c, "fills"),
            "venue_trades_matched": v.trades_matched,
            "venue_trades_failed": v.trades_failed,
            "phantom_fills_dropped_on_failed_report": _count(c, "fills_failed"),
            "phantom_fills_aged_out": _count(c, "fills_aged_out"),
            "fills_aged_out": _count(c, "fills_aged_out"),
            "fills_confirmed": _count(c, "fills_confirmed"),
            "fills_confirmed_by_identity": _count(c, "fills_confirmed", how="identity"),
            "fills_confirmed_by_sums": _count(c, "fills_confirmed", how="sums"),
            "venue_trades_confirmed": v.trades_confirmed,
            "confirmed_notices_seen": self.trade_statuses.get("CONFIRMED", 0),
            "status_notices_lost": v.status_notices_lost,
            "duplicate_deliveries_sent": v.ws_duplicates_sent + v.ws_replays_sent,
            "duplicate_fills_ignored_by_guard": _count(c, "duplicate_fills"),
            "buys_blocked": _count(c, "orders_blocked", side="buy"),
            "buys_resized": _count(c, "orders_resized", side="buy"),
            "sells_blocked": _count(c, "orders_blocked", side="sell"),
            "force_reconciles": _count(c, "force_reconciles"),
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


# ----------------------------------------------------------------------------------------------- display
def _fmt(v) -> str:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    if isinstance(v, float):
        return f"{v:.0f}"
    return str(v)


def format_summary(s: dict, journal: Optional[Path] = None, wall_s: Optional[float] = None) -> str:
    held = not s["limit_violations"]
    unlabelled = s["fills_confirmed"] - s["fills_confirmed_by_identity"] - s["fills_confirmed_by_sums"]
    over = s["max_conservative_exposure"] > s["max_position"]
    lines = [
        "inventory-guard demo: summary",
        f"  simulated {s['sim_seconds'] / 60:.1f} min of market making on sim_clob {TRADING_PAIR} (seed {s['seed']})"
        + (f" in {wall_s:.1f} s" if wall_s is not None else ""),
        f"  fills seen by the guard      {s['fills_seen_by_guard']:>5}   (venue matched {s['venue_trades_matched']} "
        f"trades, confirmed {s['venue_trades_confirmed']}; {s['confirmed_notices_seen']} CONFIRMED statuses reached "
        f"the connector, {s['status_notices_lost']} status notices were lost)",
        f"  fills confirmed              {s['fills_confirmed']:>5}   (by identity {s['fills_confirmed_by_identity']}, "
        f"by sums {s['fills_confirmed_by_sums']}" + (f", unlabelled {unlabelled}" if unlabelled else "")
        + ")",
        f"  phantom fills caught         {s['phantom_fills_dropped_on_failed_report']:>5}   (dropped on the venue's "
        f"FAILED report; the venue failed {s['venue_trades_failed']} matched trades)",
        f"  unconfirmed fills aged out   {s['phantom_fills_aged_out']:>5}   (phantoms whose FAILED report was lost, "
        f"and fills no snapshot could attribute)",
        f"  duplicate fills ignored      {s['duplicate_fills_ignored_by_guard']:>5}   (the venue re-sent "
        f"{s['duplicate_deliveries_sent']} trade messages; exact copies never leave Hummingbot's order tracker)",
        f"  buys blocked / resized       {s['buys_blocked']:>5} / {s['buys_resized']}",
        f"  force reconciles             {s['force_reconciles']:>5}   (the user stream dropped "
        f"{s['user_stream_disconnects']} times)",
        f"  max conservative exposure    {_fmt(s['max_conservative_exposure']):>5}   vs limit {_fmt(s['max_position'])}"
        f"{' (ABOVE: over-counted)' if over else ''}   (venue worst-case exposure peaked at "
        f"{_fmt(s['max_true_exposure'])})",
        ("  limit held at the venue        yes" if held else
         f"  limit held at the venue         NO   (worst-case exposure above the limit on {s['limit_violations']} "
         f"simulated seconds)"),
    ]
    if s["undercount_steps"]:
        lines.append(f"  guard below venue exposure   {s['undercount_steps']:>5}   simulated seconds (see the journal)")
    lines.append(f"  final position: venue settled {_fmt(s['final_settled_position'])} (with unsettled trades "
                 f"{_fmt(s['final_true_position'])}); guard confirmed {_fmt(s['final_confirmed'])}, conservative "
                 f"exposure {_fmt(s['final_conservative_exposure'])}")
    if journal is not None:
        lines.append(f"  journal: {journal}")
    return "\n".join(lines)


def _status_line(session: GuardedSimSession) -> str:
    c = session.counters()
    try:
        st = session.bridge.state(session.market)
        cons, conf, pend = st.conservative_exposure, st.confirmed, st.pending_fills
    except Exception:
        cons = conf = pend = "-"
    v = session.venue
    return (f"t={(session.driver.now - session.driver.start_time):6.0f}s mid={v.mid:.3f} "
            f"venue pos={_fmt(v.true_position())} settled={_fmt(v.settled_base)} | guard confirmed={_fmt(conf)} "
            f"exposure={_fmt(cons)}/{_fmt(session.settings.max_position)} pending={pend} | fills={_count(c, 'fills')} "
            f"phantom={_count(c, 'fills_failed')} aged_out={_count(c, 'fills_aged_out')} dup={_count(c, 'duplicate_fills')} "
            f"blocked={_count(c, 'orders_blocked', side='buy')} resized={_count(c, 'orders_resized', side='buy')} "
            f"reconciles={_count(c, 'force_reconciles')}")


def _live_screen(session: GuardedSimSession, metrics: Optional[str], wall0: float, sim_total: float) -> str:
    v = session.venue
    elapsed = session.driver.now - session.driver.start_time
    head = [f"inventory-guard demo  |  sim_clob {TRADING_PAIR}  |  simulated {elapsed:5.0f}/{sim_total:.0f} s  |  "
            f"wall {time.monotonic() - wall0:4.0f} s  |  Ctrl-C stops",
            f"venue: mid {v.mid:.3f}  settled {_fmt(v.settled_base)}  incl. unsettled {_fmt(v.true_position())}  "
            f"live buys {_fmt(v.open_buy_size())}  worst-case exposure {_fmt(v.true_exposure())}  "
            f"user stream {'up' if v.ws_connected else 'DOWN'}",
            ""]
    try:
        table = session.bridge.format_status()
    except Exception as exc:
        table = f"  (status unavailable: {exc!r})"
    tail = ["", _status_line(session)]
    if metrics:
        tail.append(f"metrics: {metrics}")
    return "\n".join(head) + "\n" + table + "\n" + "\n".join(tail)


# ----------------------------------------------------------------------------------------------- exporter
def _any_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_port_ok(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_exporter(journal: Path, port: int, out) -> Optional[subprocess.Popen]:
    if importlib.util.find_spec("inventory_guard_exporter") is None:
        print("demo: metrics not served (the exporter package inventory_guard_exporter is not installed)", file=out)
        return None
    if not _free_port_ok(port):
        print(f"demo: metrics not served: 127.0.0.1:{port} is in use", file=out)
        return None
    try:
        return subprocess.Popen([sys.executable, "-m", "inventory_guard_exporter", "--state", str(journal),
                                 "--listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"demo: metrics not served: could not start the exporter ({exc})", file=out)
        return None


def stop_exporter(proc: Optional[subprocess.Popen]) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ----------------------------------------------------------------------------------------------- run
def run_demo(duration_s: float = 60, metrics_port: Optional[int] = None, seed: int = 7, out=sys.stdout, *,
             live: Optional[bool] = None, journal: Optional[str] = None, speed: float = 10.0,
             max_position: Decimal = D("100"), order_amount: Decimal = D("20"), log_file: Optional[str] = None) -> int:
    """Run the demo for ``duration_s`` wall seconds (``speed`` simulated seconds per wall second). Returns 0 when
    the run completed (also after Ctrl-C; the summary says whether the limit held), 2 on bad arguments.

    ``live``: refreshing status table (default True; only on a terminal: when ``out`` is not a TTY, or with
    ``live=False``, one status line is printed per simulated minute).
    ``journal``: SQLite journal path (default: a fresh temporary directory, kept and printed at the end).
    ``metrics_port``: serve the exporter's metrics on 127.0.0.1:PORT (0: any free port; None: not at all).
    Hummingbot's and the guard's log lines go to ``log_file`` (default: demo.log next to the journal)."""
    if duration_s <= 0 or speed <= 0:
        print("demo: --duration and --speed must be positive", file=out)
        return 2
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    if live is None or not is_tty:        # the refreshing table needs a terminal; otherwise print lines
        live = bool(live is not False and is_tty)
    if journal:
        journal_path = Path(journal).expanduser().resolve()
        journal_path.parent.mkdir(parents=True, exist_ok=True)
    else:
        journal_path = Path(tempfile.mkdtemp(prefix="inventory-guard-demo-")) / "journal.sqlite"
    log_path = Path(log_file) if log_file else journal_path.with_name("demo.log")
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    # log lines would tear the status table: send them to the log file only, for the duration of the demo
    muted = [h for h in root.handlers if type(h) is logging.StreamHandler
             and getattr(h, "stream", None) in (sys.stderr, sys.stdout, out)]
    for h in muted:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return asyncio.run(_run(duration_s, metrics_port, seed, out, live, journal_path, speed,
                                D(max_position), D(order_amount), log_path))
    finally:
        root.removeHandler(handler)
        for h in muted:
            root.addHandler(h)
        root.setLevel(old_level)
        handler.close()


async def _run(duration_s, metrics_port, seed, out, live, journal_path, speed, max_position, order_amount,
               log_path) -> int:
    # the simulated clock starts at the current wall time (whole seconds) so journal times look like real ones
    settings = SessionSettings(seed=seed, max_position=max_position, order_amount=order_amount, venue=DEMO_VENUE,
                               start_time=float(int(time.time())))
    sim_total = duration_s * speed
    stop = {"flag": False}
    loop = asyncio.get_running_loop()
    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, lambda: stop.__setitem__("flag", True))
        installed = True
    exporter = None
    metrics_url = None
    chart = None
    with headless_hummingbot():
        session = GuardedSimSession(settings, journal_path)
        try:
            await session.start()
            if metrics_port is not None:
                port = int(metrics_port) or _any_free_port()
                exporter = start_exporter(journal_path, port, out)
                if exporter is not None:
                    metrics_url = f"http://127.0.0.1:{port}/metrics"
            print(f"inventory-guard demo: market making on simulated {TRADING_PAIR} (seed {seed}), "
                  f"{sim_total / 60:g} simulated minutes in ~{duration_s:g} s; max_position {_fmt(max_position)}, "
                  f"quotes of {_fmt(order_amount)}", file=out)
            print(f"  journal {journal_path}  |  log {log_path}" + (f"  |  metrics {metrics_url}" if metrics_url
                                                                       else ""), file=out)
            out.flush()
            wall0 = time.monotonic()
            next_report = [60.0]
            last_draw = [0.0]

            def show(t: float):
                elapsed = t - session.driver.start_time
                if live:
                    now = time.monotonic()
                    if now - last_draw[0] >= 0.25:
                        last_draw[0] = now
                        out.write("\x1b[H\x1b[2J" + _live_screen(session, metrics_url, wall0, sim_total) + "\n")
                        out.flush()
                elif elapsed >= next_report[0]:
                    next_report[0] += 60.0
                    print(_status_line(session), file=out)
                    out.flush()
            session.driver.on_step.append(show)
            wall_cap = duration_s * 1.5 + 10
            try:
                await session.run(sim_total, realtime_factor=speed,
                                  should_stop=lambda: stop["flag"] or time.monotonic() - wall0 > wall_cap)
            except (KeyboardInterrupt, asyncio.CancelledError):
                stop["flag"] = True
            wall = time.monotonic() - wall0
            summary = session.summary()
            chart = session.write_chart(journal_path.with_name("chart.svg"))
        finally:
            await session.stop()
            stop_exporter(exporter)
            if installed:
                loop.remove_signal_handler(signal.SIGINT)
    if live:
        out.write("\x1b[H\x1b[2J")
    if stop["flag"]:
        print("demo: interrupted", file=out)
    print(format_summary(summary, journal_path, wall), file=out)
    if chart is not None:
        print(f"  chart: {chart}", file=out)
    out.flush()
    return 0


# ----------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--duration", type=float, default=60.0, help="wall-clock seconds to run (default 60)")
    p.add_argument("--speed", type=float, default=10.0,
                   help="simulated seconds per wall second (default 10: 60 s is a 10-minute session)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the simulated venue (default 7)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve the exporter's Prometheus metrics on 127.0.0.1:PORT")
    p.add_argument("--no-live", action="store_true", help="print a status line per simulated minute instead of "
                   "the refreshing table (the default when stdout is not a terminal)")
    p.add_argument("--journal", default=None, help="journal path (default: a new temporary directory)")
    p.add_argument("--max-position", default="100", help="the guard's max_position (default 100)")
    p.add_argument("--order-amount", default="20", help="quote size (default 20)")
    return p


def run_from_args(args: argparse.Namespace, out=sys.stdout) -> int:
    return run_demo(duration_s=args.duration, metrics_port=args.metrics_port, seed=args.seed, out=out,
                    live=False if args.no_live else None, journal=args.journal, speed=args.speed,
                    max_position=D(args.max_position), order_amount=D(args.order_amount))


def main(argv: Optional[List[str]] = None) -> int:
    p = add_arguments(argparse.ArgumentParser(prog="inventory-guard demo", description=__doc__.split("\n\n")[0]))
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
