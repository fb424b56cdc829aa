"""HTTP endpoints: ``/metrics`` (text format, OpenMetrics on request, gzip when accepted) and ``/healthz``.

``/healthz`` answers 200 while the process serves requests; it does not read journals (their health is the
``inventory_guard_exporter_journal_up`` metric). GET and HEAD are answered; HEAD gets the same headers, no body.

How connections are served (the numbers are the defaults, see exporter/README.md):

* One thread (the caller of ``serve_forever``) accepts connections and reads request heads without blocking,
  watching every open connection with ``selectors``. An open connection costs a file descriptor, not a thread.
* A connection is handed to a fixed pool of ``workers`` (8) threads only once its whole request head has arrived,
  so a slow or idle client never holds a worker. A worker answers and gives a keep-alive connection back. One more
  thread answers everything but ``/metrics``, so ``/healthz`` never waits behind slow scrapes.
* Timeouts: a request head must arrive complete within ``request_timeout_s`` (10 s) of its first byte or of the
  connect; a keep-alive connection may wait ``idle_timeout_s`` (60 s) for its next request; a response must be read
  by the client within ``send_timeout_s`` (30 s). Past that the connection is closed (408 for a partial request).
* The listen backlog is 1,024 (capped by the kernel's ``somaxconn``). At most ``max_connections`` (1,024, or half
  the open-file limit if lower) are open at once; further clients wait in the backlog until one closes.
* Scrapes that arrive together share one read of the journals (``SharedScrape``): a request is answered from a read
  that started after its request head arrived, so no answer is older than its request, and 200 simultaneous scrapes
  cost two or three reads, not 200.
* A client that disconnects early is one debug line, never a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import gzip
import http.client
import io
import logging
import queue
import re
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE,
    generate_latest as generate_openmetrics,
)

from inventory_guard_exporter import __version__
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.families import Family
from inventory_guard_exporter.negotiate import wants_gzip, wants_openmetrics
from inventory_guard_exporter.render import TEXT_CONTENT_TYPE, render_text, to_client_metrics

log = logging.getLogger("inventory_guard_exporter")

REQUEST_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0
SEND_TIMEOUT_S = 30.0
WORKERS = 8
LISTEN_BACKLOG = 1024
MAX_CONNECTIONS = 1024
MAX_HEAD_BYTES = 32 * 1024  # request line plus headers; larger is 431
_TICK_S = 0.25  # how often timeouts are checked while connections are open
_ACCEPT_PAUSE_S = 0.5  # after the process ran out of file descriptors
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_TEXT_PLAIN = "text/plain; charset=utf-8"


# --- building the /metrics body ------------------------------------------------------------------------------------


class _Fixed:
    """A collector that yields metrics already collected (what ``generate_latest`` needs)."""

    def __init__(self, metrics: list):
        self.metrics = metrics

    def collect(self):
        return self.metrics


class Snapshot:
    """One read of every journal plus the process metrics; each encoding is built once, on first request."""

    def __init__(self, families: list[Family], standard: list):
        self.families = families
        self.standard = standard
        self._lock = threading.Lock()
        self._bodies: dict[tuple[bool, bool], bytes] = {}

    def body(self, openmetrics: bool, compress: bool) -> bytes:
        with self._lock:
            key = (openmetrics, compress)
            if key not in self._bodies:
                if compress:
                    plain = self._bodies.get((openmetrics, False)) or self._encode(openmetrics)
                    self._bodies[key] = gzip.compress(plain, compresslevel=1)
                else:
                    self._bodies[key] = self._encode(openmetrics)
            return self._bodies[key]

    def _encode(self, openmetrics: bool) -> bytes:
        if openmetrics:
            return generate_openmetrics(_Fixed([*to_client_metrics(self.families), *self.standard]))
        return render_text(self.families).encode() + generate_latest(_Fixed(self.standard))


class ScrapeFailed(Exception):
    """The shared read raised; the traceback was logged once by the request that ran it."""


class SharedScrape[T]:
    """Runs ``build`` for concurrent callers: each gets the result of a build that started after its request.

    At most one build runs at a time. ``get(since)`` returns the newest result if its build started at or after
    ``since`` (a ``time.monotonic()`` reading: when the request arrived); otherwise it waits for the running build
    and then starts one (or joins the one another caller started). Requests that arrive during a build therefore
    all share the next one, however many there are.
    """

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._changed = threading.Condition()
        self._building = False
        self._started_at = float("-inf")  # when the build whose outcome is in _result started
        self._result: T | None = None  # None: that build raised (a build returns a result, never None)

    def get(self, since: float | None = None) -> T:
        with self._changed:
            if since is None:
                since = time.monotonic()
            while self._started_at < since:
                if not self._building:
                    self._building = True
                    started_at = time.monotonic()  # >= since: taken after it, under the lock
                    break
                self._changed.wait()
            else:
                return self._outcome()
        result = None
        try:
            result = self._build()
        except Exception:
            log.exception("failed to read the journals for /metrics")
        finally:  # also on BaseException, so waiters are never stranded
            with self._changed:
                self._building = False
                self._started_at, self._result = started_at, result
                self._changed.notify_all()
        if result is None:
            raise ScrapeFailed
        return result

    def _outcome(self) -> T:
        if self._result is None:
            raise ScrapeFailed
        return self._result


class MetricsApp:
    """Builds response bodies; independent of the HTTP server so it can be measured alone."""

    def __init__(self, collector: StateCollector, prefer_openmetrics: bool = False):
        self.collector = collector
        self.prefer_openmetrics = prefer_openmetrics
        self.standard_registry = _with_standard_collectors(CollectorRegistry())
        self.shared = SharedScrape(self.snapshot)

    def snapshot(self) -> Snapshot:
        """Read every journal now (no sharing)."""
        return Snapshot(self.collector.families(), list(self.standard_registry.collect()))

    def metrics(
        self, accept: str | None, accept_encoding: str | None = None, since: float | None = None
    ) -> tuple[bytes, str, bool]:
        """(body, content type, gzipped) from a read of the journals that started after ``since`` (default now),
        shared with concurrent scrapes."""
        openmetrics = wants_openmetrics(accept, self.prefer_openmetrics)
        compress = wants_gzip(accept_encoding)
        body = self.shared.get(since).body(openmetrics, compress)
        return body, OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE, compress


def _with_standard_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """The process, platform and GC collectors prometheus_client puts in its default registry."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


# --- HTTP ----------------------------------------------------------------------------------------------------------

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_VERSION = re.compile(r"HTTP/1\.[01]")


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: http.client.HTTPMessage
    keep_alive: bool


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, reason: str):
        super().__init__(reason)
        self.status = status


def parse_head(buffer: bytes | bytearray) -> tuple[Request, bytearray]:
    """The request whose head starts ``buffer`` and the bytes after it (a pipelined next request)."""
    end = _HEAD_END.search(buffer)
    if end is None or end.start() > MAX_HEAD_BYTES:
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head over {MAX_HEAD_BYTES} bytes")
    line, _, header_bytes = buffer[: end.start()].partition(b"\n")
    parts = line.rstrip(b"\r").decode("latin-1").split()
    if len(parts) != 3:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad request line {line[:100]!r}")
    method, target, version = parts
    if not _VERSION.fullmatch(version):
        raise BadRequest(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"unsupported version {version[:20]!r}")
    try:
        headers = http.client.parse_headers(io.BytesIO(header_bytes + b"\r\n\r\n"))
    except http.client.HTTPException as exc:
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"bad headers: {exc}") from None
    tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    has_body = headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in headers
    keep_alive = version == "HTTP/1.1" and "close" not in tokens and not has_body  # bodies are never read
    return Request(method, target.split("?", 1)[0], version, headers, keep_alive), bytearray(buffer[end.end():])


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    peer: str
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    arrived: float = 0.0  # when the request head being answered was complete
    idle: bool = False  # waiting for the next request on a kept-alive connection
    busy: bool = False  # a worker owns it
    registered: bool = field(default=False, repr=False)

    def head_complete(self, scanned: int = 0) -> bool:
        """True once the buffer holds a whole request head, or more than one may be (answered 431).

        ``scanned``: how many bytes were already searched for the blank line that ends a head."""
        return len(self.buffer) > MAX_HEAD_BYTES or _HEAD_END.search(self.buffer, max(0, scanned - 3)) is not None


def _asks_for_metrics(buffer: bytearray) -> bool:
    """Whether the request line names /metrics: such requests wait for a read, the others go to their own worker."""
    parts = buffer.partition(b"\n")[0].split()
    return len(parts) > 1 and parts[1].split(b"?", 1)[0] == b"/metrics"


def listen_backlog() -> int:
    """1,024, or the kernel's ``net.core.somaxconn`` when that is lower (the kernel would cap it silently)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(1, min(LISTEN_BACKLOG, int(f.read())))
    except (OSError, ValueError):
        return LISTEN_BACKLOG


def connection_limit() -> int:
    """1,024 open connections, or half the open-file limit when that is lower (journals need descriptors too)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft // 2))


class ExporterHTTPServer:
    def __init__(
        self,
        host: str,
        port: int,
        app: MetricsApp,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
        workers: int = WORKERS,
        max_connections: int | None = None,
    ):
        self.app = app
        self.request_timeout_s = request_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.send_timeout_s = send_timeout_s
        self.workers = workers
        self.backlog = listen_backlog()
        self.max_connections = max_connections or connection_limit()
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:  # as http.server did: address reuse, the system's default for dual-stack IPv6
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(self.backlog)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._accepting = False
        self._accept_paused_until = 0.0
        self._next_sweep = 0.0
        self._conns: set[_Conn] = set()  # touched by the serving thread only
        self._scrapes: queue.SimpleQueue[_Conn | None] = queue.SimpleQueue()  # /metrics requests
        self._others: queue.SimpleQueue[_Conn | None] = queue.SimpleQueue()  # /healthz and the rest: never wait
        self._returned: collections.deque[tuple[_Conn, bool]] = collections.deque()  # from workers
        self._calls: collections.deque[Callable[[], None]] = collections.deque()  # run by the serving thread
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._workers = [
            threading.Thread(target=self._work, args=(self._scrapes,), name=f"exporter-scrape-{i}", daemon=True)
            for i in range(workers)
        ]
        self._workers.append(threading.Thread(target=self._work, args=(self._others,), name="exporter-other",
                                              daemon=True))
        for thread in self._workers:
            thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    # --- the serving thread ---------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self._stopped.clear()
        try:
            self._set_accepting(True)
            while not self._stop.is_set():
                self._run_calls()
                self._take_back()
                timeout = _TICK_S if self._conns or not self._accepting else None
                for key, _ in self._selector.select(timeout):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    elif not key.data.busy:
                        self._receive(key.data)
                self._expire()
        finally:
            self._stopped.set()

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the serving thread soon (safe from a signal handler or another thread)."""
        self._calls.append(fn)
        self._wake()

    def request_stop(self) -> None:
        """Make ``serve_forever`` return soon, without waiting (safe from a signal handler)."""
        self._stop.set()
        self._wake()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` and wait until it has returned (call from another thread)."""
        self.request_stop()
        self._stopped.wait()

    def server_close(self) -> None:
        self._stop.set()
        for _ in self._workers:
            self._scrapes.put(None)
            self._others.put(None)
        for conn in list(self._conns):
            conn.sock.close()
        self._conns.clear()
        self._selector.close()
        self.socket.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # buffer full (a wake-up is pending anyway) or closed
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _run_calls(self) -> None:
        while self._calls:
            fn = self._calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("scheduled call failed")

    def _set_accepting(self, accepting: bool) -> None:
        if accepting != self._accepting:
            if accepting:
                self._selector.register(self.socket, selectors.EVENT_READ, "listen")
            else:
                self._selector.unregister(self.socket)
            self._accepting = accepting

    def _accept(self) -> None:
        while len(self._conns) < self.max_connections:
            try:
                sock, address = self.socket.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # out of file descriptors or memory: let the backlog hold clients meanwhile
                log.warning("cannot accept connections for %g s: %s", _ACCEPT_PAUSE_S, exc.strerror or exc)
                self._accept_paused_until = time.monotonic() + _ACCEPT_PAUSE_S
                self._set_accepting(False)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, f"{address[0]}:{address[1]}", time.monotonic() + self.request_timeout_s)
            self._conns.add(conn)
            self._watch(conn)
        self._set_accepting(False)  # at the limit: the kernel's backlog holds the next ones

    def _watch(self, conn: _Conn) -> None:
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        conn.registered = True

    def _receive(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._close(conn, f"receive failed: {type(exc).__name__}")
            return
        if not data:
            self._close(conn, "closed by the client" + (" mid-request" if conn.buffer else ""))
            return
        if conn.idle:  # the next request begins: it has request_timeout_s to arrive complete
            conn.idle = False
            conn.deadline = time.monotonic() + self.request_timeout_s
        scanned = len(conn.buffer)
        conn.buffer += data
        if conn.head_complete(scanned):
            self._dispatch(conn)

    def _dispatch(self, conn: _Conn) -> None:
        if conn.registered:
            self._selector.unregister(conn.sock)
            conn.registered = False
        conn.busy = True
        conn.arrived = time.monotonic()
        (self._scrapes if _asks_for_metrics(conn.buffer) else self._others).put(conn)

    def _take_back(self) -> None:
        now = time.monotonic()
        while self._returned:
            conn, keep = self._returned.popleft()
            conn.busy = False
            if not keep or self._stop.is_set():
                self._close(conn, "")
                continue
            conn.sock.setblocking(False)
            if conn.head_complete():  # a pipelined request is already here
                self._dispatch(conn)
                continue
            conn.idle = not conn.buffer
            conn.deadline = now + (self.idle_timeout_s if conn.idle else self.request_timeout_s)
            self._watch(conn)

    def _expire(self) -> None:
        now = time.monotonic()
        if now >= self._accept_paused_until and len(self._conns) < self.max_connections:
            self._set_accepting(True)
        if now < self._next_sweep:
            return
        self._next_sweep = now + _TICK_S
        for conn in [c for c in self._conns if not c.busy and now >= c.deadline]:
            if conn.idle:
                self._close(conn, f"idle for {self.idle_timeout_s:g} s")
                continue
            if conn.buffer:  # best effort: the socket is non-blocking and the answer is small
                with contextlib.suppress(OSError):
                    conn.sock.send(_response_head(HTTPStatus.REQUEST_TIMEOUT, _TEXT_PLAIN, 0, close=True))
            self._close(conn, f"no complete request within {self.request_timeout_s:g} s")

    def _close(self, conn: _Conn, why: str) -> None:
        if why:
            log.debug("%s: connection closed: %s", conn.peer, why)
        if conn.registered:
            self._selector.unregister(conn.sock)
            conn.registered = False
        conn.sock.close()
        self._conns.discard(conn)

    # --- workers --------------------------------------------------------------------------------------------------

    def _work(self, jobs: queue.SimpleQueue[_Conn | None]) -> None:
        while (conn := jobs.get()) is not None:
            keep = False
            try:
                keep = self._answer(conn)
            except _CLIENT_GONE as exc:
                log.debug("%s: client went away before the response was sent (%s)", conn.peer, type(exc).__name__)
            except OSError as exc:
                log.debug("%s: send failed: %s", conn.peer, exc)
            except Exception:
                log.exception("%s: failed to answer a request", conn.peer)
            self._returned.append((conn, keep))
            self._wake()

    def _answer(self, conn: _Conn) -> bool:
        """Answer the request at the start of ``conn.buffer``; True when the connection stays open."""
        try:
            request, conn.buffer = parse_head(conn.buffer)
        except BadRequest as bad:
            log.debug("%s: %d: %s", conn.peer, bad.status, bad)
            self._send(conn, bad.status, f"{bad.status.phrase}: {bad}\n".encode(), _TEXT_PLAIN, close=True)
            return False
        status, body, content_type, extra = self._route(request, conn.arrived)
        close = not request.keep_alive or status in (HTTPStatus.METHOD_NOT_ALLOWED, HTTPStatus.INTERNAL_SERVER_ERROR)
        log.debug("%s: %s %s %s -> %d", conn.peer, request.method, request.path, request.version, status)
        self._send(conn, status, body, content_type, extra, close, head_only=request.method == "HEAD")
        return not close

    def _route(self, request: Request, arrived: float) -> tuple[HTTPStatus, bytes, str, dict[str, str]]:
        if request.method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, b"only GET and HEAD\n", _TEXT_PLAIN, {"Allow": "GET, HEAD"}
        if request.path == "/metrics":
            try:
                body, content_type, gzipped = self.app.metrics(
                    request.headers.get("Accept"), request.headers.get("Accept-Encoding"), since=arrived
                )
            except ScrapeFailed:  # logged once by the request that ran the read
                return HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error reading state\n", _TEXT_PLAIN, {}
            except Exception:  # a bug must not kill the server; state problems never get here
                log.exception("failed to render /metrics")
                return HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error rendering metrics\n", _TEXT_PLAIN, {}
            return HTTPStatus.OK, body, content_type, {"Content-Encoding": "gzip"} if gzipped else {}
        if request.path == "/healthz":
            return HTTPStatus.OK, b"ok\n", _TEXT_PLAIN, {}
        if request.path == "/":
            return HTTPStatus.OK, b"inventory-guard-exporter: see /metrics and /healthz\n", _TEXT_PLAIN, {}
        return HTTPStatus.NOT_FOUND, b"not found\n", _TEXT_PLAIN, {}

    def _send(
        self,
        conn: _Conn,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
        close: bool = False,
        head_only: bool = False,
    ) -> None:
        """Write the response, all of it within ``send_timeout_s`` (TimeoutError otherwise)."""
        head = _response_head(status, content_type, len(body), close, extra)
        pending = [memoryview(head)] + ([] if head_only or not body else [memoryview(body)])
        deadline = time.monotonic() + self.send_timeout_s
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"response not read within {self.send_timeout_s:g} s")
            conn.sock.settimeout(remaining)
            sent = conn.sock.sendmsg(pending)
            while sent:
                if sent >= len(pending[0]):
                    sent -= len(pending.pop(0))
                else:
                    pending[0] = pending[0][sent:]
                    sent = 0


def _response_head(
    status: HTTPStatus, content_type: str, length: int, close: bool, extra: dict[str, str] | None = None
) -> bytes:
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Server: inventory-guard-exporter/{__version__}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

