"""The demo's command line, declared once. ``inventory-guard demo`` (which ``bash connector_plugin/bootstrap.sh demo``
runs) adds these arguments to its ``demo`` subcommand; ``python -m inventory_guard.hummingbot.demo`` parses them with
``main``. No Hummingbot import here: the main CLI builds this parser without the ``hummingbot`` extra, and
``--trace`` needs none."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal

from .settings import SessionSettings

DEFAULTS = SessionSettings()


def _positive(number: Callable[[str], float | Decimal]) -> Callable[[str], float | Decimal]:
    """An argparse ``type``: ``number(text)``, which must be above 0 (argparse names the option in its error)."""
    def parse(text: str):
        try:
            value = number(text)
            if value > 0:
                return value
        except (ValueError, ArithmeticError):   # not a number; Decimal("NaN") > 0 raises InvalidOperation
            pass
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return parse


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--trace", action="store_true",
                   help="replay the bundled example trace and print its decisions as tables (needs no Hummingbot)")
    p.add_argument("--duration", type=_positive(float), default=60.0,
                   help="wall-clock seconds to run (default %(default)g)")
    p.add_argument("--speed", type=_positive(float), default=10.0,
                   help="simulated seconds per wall second (default %(default)g)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help="random seed of the simulated venue (default %(default)s)")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve the exporter's metrics on 127.0.0.1:PORT (default 0: any free port, printed at start)")
    p.add_argument("--no-metrics", action="store_true", help="do not start the exporter")
    p.add_argument("--no-live", action="store_true", help="print a status line per simulated minute instead of "
                   "the refreshing table (the default when stdout is not a terminal)")
    p.add_argument("--journal", default=None, help="journal path (default: a new temporary directory)")
    p.add_argument("--max-position", type=_positive(Decimal), default=DEFAULTS.max_position,
                   help="the guard's max_position (default %(default)s)")
    p.add_argument("--order-amount", type=_positive(Decimal), default=DEFAULTS.order_amount,
                   help="quote size (default %(default)s)")
    return p


def run_from_args(args: argparse.Namespace, out=None) -> int:
    out = sys.stdout if out is None else out
    if not args.trace:
        try:
            from .run import run_demo  # needs the `hummingbot` extra
        except ImportError as exc:
            print(f"inventory-guard: the Hummingbot demo is unavailable ({exc}); showing the trace demo instead",
                  file=sys.stderr)
        else:
            return run_demo(duration_s=args.duration, speed=args.speed, seed=args.seed,
                            max_position=args.max_position, order_amount=args.order_amount,
                            metrics_port=None if args.no_metrics else args.metrics_port,
                            live=not args.no_live, journal=args.journal, out=out)
    from ...demo_trace import run_trace_demo

    return run_trace_demo(out)


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(
        prog="python -m inventory_guard.hummingbot.demo",
        description="The guarded market maker on the simulated venue (the same options as `inventory-guard demo`)."))
    return run_from_args(parser.parse_args(argv))
