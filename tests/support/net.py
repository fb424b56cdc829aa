"""HTTP GET against local servers, and a free 127.0.0.1 port."""

from __future__ import annotations

import gzip
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        body = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        return body.decode()


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    """The response, whatever its status (an HTTP error status is returned, not raised; OSError is raised)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def free_port() -> int:
    """A port that was free a moment ago (for programs that cannot report the port they bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
