"""Choose the exposition format and encoding from the request headers.

The Prometheus text format is served unless the client insists on OpenMetrics: it lists
``application/openmetrics-text`` and does not list ``text/plain`` at all (``*/*`` does not count). Prometheus 2.42
offers both (OpenMetrics first, ``text/plain;q=0.5``) and so gets the text format, which renders about twice as
fast and is what ``promtool check metrics`` lints cleanly. ``--openmetrics`` makes OpenMetrics preferred whenever
the client offers it at all.
"""

from __future__ import annotations

OPENMETRICS = "application/openmetrics-text"
TEXT = "text/plain"


def _offered(accept: str) -> dict[str, float]:
    """Media type -> highest q the header gives it (q=0 means "not acceptable")."""
    offered: dict[str, float] = {}
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        offered[media] = max(q, offered.get(media, 0.0))
    return offered


def wants_openmetrics(accept: str | None, prefer_openmetrics: bool = False) -> bool:
    if not accept:
        return False
    offered = _offered(accept)
    if offered.get(OPENMETRICS, 0.0) <= 0.0:
        return False
    return prefer_openmetrics or offered.get(TEXT, 0.0) <= 0.0


def wants_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    offered = _offered(accept_encoding)
    return offered.get("gzip", 0.0) > 0.0
