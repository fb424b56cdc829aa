"""Scrape-time benchmark of the exporter over real HTTP, beside prometheus_client's in-memory floor.

    python tests/bench/bench_exporter.py [--scrapes 30] [--keep DIR]

For each layout (1 bot x 1,000 markets and 10 bots x 100 markets) it writes journals with the real core, starts
``python -m inventory_guard_exporter`` on a free 127.0.0.1 port, and times full HTTP scrapes (connect, request,
read the whole body). In the same run it times ``prometheus_client.generate_latest`` rendering exactly the samples
of one of those scrapes from memory (parsed into metric families beforehand): the floor. Targets from the issue:
median scrape <= 1.25 x floor and <= 120 ms. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inventory_guard.config import GuardConfig
from inventory_guard.events import parse_event
from inventory_guard.journal import Journal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the `support` helpers the tests use too
from support import REPO
from support.exporter import PROMETHEUS_2_42_ACCEPT
from support.processes import stop_process

LAYOUTS = (("1 bot x 1000 markets", 1, 1000), ("10 bots x 100 markets", 10, 100))
RATIO_TARGET, MS_TARGET = 1.25, 120.0


def market_events(market: str, t0: int) -> list[dict]:
    """A market with something in every table: confirmations, pending fills both ways, orders, checks."""
    return [
        {"t": t0, "type": "snapshot", "market": market, "size": "10"},
        {"t": t0 + 1, "type": "fill", "market": market, "side": "buy", "size": "2", "trade_id": f"{market}-1"},
        {"t": t0 + 2, "type": "snapshot", "market": market, "size": "12"},
        {"t": t0 + 3, "type": "fill", "market": market, "side": "sell", "size": "1", "trade_id": f"{market}-2"},
        {"t": t0 + 3, "type": "order_open", "market": market, "order_id": f"{market}-o", "side": "buy", "size": "3"},
        {"t": t0 + 4, "type": "check", "market": market, "side": "buy", "size": "500"},
        {"t": t0 + 4, "type": "check", "market": market, "side": "sell", "size": "1"},
    ]


def write_fleet(directory: Path, bots: int, markets: int) -> list[Path]:
    paths = []
    for b in range(bots):
        path = directory / f"bot{b}" / "guard.sqlite"
        config = GuardConfig.model_validate(
            {"bot_name": f"bot{b}", "connector": "binance", "max_position": "100", "pending_fill_max_age_s": "1e9"}
        )
        with Journal.open(path, config) as journal:
            for m in range(markets):
                for event in market_events(f"M{m:04d}-USDT", 1 + 10 * m):
                    journal.apply(parse_event(event))
        paths.append(path)
    return paths


class Exporter:
    def __init__(self, paths: list[Path]):
        args = [sys.executable, "-m", "inventory_guard_exporter", "--listen", "127.0.0.1:0"]
        for p in paths:
            args += ["--journal", str(p)]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stderr = self.proc.stderr
        assert stderr is not None
        line = stderr.readline()  # the startup line comes first
        match = re.search(r"serving (http://\S+)/metrics", line)
        if not match:
            self.stop()
            raise SystemExit(f"exporter did not start: {line}")
        url = urlsplit(match.group(1))
        assert url.hostname is not None
        self.host, self.port = url.hostname, url.port
        threading.Thread(target=lambda: [None for _ in stderr], daemon=True).start()  # drain logs

    def scrape(self, headers: dict[str, str] | None = None) -> tuple[float, bytes, dict]:
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request("GET", "/metrics", headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        assert response.status == 200, response.status
        return elapsed, body, dict(response.getheaders())

    def stop(self) -> None:
        stop_process(self.proc)


def median_ms(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.9 * (len(times) - 1))] * 1000


def floor_ms(body: str, runs: int) -> float:
    families = list(text_string_to_metric_families(body))

    class FromMemory:
        def collect(self):
            return families

    registry = CollectorRegistry()
    registry.register(FromMemory())
    generate_latest(registry)  # warm-up
    return median_ms(lambda: generate_latest(registry), runs)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--keep", metavar="DIR", help="write the journals here and keep them")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.scrapes} scrapes per measurement")
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(args.keep or scratch)
        for title, bots, markets in LAYOUTS:
            started = time.perf_counter()
            paths = write_fleet(base / title.replace(" ", "_"), bots, markets)
            written = time.perf_counter() - started
            exporter = Exporter(paths)
            try:
                for _ in range(3):
                    exporter.scrape()  # warm-up
                body = exporter.scrape()[1]
                samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
                plain = median_ms(exporter.scrape, args.scrapes)
                prom = median_ms(
                    partial(exporter.scrape, {"Accept": PROMETHEUS_2_42_ACCEPT, "Accept-Encoding": "gzip"}),
                    args.scrapes,
                )
                openm = median_ms(
                    partial(exporter.scrape, {"Accept": "application/openmetrics-text; version=1.0.0"}), args.scrapes
                )
                gz = exporter.scrape({"Accept-Encoding": "gzip"})[1]
            finally:
                exporter.stop()
            floor = floor_ms(body.decode(), args.scrapes)
            ratio = plain[0] / floor
            passed = ratio <= RATIO_TARGET and plain[0] <= MS_TARGET
            ok &= passed
            print(f"\n{title}: {samples} samples, {len(body) / 1e6:.2f} MB text ({len(gz) / 1e6:.2f} MB gzip), "
                  f"journals written by the core in {written:.1f} s")
            print("  {:<52}{:7.1f} ms median".format("floor: prometheus_client, same samples from memory", floor))
            verdict = f"{'PASS' if passed else 'FAIL'}: <= {RATIO_TARGET} x and <= {MS_TARGET:g} ms"
            row = "  {:<52}{:7.1f} ms median {:7.1f} ms p90"
            print(row.format("exporter over HTTP, text format", *plain) + f"  = {ratio:.2f} x floor  [{verdict}]")
            print(row.format("exporter over HTTP, Prometheus 2.42 headers", *prom) + "  (text format, gzip level 1)")
            print(row.format("exporter over HTTP, client insisting on OpenMetrics", *openm))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
