"""``inventory-guard-exporter``: serve bots' inventory-guard state as Prometheus metrics."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys

from inventory_guard_exporter import __version__
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.config import DEFAULT_LISTEN, ConfigError, ExporterConfig, load_yaml, validate
from inventory_guard_exporter.server import IDLE_TIMEOUT_S, REQUEST_TIMEOUT_S, ExporterHTTPServer, MetricsApp
from inventory_guard_exporter.targets import Targets

log = logging.getLogger("inventory_guard_exporter")


def seconds(text: str) -> float:
    """A timeout on the command line: a number of seconds, more than 0 and at most 3600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= 3600):
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 and at most 3600 seconds")
    return value


# Options of earlier versions -> their names now: given, they stop the start with a message naming the new one.
RENAMED_OPTIONS = {"--state": "--journal", "--state-glob": "--journal-glob"}


class _Renamed(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was renamed to {RENAMED_OPTIONS[option_string]}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inventory-guard-exporter",
        description="Prometheus exporter for inventory-guard journals (read-only, next to one or more bots). "
                    "SIGHUP re-reads --config and keeps serving.",
    )
    p.add_argument("--journal", action="append", default=[], metavar="PATH", help="a bot's journal (repeatable)")
    p.add_argument("--journal-glob", action="append", default=[], metavar="GLOB",
                   help="glob of journals, expanded at every scrape (repeatable; same as journal_globs in --config)")
    for old in RENAMED_OPTIONS:
        p.add_argument(old, action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--config", metavar="YAML", help="YAML config (listen, journals, journal_globs, openmetrics, ...)")
    p.add_argument("--listen", metavar="HOST:PORT", help=f"address to serve on (default {DEFAULT_LISTEN})")
    p.add_argument("--openmetrics", action="store_true", default=None,
                   help="answer in OpenMetrics whenever the client offers it (default: only if it insists)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--request-timeout", type=seconds, default=REQUEST_TIMEOUT_S, metavar="SECONDS",
                   help=f"close a connection whose request has not fully arrived after this long "
                        f"(default {REQUEST_TIMEOUT_S:g})")
    p.add_argument("--idle-timeout", type=seconds, default=IDLE_TIMEOUT_S, metavar="SECONDS",
                   help=f"close a keep-alive connection idle this long between requests (default {IDLE_TIMEOUT_S:g})")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def load_config(args: argparse.Namespace) -> ExporterConfig:
    """The YAML file (if any), then the command line on top: paths add up, single values override."""
    config = validate(load_yaml(args.config), args.config) if args.config else ExporterConfig()
    merged = config.model_dump()
    merged["journals"] += args.journal
    merged["journal_globs"] += args.journal_glob
    for key in ("listen", "openmetrics", "log_level"):
        if getattr(args, key) is not None:
            merged[key] = getattr(args, key)
    config = validate(merged, "command line")
    if not config.journals and not config.journal_globs:
        raise ConfigError("nothing to watch: give --journal PATH (repeatable), --journal-glob GLOB or a --config file")
    return config


def targets_of(config: ExporterConfig) -> Targets:
    return Targets(paths=tuple(config.journals), globs=tuple(config.journal_globs))


def reload(args: argparse.Namespace, running: ExporterConfig, app: MetricsApp) -> ExporterConfig:
    """SIGHUP: read the configuration again and apply it from the next scrape on; a bad file changes nothing.

    Returns the configuration now in force. The listen address cannot change without a restart.
    """
    source = f" from {args.config}" if args.config else ""
    try:
        config = load_config(args)
    except ConfigError as exc:
        log.error("SIGHUP: configuration not reloaded%s, still serving the previous one: %s", source, exc)
        return running
    targets = targets_of(config)
    app.collector.configure(targets, config.busy_timeout_s)
    app.prefer_openmetrics = config.openmetrics
    logging.getLogger().setLevel(config.log_level)
    if config.listen != running.listen:
        log.warning("SIGHUP: listen %s needs a restart; still serving %s", config.listen, running.listen)
        config = config.model_copy(update={"listen": running.listen})
    log.info("SIGHUP: configuration reloaded%s, watching %s", source, targets.describe())
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"inventory-guard-exporter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    targets = targets_of(config)
    app = MetricsApp(StateCollector(targets, config.busy_timeout_s), prefer_openmetrics=config.openmetrics)
    host, port = config.address
    try:
        server = ExporterHTTPServer(
            host, port, app, request_timeout_s=args.request_timeout, idle_timeout_s=args.idle_timeout
        )
    except OSError as exc:
        print(f"inventory-guard-exporter: cannot listen on {config.listen}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    current = [config]

    def on_sighup(signum, frame):  # the reload runs in the serving thread, not inside the signal handler
        server.call_soon(lambda: current.__setitem__(0, reload(args, current[0], app)))

    signal.signal(signal.SIGTERM, lambda signum, frame: server.request_stop())
    signal.signal(signal.SIGHUP, on_sighup)
    print(
        f"inventory-guard-exporter {__version__} serving {server.url}/metrics, watching {targets.describe()}",
        file=sys.stderr,
        flush=True,
    )
    log.info(
        "listen backlog %d, %d scrape workers (+1 for other paths), up to %d connections; "
        "timeouts: request %g s, idle %g s, send %g s",
        server.backlog, server.workers, server.max_connections,
        server.request_timeout_s, server.idle_timeout_s, server.send_timeout_s,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
