"""Prometheus sidecar exporter for inventory-guard journals.

A separate process that reads one or more bots' SQLite journals read-only at scrape time and serves their
position state as Prometheus metrics. It never imports hummingbot and never writes to a journal.
"""

__version__ = "0.1.0"
