"""The exporter's HTTP server parts in process: shared scrapes, request heads, the regular-file check, reload."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from inventory_guard_exporter.cli import build_parser, load_config, main, reload
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.reader import JournalUnreadable, read_state
from inventory_guard_exporter.server import (
    MAX_HEAD_BYTES,
    BadRequest,
    ExporterHTTPServer,
    MetricsApp,
    ScrapeFailed,
    SharedScrape,
    parse_head,
)
from inventory_guard_exporter.targets import Targets
from support.exporter import write_raw_journal
from support.net import http_get
from support.waiting import wait_until

# --- concurrent scrapes share reads, never older than the request ---------------------------------------------------


class GatedBuild:
    """A build that counts its runs and waits for ``release`` before returning its number."""

    def __init__(self):
        self.runs = 0
        self.release = threading.Event()
        self.running = threading.Event()

    def __call__(self) -> int:
        self.runs += 1
        number = self.runs
        self.running.set()
        assert self.release.wait(10)
        return number


def call_in_threads(fn, count: int) -> tuple[list[threading.Thread], list]:
    results: list = []

    def run():
        try:
            results.append(fn())
        except Exception as exc:  # the test inspects it
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, results


def test_callers_arriving_during_a_read_share_the_next_read_not_the_running_one():
    build = GatedBuild()
    shared = SharedScrape(build)
    first_threads, first = call_in_threads(shared.get, 1)
    assert build.running.wait(10)
    build.running.clear()
    later_threads, later = call_in_threads(shared.get, 50)  # they arrive while read 1 runs
    time.sleep(0.2)
    assert build.runs == 1  # nobody starts a second read while one runs
    build.release.set()
    for t in first_threads + later_threads:
        t.join(10)
    assert first == [1]
    assert later == [2] * 50  # read 1 may predate them: they all got read 2, and only one read 2 ran
    assert build.runs == 2


def test_a_result_whose_read_started_after_the_request_is_reused():
    build = GatedBuild()
    build.release.set()
    shared = SharedScrape(build)
    arrived = time.monotonic()
    assert shared.get(arrived) == 1
    assert shared.get(arrived) == 1  # that read started after `arrived`: no new read
    assert shared.get() == 2  # a request arriving now needs a read that starts now


def test_a_failed_read_fails_every_caller_sharing_it_and_is_logged_once_per_read(caplog):
    gate = threading.Event()
    calls = []

    def failing():
        calls.append(1)
        gate.wait(10)
        raise RuntimeError("boom")

    shared = SharedScrape(failing)
    threads, results = call_in_threads(shared.get, 1)
    wait_until(lambda: calls, 10, "the read to start")
    more, more_results = call_in_threads(shared.get, 5)
    time.sleep(0.1)
    gate.set()
    for t in threads + more:
        t.join(10)
    assert all(isinstance(r, ScrapeFailed) for r in results + more_results)
    assert len(calls) == 2  # the first caller's read, and one read shared by the five that came during it
    assert caplog.text.count("RuntimeError: boom") == 2  # a traceback per read, not per caller
    with pytest.raises(ScrapeFailed):
        shared.get()  # the next request tries again
    assert len(calls) == 3


def test_metrics_bodies_are_encoded_once_per_read(tmp_path):
    write_raw_journal(tmp_path / "j.sqlite", "b", {"m": "c"})
    app = MetricsApp(StateCollector(Targets(paths=(str(tmp_path / "j.sqlite"),))))
    since = time.monotonic()
    text, text_type, gzipped = app.metrics(None, None, since)
    again, _, _ = app.metrics(None, None, since)
    zipped, _, zipped_flag = app.metrics(None, "gzip", since)
    openmetrics, om_type, _ = app.metrics("application/openmetrics-text; version=1.0.0", None, since)
    assert again is text  # same read, same bytes object
    assert (gzipped, zipped_flag) == (False, True)
    assert text_type.startswith("text/plain") and om_type.startswith("application/openmetrics-text")
    assert b'inventory_guard_exporter_journal_up{bot="b",path=' in text
    assert openmetrics.endswith(b"# EOF\n")


# --- request heads ---------------------------------------------------------------------------------------------------


def test_a_request_head_and_what_follows_it():
    request, rest = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\n\r\nGET /next")
    assert (request.method, request.path, request.version) == ("GET", "/metrics", "HTTP/1.1")
    assert request.headers["Accept"] == "text/plain"
    assert request.keep_alive
    assert rest == b"GET /next"  # pipelined: kept for the next request


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),  # HTTP/1.0: one request per connection
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", False),  # bodies are never read: close after
        (b"GET / HTTP/1.1\n\n", True),  # bare newlines, as http.server accepts
    ],
)
def test_keep_alive_only_for_http_1_1_without_close_or_a_body(head, keep_alive):
    assert parse_head(head)[0].keep_alive is keep_alive


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD_BYTES + 10), 431),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 431),  # more than http.client's 100 headers
    ],
)
def test_bad_request_heads_get_their_status(head, status):
    with pytest.raises(BadRequest) as caught:
        parse_head(head)
    assert caught.value.status == status


# --- only regular files are read --------------------------------------------------------------------------------------


def test_a_fifo_is_refused_before_sqlite_opens_it(tmp_path):
    fifo = tmp_path / "guard.sqlite"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_reason(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the open so the test process does not keep a stuck thread
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("reading a FIFO blocked")
    assert outcome == ["not a regular file: it is a FIFO (named pipe); only regular files are read as journals"]


def _reason(path) -> str:
    try:
        read_state(str(path))
    except JournalUnreadable as exc:
        return str(exc)
    return "read"


def test_a_symlink_to_a_journal_is_read_and_a_dangling_one_is_missing(tmp_path):
    write_raw_journal(tmp_path / "real.sqlite", "b", {"m": "c"})
    (tmp_path / "link.sqlite").symlink_to(tmp_path / "real.sqlite")
    (tmp_path / "dangling.sqlite").symlink_to(tmp_path / "gone.sqlite")
    assert read_state(str(tmp_path / "link.sqlite")).bot == "b"
    assert _reason(tmp_path / "dangling.sqlite") == "file does not exist"


def test_globs_list_directories_so_they_are_reported(tmp_path):
    (tmp_path / "a.sqlite").mkdir()
    (tmp_path / "b.sqlite").touch()
    assert Targets(globs=(str(tmp_path / "*.sqlite"),)).resolve() == [
        str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    ]


# --- command line and reload -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "3601", "soon"])
def test_timeouts_must_be_positive_seconds(value, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--journal", "x.sqlite", "--idle-timeout", value])
    assert caught.value.code == 2
    assert "--idle-timeout" in capsys.readouterr().err


def test_reload_applies_a_good_config_and_keeps_the_previous_one_when_bad(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="inventory_guard_exporter")
    config = tmp_path / "exporter.yaml"
    config.write_text("listen: 127.0.0.1:9464\njournals: [/a.sqlite]\n")
    args = build_parser().parse_args(["--config", str(config)])
    running = load_config(args)
    app = MetricsApp(StateCollector(Targets(paths=tuple(running.journals)), running.busy_timeout_s))

    config.write_text("listen: 127.0.0.1:9999\njournals: [/b.sqlite]\nopenmetrics: true\nbusy_timeout_s: 2\n")
    running = reload(args, running, app)
    assert app.collector.targets == Targets(paths=("/b.sqlite",))
    assert app.collector.busy_timeout_s == 2
    assert app.prefer_openmetrics is True
    assert running.listen == "127.0.0.1:9464"  # still the address it listens on
    assert "SIGHUP: listen 127.0.0.1:9999 needs a restart; still serving 127.0.0.1:9464" in caplog.text

    config.write_text("journals: [/c.sqlite]\nbogus: 1\n")
    assert reload(args, running, app) is running
    assert app.collector.targets == Targets(paths=("/b.sqlite",))
    assert "SIGHUP: configuration not reloaded from" in caplog.text
    assert "bogus: Extra inputs are not permitted" in caplog.text


# --- the server in process: limits that take a while to reach with the defaults ---------------------------------------


@contextmanager
def serving(tmp_path, markets: int = 2, **limits):
    path = tmp_path / "j.sqlite"
    write_raw_journal(path, "b", {f"M{i:04d}": "c" for i in range(markets)})
    server = ExporterHTTPServer("127.0.0.1", 0, MetricsApp(StateCollector(Targets(paths=(str(path),)))), **limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_client_that_never_reads_frees_its_worker_after_the_send_timeout(tmp_path):
    with serving(tmp_path, markets=2000, workers=1, send_timeout_s=1) as server:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(server.server_address)
        stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads the 6 MB answer
        time.sleep(0.2)
        started = time.monotonic()
        response = http_get(server.url + "/metrics", timeout=15)  # needs the one worker
        waited = time.monotonic() - started
        stuck.close()
    assert response.status == 200
    assert 0.5 < waited < 8, waited  # it waited for the send timeout (1 s), not forever


def test_clients_beyond_the_connection_limit_wait_in_the_backlog_and_are_answered(tmp_path):
    with serving(tmp_path, max_connections=16, request_timeout_s=1) as server:
        silent = [socket.create_connection(server.server_address, timeout=10) for _ in range(16)]
        try:
            started = time.monotonic()
            response = http_get(server.url + "/healthz", timeout=15)  # the 17th: accepted once one closes
            waited = time.monotonic() - started
        finally:
            for sock in silent:
                sock.close()
    assert (response.status, response.body) == (200, b"ok\n")
    assert 0.7 < waited < 8, waited  # held in the backlog until the silent ones timed out (1 s)
