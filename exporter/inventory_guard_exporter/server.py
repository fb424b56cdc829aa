"""HTTP endpoints: ``/metrics`` (text format, OpenMetrics on request, gzip when accepted) and ``/healthz``.

``/healthz`` answers 200 while the process serves requests; it does not read state files (their health is the
``inventory_guard_exporter_state_up`` metric). Each request runs in its own thread and reads the state files
itself, so concurrent scrapes never share a half-built result.
"""

from __future__ import annotations

import gzip
import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.negotiate import wants_gzip, wants_openmetrics
from inventory_guard_exporter.render import TEXT_CONTENT_TYPE, render_text

log = logging.getLogger("inventory_guard_exporter")


class MetricsApp:
    """Builds a response body for one scrape; independent of the HTTP server so it can be measured alone."""

    def __init__(self, collector: StateCollector, prefer_openmetrics: bool = False):
        self.collector = collector
        self.prefer_openmetrics = prefer_openmetrics
        self.standard_registry = _with_standard_collectors(CollectorRegistry())
        self.full_registry = _with_standard_collectors(CollectorRegistry())  # for OpenMetrics
        self.full_registry.register(collector)  # calls describe() only: no database is touched here

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        if wants_openmetrics(accept, self.prefer_openmetrics):
            return generate_openmetrics(self.full_registry), OPENMETRICS_CONTENT_TYPE
        body = render_text(self.collector.families()).encode() + generate_latest(self.standard_registry)
        return body, TEXT_CONTENT_TYPE


def _with_standard_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """The process, platform and GC collectors prometheus_client puts in its default registry."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class _Handler(BaseHTTPRequestHandler):
    server: "ExporterHTTPServer"
    server_version = "inventory-guard-exporter"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body, content_type = self.server.app.metrics(self.headers.get("Accept"))
            except Exception:  # a bug must not kill the server; state problems never get here
                log.exception("failed to render /metrics")
                self._send(500, b"internal error rendering metrics\n", "text/plain; charset=utf-8")
                return
            self._send(200, body, content_type, compress=wants_gzip(self.headers.get("Accept-Encoding")))
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/":
            page = b"inventory-guard-exporter: see /metrics and /healthz\n"
            self._send(200, page, "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, compress: bool = False) -> None:
        if compress:
            body = gzip.compress(body, compresslevel=1)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if compress:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature from http.server)
        log.debug("%s %s", self.address_string(), format % args)


class ExporterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app: MetricsApp):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"
