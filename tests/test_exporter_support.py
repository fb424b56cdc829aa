"""Helpers for the exporter tests (no tests here): run the exporter as a real process, scrape it, parse samples.

Everything listens on 127.0.0.1 with a port the OS picks (``--listen 127.0.0.1:0``; the startup line names the
real one), every wait is a bounded poll, and every process started is stopped.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
STARTUP = re.compile(r"serving (http://\S+)/metrics, watching ")
PROMETHEUS_2_42_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def poll(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class RunningExporter:
    """``python -m inventory_guard_exporter ARGS --listen 127.0.0.1:0`` with its stderr collected."""

    def __init__(self, *args: str):
        self.args = [sys.executable, "-m", "inventory_guard_exporter", *args]
        if "--listen" not in args:
            self.args += ["--listen", "127.0.0.1:0"]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.url = ""

    def start(self, timeout: float = 15.0) -> "RunningExporter":
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        match = poll(lambda: self._find(STARTUP) or self.proc.poll() is not None, timeout, what="the startup line")
        if match is True:
            raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.log}")
        self.url = match.group(1)
        return self

    def _read_stderr(self) -> None:
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
        return poll(lambda: text in self.log and self.log, timeout, what=f"log line containing {text!r}")

    def get(self, path: str = "/metrics", headers: dict[str, str] | None = None) -> "Response":
        return http_get(self.url + path, headers)

    def metrics(self) -> dict[tuple, float]:
        response = self.get()
        assert response.status == 200, response
        return parse_samples(response.text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)


@contextmanager
def running_exporter(*args: str):
    exporter = RunningExporter(*args)
    try:
        yield exporter.start()
    finally:
        if hasattr(exporter, "proc"):
            exporter.stop()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        body = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        return body.decode()


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


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


def write_raw_journal(path: Path, bot: str, markets: dict[str, str], counters=(), histograms=()) -> None:
    """A journal written row by row against the documented schema, for edge cases the core never produces.

    ``markets`` maps market -> connector; every quantity is a fixed, recognisable value.
    """
    import json
    import sqlite3

    from inventory_guard.schema import DDL

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(DDL)
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("bot", bot), ("created_at", "0")])
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


def free_port() -> int:
    """A port that was free a moment ago (for programs that cannot report the port they bound)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_threads(pid: int) -> int:
    """Threads of a running process (Linux ``/proc``)."""
    import os

    return len(os.listdir(f"/proc/{pid}/task"))


def process_fds(pid: int) -> int:
    """Open file descriptors of a running process (Linux ``/proc``)."""
    import os

    return len(os.listdir(f"/proc/{pid}/fd"))


def exporter_address(exporter: "RunningExporter") -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(exporter.url)
    return parts.hostname, parts.port


def read_until_closed(sock, timeout: float = 10.0) -> bytes:
    """Everything the peer sends until it closes (AssertionError after ``timeout`` s without the close)."""
    import socket

    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return b"".join(chunks)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
    raise AssertionError(f"the server kept the connection open for {timeout} s; received {b''.join(chunks)[:200]!r}")
