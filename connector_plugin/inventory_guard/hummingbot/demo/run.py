"""One demo run in the terminal: log lines to a file, the session on a clock ``speed`` times the wall clock, the
metrics sidecar, Ctrl-C, the refreshing display, then the summary and the chart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from . import report
from .exporter import any_free_port, start_exporter, stop_exporter
from .session import GuardedSimSession, headless_hummingbot
from .settings import DEMO_VENUE, SessionSettings


def run_demo(*, duration_s: float, speed: float, seed: int, max_position: Decimal, order_amount: Decimal,
             metrics_port: int | None, live: bool, journal: str | None, out=sys.stdout,
             log_file: str | None = None) -> int:
    """Run the demo for ``duration_s`` wall seconds (``speed`` simulated seconds per wall second); the options and
    their defaults are the command line's (``cli.add_arguments``). Returns 0 when the run completed (also after
    Ctrl-C; the summary says whether the limit held).

    ``live``: refreshing status table (only on a terminal: when ``out`` is not a TTY, or with ``live=False``, one
    status line is printed per simulated minute).
    ``journal``: SQLite journal path (None: a fresh temporary directory, kept and printed at the end).
    ``metrics_port``: serve the exporter's metrics on 127.0.0.1:PORT (0: any free port; None: not at all).
    Hummingbot's and the guard's log lines go to ``log_file`` (default: demo.log next to the journal)."""
    live = live and bool(getattr(out, "isatty", lambda: False)())   # the refreshing table needs a terminal
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
    # the simulated clock starts at the current wall time (whole seconds) so journal times look like real ones
    settings = SessionSettings(seed=seed, max_position=max_position, order_amount=order_amount,
                               venue=DEMO_VENUE, start_time=float(int(time.time())))
    try:
        return asyncio.run(_run(settings, duration_s, speed, metrics_port, live, journal_path, log_path, out))
    finally:
        root.removeHandler(handler)
        for h in muted:
            root.addHandler(h)
        root.setLevel(old_level)
        handler.close()


class _Display:
    """Called every simulated step: redraws the table (at most four times a wall second) when live, else prints a
    status line per simulated minute."""

    def __init__(self, session: GuardedSimSession, out, live: bool, metrics_url: str | None, wall0: float,
                 sim_total: float):
        self.session, self.out, self.live = session, out, live
        self.metrics_url, self.wall0, self.sim_total = metrics_url, wall0, sim_total
        self._next_line = 60.0
        self._last_draw = 0.0

    def __call__(self, t: float) -> None:
        if self.live:
            now = time.monotonic()
            if now - self._last_draw >= 0.25:
                self._last_draw = now
                screen = report.live_screen(self.session, self.metrics_url, self.wall0, self.sim_total)
                self.out.write("\x1b[H\x1b[2J" + screen + "\n")
                self.out.flush()
        elif t - self.session.driver.start_time >= self._next_line:
            self._next_line += 60.0
            print(report.status_line(self.session), file=self.out)
            self.out.flush()


async def _run(settings: SessionSettings, duration_s: float, speed: float, metrics_port: int | None, live: bool,
               journal_path: Path, log_path: Path, out) -> int:
    sim_total = duration_s * speed
    stop = {"flag": False}
    loop = asyncio.get_running_loop()
    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, lambda: stop.__setitem__("flag", True))
        installed = True
    exporter = None
    metrics_url = None
    with headless_hummingbot():
        session = GuardedSimSession(settings, journal_path)
        try:
            await session.start()
            if metrics_port is not None:
                port = int(metrics_port) or any_free_port()
                exporter = start_exporter(journal_path, port, out)
                if exporter is not None:
                    metrics_url = f"http://127.0.0.1:{port}/metrics"
            print(report.opening(session, duration_s, sim_total, journal_path, log_path, metrics_url), file=out)
            out.flush()
            wall0 = time.monotonic()
            session.driver.on_step.append(_Display(session, out, live, metrics_url, wall0, sim_total))
            wall_cap = duration_s * 1.5 + 10
            try:
                await session.run(sim_total, realtime_factor=speed,
                                  should_stop=lambda: stop["flag"] or time.monotonic() - wall0 > wall_cap)
            except (KeyboardInterrupt, asyncio.CancelledError):
                stop["flag"] = True
            wall = time.monotonic() - wall0
            summary = session.summary()
            chart = report.write_chart(session, journal_path.with_name("chart.svg"))
        finally:
            await session.stop()
            stop_exporter(exporter)
            if installed:
                loop.remove_signal_handler(signal.SIGINT)
    if live:
        out.write("\x1b[H\x1b[2J")
    if stop["flag"]:
        print("demo: interrupted", file=out)
    print(report.format_summary(summary, journal_path, wall), file=out)
    if chart is not None:
        print(f"  chart: {chart}", file=out)
    out.flush()
    return 0
