"""Prometheus sidecar exporter for inventory-guard journals.

A separate process that reads one or more bots' SQLite journals read-only at scrape time and serves their
position state as Prometheus metrics. It never imports hummingbot and never writes to a journal.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # one version source: the distribution's (declared in connector_plugin/inventory_guard/__init__.py)
    __version__ = version("inventory-guard")
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
