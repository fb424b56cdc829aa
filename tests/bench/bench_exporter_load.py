"""Burst benchmark of the exporter: N scrapes at the same instant, beside the server it replaced.

    python tests/bench/bench_exporter_load.py [--clients 200] [--markets 1000] [--timeout 30] [--no-reference]

Writes one journal of ``--markets`` markets with the real core (the layout of ``bench_exporter.py``), then for each
server starts it on a free 127.0.0.1 port, warms it up, and releases ``--clients`` client threads at once; each
connects, sends one GET /metrics and reads the whole body, with ``--timeout`` seconds for all of it. Two loads:
Prometheus 2.42's headers (text format, gzip) and a client without Accept-Encoding (the full text body).

Servers:
  * exporter: ``python -m inventory_guard_exporter`` as shipped.
  * reference: what the exporter was before (``http.server.ThreadingHTTPServer``: listen backlog 5, a thread per
    connection, each request reading the journal itself), same reader and renderer.

Prints answered/total and p50/p99/max latency of the answered scrapes, the server's peak thread count and the
kernel's listen-queue drop counter (``TcpExt ListenDrops``, system-wide) over the burst. Then it holds ``--idle``
connections that send nothing and prints threads, descriptors and RSS before, while held (with one scrape's
latency) and 3 s later. Exit status 1 when the exporter misses the target: all
answered and p99 < 1 s under Prometheus headers.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from bench_exporter import PROMETHEUS_2_42_ACCEPT, REPO, stop_process, write_fleet  # the script's folder is on sys.path

REFERENCE = textwrap.dedent(
    """
    import gzip, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
    from inventory_guard_exporter.collector import StateCollector
    from inventory_guard_exporter.negotiate import wants_gzip
    from inventory_guard_exporter.render import TEXT_CONTENT_TYPE, render_text
    from inventory_guard_exporter.targets import Targets

    collector = StateCollector(Targets(paths=tuple(sys.argv[1:])))
    standard = CollectorRegistry()
    for c in (ProcessCollector, PlatformCollector, GCCollector):
        c(registry=standard)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = render_text(collector.families()).encode() + generate_latest(standard)
            gz = wants_gzip(self.headers.get("Accept-Encoding"))
            body = gzip.compress(body, compresslevel=1) if gz else body
            self.send_response(200)
            self.send_header("Content-Type", TEXT_CONTENT_TYPE)
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True  # request_queue_size stays socketserver's 5

    server = Server(("127.0.0.1", 0), Handler)
    print(f"serving http://127.0.0.1:{server.server_address[1]}/metrics", file=sys.stderr, flush=True)
    server.serve_forever()
    """
)


class Server:
    def __init__(self, args: list[str]):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO / "exporter"), str(REPO / "connector_plugin"), os.environ.get("PYTHONPATH", "")]
        )}
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        stderr = self.proc.stderr
        assert stderr is not None
        line = stderr.readline()
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", line)
        if not match:
            self.stop()
            raise SystemExit(f"server did not start: {line}")
        self.port = int(match.group(1))
        threading.Thread(target=lambda: [None for _ in stderr], daemon=True).start()  # drain logs

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        stop_process(self.proc)


def scrape(port: int, headers: dict[str, str], timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or not body:
            raise RuntimeError(f"status {response.status}")
        return len(body)
    finally:
        conn.close()


def listen_drops() -> int | None:
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=True)).get("ListenDrops")
    return None


def burst(server: Server, clients: int, headers: dict[str, str], timeout: float) -> dict:
    """Release ``clients`` scrapes at once; each must finish within ``timeout`` s of the release."""
    go = threading.Barrier(clients + 1)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    released = [0.0]

    def client():
        go.wait()
        try:
            scrape(server.port, headers, timeout)
            elapsed = time.perf_counter() - released[0]
            with lock:
                if elapsed <= timeout:
                    latencies.append(elapsed)
                else:
                    failures.append("over the timeout")
        except Exception as exc:  # a failed scrape is a measurement
            with lock:
                failures.append(type(exc).__name__)

    peak_threads = [server.threads()]
    done = threading.Event()

    def sample_threads():
        while not done.wait(0.05):
            peak_threads[0] = max(peak_threads[0], server.threads())

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    sampler = threading.Thread(target=sample_threads, daemon=True)
    sampler.start()
    drops = listen_drops()
    released[0] = time.perf_counter()
    go.wait()
    for t in threads:
        t.join(timeout + 30)
    after = listen_drops()
    done.set()
    sampler.join()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "answered": len(latencies), "p50": pct(0.50), "p99": pct(0.99), "max": latencies[-1] * 1000 if latencies else
        float("nan"), "failures": failures, "drops": None if drops is None or after is None else after - drops,
        "threads": peak_threads[0],
    }


def idle(server: Server, count: int, wait: float) -> str:
    """Hold ``count`` connections that send nothing; one scrape meanwhile; what is left after ``wait`` s."""
    before = (server.threads(), server.fds(), server.rss_mb())
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        time.sleep(0.5)
        held = (server.threads(), server.fds(), server.rss_mb())
        started = time.perf_counter()
        try:
            scrape(server.port, {"Accept": PROMETHEUS_2_42_ACCEPT, "Accept-Encoding": "gzip"}, 30)
            during = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        except Exception as exc:  # a failed scrape is a measurement
            during = type(exc).__name__
        time.sleep(wait)
        closed = 0
        for sock in socks:
            sock.settimeout(0.01)
            try:
                closed += sock.recv(1) == b""
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                closed += 1
        after = (server.threads(), server.fds(), server.rss_mb())
    finally:
        for sock in socks:
            sock.close()
    fmt = "{} threads, {} fds, {:.0f} MB"
    return (f"before {fmt.format(*before)}; holding {count}: {fmt.format(*held)}, a scrape took {during}; "
            f"{wait:g} s later: {closed}/{count} closed by the server, {fmt.format(*after)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--markets", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds each scrape may take (default 30)")
    parser.add_argument("--no-reference", action="store_true", help="skip the previous server")
    parser.add_argument("--idle", type=int, default=500, help="idle connections held open (default 500; 0: skip)")
    args = parser.parse_args()
    loads: tuple[tuple[str, dict[str, str]], ...] = (
        ("Prometheus 2.42 headers (text, gzip)", {"Accept": PROMETHEUS_2_42_ACCEPT, "Accept-Encoding": "gzip"}),
        ("no Accept-Encoding (full text body)", {}),
    )
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        (path,) = write_fleet(Path(scratch), 1, args.markets)
        servers = [("exporter", [sys.executable, "-m", "inventory_guard_exporter", "--listen", "127.0.0.1:0",
                                 "--journal", str(path), "--request-timeout", "2"])]
        if not args.no_reference:
            servers.append(("reference: http.server, backlog 5", [sys.executable, "-c", REFERENCE, str(path)]))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.clients} simultaneous scrapes of a "
              f"{args.markets}-market journal, {args.timeout:g} s allowed per scrape")
        idle_lines: list[str] = []
        row = "{:<36} {:<38} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}"
        print(row.format("server", "load", "answered", "p50 ms", "p99 ms", "max ms", "threads", "drops"))
        print(row.format("", "", "", "", "", "", "(peak)", "(all)"))
        for name, command in servers:
            server = Server(command)
            try:
                for _ in range(3):
                    scrape(server.port, {}, 30)  # warm-up
                for load, headers in loads:
                    result = burst(server, args.clients, headers, args.timeout)
                    passed = result["answered"] == args.clients and result["p99"] < 1000
                    if name == "exporter" and headers:
                        ok &= passed
                    drops = "n/a" if result["drops"] is None else result["drops"]
                    print(row.format(name, load, f"{result['answered']}/{args.clients}", f"{result['p50']:.0f}",
                                     f"{result['p99']:.0f}", f"{result['max']:.0f}", result["threads"], drops))
                    if result["failures"]:
                        kinds = sorted(set(result["failures"]), key=str)
                        print(f"{'':<36}   not answered: {len(result['failures'])} ({', '.join(map(str, kinds))})")
                    time.sleep(1)  # let the previous burst's connections close
                if args.idle:
                    idle_lines.append(f"{name}: {idle(server, args.idle, 3)}")
            finally:
                server.stop()
    if idle_lines:
        print(f"\n{args.idle} idle connections (the exporter runs with --request-timeout 2 here; default 10 s):")
        for line in idle_lines:
            print("  " + line)
    print("target (exporter, Prometheus headers): all answered, p99 < 1 s:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
