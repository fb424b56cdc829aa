"""``inventory-guard-exporter``: serve bots' inventory-guard state as Prometheus metrics."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from inventory_guard_exporter import __version__
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.config import DEFAULT_LISTEN, ConfigError, ExporterConfig, load_yaml, validate
from inventory_guard_exporter.server import ExporterHTTPServer, MetricsApp
from inventory_guard_exporter.targets import Targets

log = logging.getLogger("inventory_guard_exporter")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inventory-guard-exporter",
        description="Prometheus exporter for inventory-guard journals (read-only, next to one or more bots).",
    )
    p.add_argument("--state", action="append", default=[], metavar="PATH", help="a bot's journal (repeatable)")
    p.add_argument("--state-glob", action="append", default=[], metavar="GLOB",
                   help="glob of journals, expanded at every scrape (repeatable; same as state_dirs in --config)")
    p.add_argument("--config", metavar="YAML", help="YAML config (listen, state, state_dirs, openmetrics, ...)")
    p.add_argument("--listen", metavar="HOST:PORT", help=f"address to serve on (default {DEFAULT_LISTEN})")
    p.add_argument("--openmetrics", action="store_true", default=None,
                   help="answer in OpenMetrics whenever the client offers it (default: only if it insists)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def load_config(args: argparse.Namespace) -> ExporterConfig:
    """The YAML file (if any), then the command line on top: paths add up, single values override."""
    config = validate(load_yaml(args.config), args.config) if args.config else ExporterConfig()
    merged = config.model_dump()
    merged["state"] += args.state
    merged["state_dirs"] += args.state_glob
    for key in ("listen", "openmetrics", "log_level"):
        if getattr(args, key) is not None:
            merged[key] = getattr(args, key)
    config = validate(merged, "command line")
    if not config.state and not config.state_dirs:
        raise ConfigError("nothing to watch: give --state PATH (repeatable), --state-glob GLOB or a --config file")
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"inventory-guard-exporter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    targets = Targets(paths=tuple(config.state), globs=tuple(config.state_dirs))
    app = MetricsApp(StateCollector(targets, config.busy_timeout_seconds), prefer_openmetrics=config.openmetrics)
    host, port = config.address
    try:
        server = ExporterHTTPServer(host, port, app)
    except OSError as exc:
        print(f"inventory-guard-exporter: cannot listen on {config.listen}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    def stop(signum, frame):  # SIGTERM ends serve_forever like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"inventory-guard-exporter {__version__} serving {server.url}/metrics, watching {targets.describe()}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
