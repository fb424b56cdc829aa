"""The exporter under bursts, idle and slow clients, odd files, odd requests and signals: a real process on 127.0.0.1.

Specification checked here: 200 simultaneous scrapes are all answered by a fixed number of threads; connections
that never complete a request, and keep-alive connections left idle, are closed after their timeouts and their
file descriptors reclaimed, while scrapes go on being answered; a FIFO, a device or a directory given as a journal
(or matched by a glob) is ``journal_up 0`` with its reason and never blocks a scrape; HEAD is answered with headers
only; SIGHUP reloads ``--config`` and keeps serving; a client that disconnects early costs one debug line.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import signal
import socket
import sqlite3
import struct
import threading
import time

from support.exporter import (
    PROMETHEUS_2_42_ACCEPT,
    exporter_address,
    parse_samples,
    process_fds,
    process_threads,
    read_until_closed,
    running_exporter,
    series,
    write_raw_journal,
)
from support.net import http_get
from support.waiting import wait_until

UP = "inventory_guard_exporter_journal_up"
PROMETHEUS_HEADERS = {"Accept": PROMETHEUS_2_42_ACCEPT, "Accept-Encoding": "gzip"}


def journal(tmp_path, bot: str = "b1", markets: int = 2):
    path = tmp_path / f"{bot}.sqlite"
    write_raw_journal(path, bot, {f"M{i:04d}-USDT": "binance" for i in range(markets)})
    return path


def connect(exporter) -> socket.socket:
    return socket.create_connection(exporter_address(exporter), timeout=10)


# --- bursts -------------------------------------------------------------------------------------------------------


def test_200_simultaneous_scrapes_are_all_answered_by_a_fixed_pool(tmp_path, capsys):
    path = journal(tmp_path, markets=200)
    clients = 200
    with running_exporter("--journal", str(path)) as exporter:
        pid = exporter.proc.pid
        assert exporter.metrics()  # warm-up
        threads_before = process_threads(pid)
        go = threading.Barrier(clients + 1)
        latencies: list[float] = []
        bodies: list[bytes] = []
        failures: list[str] = []
        lock = threading.Lock()

        def client():
            go.wait()
            started = time.perf_counter()
            try:
                response = http_get(exporter.url + "/metrics", PROMETHEUS_HEADERS, timeout=30)
                assert response.status == 200, response.status
                with lock:
                    latencies.append(time.perf_counter() - started)
                    bodies.append(gzip.decompress(response.body))
            except Exception as exc:  # reported below
                with lock:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        peak = threads_before
        go.wait()
        while any(t.is_alive() for t in threads):
            peak = max(peak, process_threads(pid))
            time.sleep(0.01)
        for t in threads:
            t.join(timeout=60)
        samples = parse_samples(bodies[0].decode()) if bodies else {}

    latencies.sort()
    with capsys.disabled():
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
        print(f"\n  {len(latencies)}/{clients} simultaneous scrapes answered (200-market journal): "
              f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms; exporter threads {threads_before} before, {peak} at peak")
    assert failures == []
    assert len(latencies) == clients
    assert peak == threads_before  # the worker pool is fixed: no thread per connection
    assert series(samples, UP, bot="b1", path=str(path)) == 1
    assert all(b"inventory_guard_confirmed_position{" in body for body in bodies)


def test_healthz_answers_while_every_scrape_worker_waits_on_a_locked_journal(tmp_path):
    path = journal(tmp_path)
    config = tmp_path / "exporter.yaml"
    config.write_text(f"journals: [{path}]\nbusy_timeout_s: 3\n")
    with running_exporter("--config", str(config)) as exporter:
        assert exporter.metrics()
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("PRAGMA locking_mode=EXCLUSIVE")
            locker.execute("BEGIN EXCLUSIVE")
            locker.execute("UPDATE meta SET value = value WHERE key = 'bot'")
            scrapes = [connect(exporter) for _ in range(12)]  # more than the 8 scrape workers
            for sock in scrapes:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.3)  # the reads are now waiting for the lock
            started = time.perf_counter()
            health = exporter.get("/healthz")
            waited = time.perf_counter() - started
        finally:
            locker.close()
        for sock in scrapes:
            assert read_until_closed(sock).startswith(b"HTTP/1.1 200 OK\r\n")  # journal_up 0, answered
            sock.close()
    assert (health.status, health.text) == (200, "ok\n")
    assert waited < 1.5, waited  # not behind the 3 s lock wait


# --- idle, slow and kept-alive connections ---------------------------------------------------------------------------


def test_idle_partial_and_kept_alive_connections_are_closed_after_their_timeouts(tmp_path):
    path = journal(tmp_path)
    with running_exporter("--journal", str(path), "--request-timeout", "1", "--idle-timeout", "3") as exporter:
        pid = exporter.proc.pid
        assert exporter.metrics()
        threads_before, fds_before = process_threads(pid), process_fds(pid)

        kept_alive = []
        for _ in range(20):  # one complete request each, then left open (HTTP/1.1 keep-alive)
            conn = http.client.HTTPConnection(*exporter_address(exporter), timeout=10)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok\n")
            assert response.getheader("Connection") is None  # kept open
            kept_alive.append(conn)
        kept_since = time.monotonic()
        silent = [connect(exporter) for _ in range(300)]  # connect, send nothing
        partial = []
        for _ in range(20):  # a request head that never ends
            sock = connect(exporter)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            partial.append(sock)
        opened = time.monotonic()
        trickler = connect(exporter)  # a head that grows by a header every 0.1 s, never ending
        trickled: list[float] = []

        def trickle():
            try:
                trickler.sendall(b"GET /metrics HTTP/1.1\r\n")
                while time.monotonic() - opened < 10:
                    trickler.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.1)
            except OSError:
                trickled.append(time.monotonic() - opened)  # the server closed it

        slow = threading.Thread(target=trickle)
        slow.start()
        try:
            wait_until(lambda: process_fds(pid) >= fds_before + 340, 10, "the connections to be accepted")
            assert process_threads(pid) == threads_before  # an open connection costs a descriptor, not a thread

            started = time.perf_counter()  # scrapes are still answered meanwhile
            response = exporter.get(headers=PROMETHEUS_HEADERS)
            assert response.status == 200
            assert time.perf_counter() - started < 5

            for sock in partial:
                assert read_until_closed(sock).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            slow.join(15)
            assert trickled and trickled[0] < 5, trickled  # the request timeout bounds the whole head
            for sock in silent:
                assert read_until_closed(sock) == b""
            closed_silent = time.monotonic() - opened
            assert 0.9 <= closed_silent < 8, closed_silent  # request timeout 1 s (checked every 0.25 s)
            for conn in kept_alive:
                assert read_until_closed(conn.sock) == b""
            closed_kept = time.monotonic() - kept_since
            assert 2.9 <= closed_kept < 10, closed_kept  # idle timeout 3 s, after the faster request timeout

            wait_until(lambda: process_fds(pid) <= fds_before, 10, "descriptors to be reclaimed")
            assert process_threads(pid) == threads_before
            assert exporter.get("/healthz").status == 200
        finally:
            slow.join(15)
            for sock in silent + partial + [trickler]:
                sock.close()
            for conn in kept_alive:
                conn.close()
        assert "Traceback" not in exporter.log


# --- files that are not journals --------------------------------------------------------------------------------------


def test_fifo_device_and_directory_are_journal_up_0_without_blocking_the_scrape(tmp_path):
    good = journal(tmp_path, "good")
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    directory = tmp_path / "dir.sqlite"
    directory.mkdir()
    fleet = tmp_path / "fleet"
    (fleet / "a").mkdir(parents=True)
    (fleet / "b").mkdir()
    (fleet / "c" / "guard.sqlite").mkdir(parents=True)
    os.mkfifo(fleet / "a" / "guard.sqlite")
    write_raw_journal(fleet / "b" / "guard.sqlite", "fleet-b", {"m": "c"})
    odd = {
        str(fifo): "a FIFO (named pipe)",
        "/dev/null": "a character device",
        str(directory): "a directory",
        str(fleet / "a" / "guard.sqlite"): "a FIFO (named pipe)",
        str(fleet / "c" / "guard.sqlite"): "a directory",
    }
    with running_exporter(
        "--journal", str(fifo), "--journal", "/dev/null", "--journal", str(directory), "--journal", str(good),
        "--journal-glob", str(fleet / "*" / "guard.sqlite"),
    ) as exporter:
        for _ in range(2):  # the second scrape is not stuck behind the first either
            started = time.perf_counter()
            response = http_get(exporter.url + "/metrics", timeout=10)
            assert response.status == 200
            assert time.perf_counter() - started < 5
            samples = parse_samples(response.text)
            for path in odd:
                assert series(samples, UP, bot="unknown", path=path) == 0
            assert series(samples, UP, bot="good", path=str(good)) == 1
            assert series(samples, UP, bot="fleet-b", path=str(fleet / "b" / "guard.sqlite")) == 1
            assert series(samples, "inventory_guard_confirmed_position", bot="good", connector="binance",
                          market="M0000-USDT") == 10.5
        for path, kind in odd.items():
            exporter.wait_for_log(
                f"journal {path} (bot unknown) unreadable, exporting journal_up 0: not a regular file: it is {kind}"
            )


# --- HTTP details -----------------------------------------------------------------------------------------------------


def test_head_gets_the_headers_of_get_and_no_body(tmp_path):
    with running_exporter("--journal", str(journal(tmp_path))) as exporter:
        get = exporter.get("/metrics")
        sock = connect(exporter)
        # two pipelined requests: if HEAD sent a body, the second response would not start right after the head
        sock.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_until_closed(sock)
        sock.close()
        post = connect(exporter)
        post.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        refused = read_until_closed(post)
        post.close()
    first, second, rest = data.split(b"\r\n\r\n")
    assert rest == b""
    first_headers = dict(line.split(": ", 1) for line in first.decode().split("\r\n")[1:])
    second_headers = dict(line.split(": ", 1) for line in second.decode().split("\r\n")[1:])
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first_headers["Content-Type"] == get.headers["content-type"]
    assert abs(int(first_headers["Content-Length"]) - len(get.body)) < 200  # the scrape duration's digits vary
    assert second_headers["Content-Length"] == "3"  # "ok\n", not sent
    assert second_headers["Connection"] == "close"
    assert refused.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert b"\r\nAllow: GET, HEAD\r\n" in refused


def test_sighup_reloads_the_config_and_keeps_serving(tmp_path):
    first, second = journal(tmp_path, "first"), journal(tmp_path, "second")
    config = tmp_path / "exporter.yaml"
    config.write_text(f"journals: [{first}]\n")

    def up(exporter) -> dict[str, float]:
        return {dict(k[1])["bot"]: v for k, v in exporter.metrics().items() if k[0] == UP}

    with running_exporter("--config", str(config)) as exporter:
        assert up(exporter) == {"first": 1}
        config.write_text(f"journals: [{second}]\n")
        exporter.proc.send_signal(signal.SIGHUP)
        exporter.wait_for_log(f"SIGHUP: configuration reloaded from {config}, watching {second}")
        assert up(exporter) == {"second": 1}

        config.write_text("state: {not: a list}\n")
        exporter.proc.send_signal(signal.SIGHUP)
        exporter.wait_for_log(f"SIGHUP: configuration not reloaded from {config}, still serving the previous one")
        assert up(exporter) == {"second": 1}
        assert exporter.proc.poll() is None
    assert exporter.proc.returncode == 0  # and SIGTERM still stops it cleanly


def test_a_client_disconnecting_early_is_one_debug_line_not_a_traceback(tmp_path):
    path = journal(tmp_path, markets=2000)  # an 8 MB body: more than the socket buffers hold
    with running_exporter("--journal", str(path), "--log-level", "DEBUG") as exporter:
        assert exporter.metrics()
        for _ in range(10):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the body cannot all be buffered
            sock.connect(exporter_address(exporter))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert re.match(rb"HTTP/1\.[01] 200 OK\r\n", sock.recv(4096))  # the response has begun
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
            sock.close()
        wait_until(lambda: exporter.log.count("client went away") == 10, 20, "10 disconnect lines")
        assert exporter.get("/healthz").status == 200
        log = exporter.log
    went_away = [line for line in log.splitlines() if "client went away" in line]
    assert len(went_away) == 10
    assert all(" DEBUG " in line for line in went_away)
    assert "Traceback" not in log
    assert "BrokenPipe" not in log.replace("client went away before the response was sent (BrokenPipeError)", "")
