"""Helpers for the exporter tests: run the exporter as a real process, scrape it, parse samples, write journals.

Everything listens on 127.0.0.1 with a port the OS picks (``--listen 127.0.0.1:0``; the startup line names the
real one), every wait is a bounded poll, and every process started is stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inventory_guard.config import GuardConfig
from inventory_guard.events import parse_event
from inventory_guard.journal import Journal
from inventory_guard.schema import DDL, SCHEMA_VERSION, V1_COUNTERS, V1_STATE_COLUMNS
from support import REPO
from support.net import Response, http_get
from support.processes import stop_process
from support.waiting import wait_until

STARTUP = re.compile(r"serving (http://\S+)/metrics, watching ")
PROMETHEUS_2_42_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class RunningExporter:
    """``python -m inventory_guard_exporter ARGS --listen 127.0.0.1:0`` with its stderr collected."""

    def __init__(self, *args: str):
        self.args = [sys.executable, "-m", "inventory_guard_exporter", *args]
        if "--listen" not in args:
            self.args += ["--listen", "127.0.0.1:0"]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.url = ""

    def start(self, timeout: float = 15.0) -> RunningExporter:
        self.proc = subprocess.Popen(
            self.args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        match = wait_until(lambda: self._find(STARTUP) or self.proc.poll() is not None, timeout, "the startup line")
        if match is True:
            raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.log}")
        self.url = match.group(1)
        return self

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self._lines.append(line)

    def _find(self, pattern: re.Pattern):
        with self._lock:
            for line in self._lines:
                if m := pattern.search(line):
                    return m
        return None

    @property
    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        return wait_until(lambda: text in self.log and self.log, timeout, f"log line containing {text!r}")

    def get(self, path: str = "/metrics", headers: dict[str, str] | None = None) -> Response:
        return http_get(self.url + path, headers)

    def metrics(self) -> dict[tuple, float]:
        response = self.get()
        assert response.status == 200, response
        return parse_samples(response.text)

    def stop(self) -> None:
        stop_process(self.proc)
        self._reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextmanager
def running_exporter(*args: str):
    exporter = RunningExporter(*args)
    try:
        yield exporter.start()
    finally:
        if hasattr(exporter, "proc"):
            exporter.stop()


def parse_samples(text: str) -> dict[tuple, float]:
    """{(sample name, ((label, value), ...sorted)): value} using prometheus_client's own text parser."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples


def series(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The value of the one series ``name{labels}`` (KeyError naming what exists when absent)."""
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        near = [k for k in samples if k[0] == name][:5]
        raise KeyError(f"no series {key}; some {name} series: {near}")
    return samples[key]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: install Debian's prometheus package "
            "(bash connector_plugin/bootstrap.sh test does it, or apt-get install prometheus)"
        )
    return path


def promtool_check_metrics(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)


# --- journals -----------------------------------------------------------------------------------------------------

CONFIG = {
    "bot_name": "b1",
    "connector": "binance",
    "max_position": "100",
    "pending_fill_max_age_s": "30",
    "markets": {"BTC-USDT": {"max_position": "50"}, "ETH-USDT": {"connector": "kucoin", "max_position": "80"}},
}

# Touches every metric: confirmations (histogram), duplicates, out-of-order snapshots, resizes, blocks, a failed trade,
# an age-out, a force reconcile, a halt, open orders on both sides.
SCENARIO = [
    {"t": 1, "type": "snapshot", "market": "BTC-USDT", "size": "10"},
    {"t": 2, "type": "fill", "market": "BTC-USDT", "side": "buy", "size": "3", "trade_id": "T1", "order_id": "O1"},
    {"t": 2.5, "type": "fill", "market": "BTC-USDT", "side": "buy", "size": "3", "trade_id": "T1", "order_id": "O1"},
    {"t": 3.75, "type": "snapshot", "market": "BTC-USDT", "size": "13"},
    {"t": 4, "type": "snapshot", "market": "BTC-USDT", "size": "13", "as_of": "2"},
    {"t": 5, "type": "fill", "market": "BTC-USDT", "side": "sell", "size": "2", "trade_id": "T2"},
    {"t": 6, "type": "check", "market": "BTC-USDT", "side": "buy", "size": "100"},
    {"t": 6, "type": "check", "market": "BTC-USDT", "side": "sell", "size": "1000"},
    {"t": 6.5, "type": "order_open", "market": "BTC-USDT", "order_id": "O2", "side": "sell", "size": "1.5"},
    {"t": 7, "type": "fill", "market": "ETH-USDT", "side": "buy", "size": "1", "trade_id": "T3"},
    {"t": 8, "type": "trade_failed", "trade_id": "T3"},
    {"t": 9, "type": "fill", "market": "ETH-USDT", "side": "buy", "size": "2", "trade_id": "T4"},
    {"t": 45, "type": "tick"},
    {"t": 46, "type": "order_open", "market": "ETH-USDT", "order_id": "O9", "side": "buy", "size": "5"},
    {"t": 47, "type": "force_reconcile", "market": "ETH-USDT", "size": "4", "reason": "ws_reconnect"},
    {"t": 48, "type": "fill", "market": "ETH-USDT", "side": "sell", "size": "0.5", "trade_id": "T5"},
    {"t": 50, "type": "halt", "market": "ETH-USDT", "reason": "test halt"},
    {"t": 51, "type": "check", "market": "ETH-USDT", "side": "buy", "size": "1"},
    {"t": 52, "type": "fill", "market": "BTC-USDT", "side": "sell", "size": "2", "trade_id": "T6"},
    {"t": 55, "type": "tick"},
]


def write_journal(path: Path, events: list[dict], config: dict = CONFIG) -> Journal:
    """A journal written by the real core from JSON-like events (left open: the caller closes it)."""
    journal = Journal.open(path, GuardConfig.model_validate(config))
    for event in events:
        journal.apply(parse_event(event))
    journal.flush()  # state tables are batched during bursts; a bot's next tick writes them within a second
    return journal


def write_raw_journal(path: Path, bot: str, markets: dict[str, str], counters=(), histograms=()) -> None:
    """A journal written row by row against the documented schema, for edge cases the core never produces.

    ``markets`` maps market -> connector; every quantity is a fixed, recognisable value.
    """
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(DDL)
    con.executemany("INSERT INTO meta VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("bot", bot), ("created_at", "0")])
    for market, connector in markets.items():
        con.execute(
            "INSERT INTO market_state VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (market, connector, "10.5", None, "12.25", "1.75", "0", 2, "0", "3", "1", "15.25", "10.5", "50", 30.0, 0,
             None, None, 1.5, None, 101.0, 7, 1700000000.0),
        )
    con.executemany(
        "INSERT INTO market_counters VALUES (?,?,?,?)",
        [(m, n, json.dumps(labels, sort_keys=True), v) for m, n, labels, v in counters],
    )
    con.executemany(
        "INSERT INTO market_histograms VALUES (?,?,?,?,?)",
        [(m, n, json.dumps(buckets), s, c) for m, n, buckets, s, c in histograms],
    )
    con.commit()
    con.close()


def as_schema_v1(path: Path) -> None:
    """Turn a (closed) journal into one as schema version 1 wrote it: the old column and counter names, version 1."""
    con = sqlite3.connect(path)
    with con:
        for old, new in V1_STATE_COLUMNS.items():
            con.execute(f"ALTER TABLE market_state RENAME COLUMN {new} TO {old}")
        con.executemany("UPDATE market_counters SET name = ? WHERE name = ?", list(V1_COUNTERS.items()))
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        con.execute("PRAGMA user_version=1")
    con.close()


def process_threads(pid: int) -> int:
    """Threads of a running process (Linux ``/proc``)."""
    return len(os.listdir(f"/proc/{pid}/task"))


def process_fds(pid: int) -> int:
    """Open file descriptors of a running process (Linux ``/proc``)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def exporter_address(exporter: RunningExporter) -> tuple[str, int]:
    parts = urlsplit(exporter.url)
    assert parts.hostname is not None and parts.port is not None, exporter.url
    return parts.hostname, parts.port


def read_until_closed(sock, timeout: float = 10.0) -> bytes:
    """Everything the peer sends until it closes (AssertionError after ``timeout`` s without the close)."""
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return b"".join(chunks)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
    raise AssertionError(f"the server kept the connection open for {timeout} s; received {b''.join(chunks)[:200]!r}")
