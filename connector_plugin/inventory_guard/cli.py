"""``inventory-guard`` command line: ``replay`` (the public JSON-lines contract), ``demo``, ``hummingbot init``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .config import ConfigError, load_config
from .journal import JournalError


def _setup_logging() -> None:
    level = os.environ.get("INVENTORY_GUARD_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def _lines(stream) -> Iterator[str]:
    """Lines of a binary stream split on \\n only (a stray \\r stays inside its line), decoded as UTF-8; a line
    that is not UTF-8 becomes text the parser rejects with a clear error instead of ending the replay."""
    for raw in stream:
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        yield raw.decode("utf-8", errors="surrogateescape")


def _cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    config = load_config(args.config)
    if args.trace == "-":
        source, flush = sys.stdin.buffer, True
    else:
        try:
            source = open(args.trace, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"inventory-guard: cannot read trace {args.trace}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        flush = False
    try:
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    except OSError as exc:
        print(f"inventory-guard: cannot write output {args.out}: {exc.strerror or exc}", file=sys.stderr)
        if source is not sys.stdin.buffer:
            source.close()
        return 2
    try:
        try:
            summary = replay(_lines(source), config, out, journal_path=Path(args.journal) if args.journal else None,
                             flush=flush)
        finally:
            if source is not sys.stdin.buffer:
                source.close()
            if out is not sys.stdout:
                out.close()
            else:
                out.flush()
    except OSError as exc:  # reading the trace or writing the output failed midway (e.g. a full disk)
        where = (args.out or "standard output") if exc.filename is None else exc.filename
        print(f"inventory-guard: replay stopped: {exc.strerror or exc} ({where})", file=sys.stderr)
        return 1
    print(summary.line(), file=sys.stderr)
    return 130 if summary.interrupted else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if not args.trace:
        try:
            from .hummingbot.demo import run_demo  # needs the `hummingbot` extra
        except ImportError as exc:
            print(f"inventory-guard: the Hummingbot demo is unavailable ({exc}); showing the trace demo instead",
                  file=sys.stderr)
        else:
            return run_demo(duration_s=args.duration, metrics_port=None if args.no_metrics else args.metrics_port,
                            seed=args.seed,
                            live=not args.no_live, journal=args.journal, speed=args.speed)
    from .demo_trace import run_trace_demo

    return run_trace_demo(sys.stdout)


def _cmd_hummingbot_init(args: argparse.Namespace) -> int:
    from .hummingbot.install import InitError, init_root

    try:
        written = init_root(Path(args.path), force=args.force)
    except InitError as exc:
        print(f"inventory-guard: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inventory-guard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="replay a JSON-lines trace through the guard")
    p.add_argument("trace", metavar="TRACE.jsonl", help="trace file, or - for standard input (output flushed per line)")
    p.add_argument("--config", required=True, help="guard config (YAML)")
    p.add_argument("--journal", help="journal database (default: a temporary one)")
    p.add_argument("--out", help="write output lines here instead of standard output")
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser("demo", help="run the demo (simulated venue with Hummingbot; --trace for the bundled trace)")
    p.add_argument("--trace", action="store_true", help="replay the bundled example trace and print a table")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run the live demo (default 60)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the simulated venue")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve the exporter's metrics on 127.0.0.1:PORT (default 0: any free port, printed at start)")
    p.add_argument("--no-metrics", action="store_true", help="do not start the exporter")
    p.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second (default 10)")
    p.add_argument("--no-live", action="store_true", help="print periodic lines instead of a live table")
    p.add_argument("--journal", default=None, help="journal path (default: a temporary one)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("hummingbot", help="Hummingbot integration")
    hsub = p.add_subparsers(dest="hummingbot_command", required=True)
    pi = hsub.add_parser("init", help="write the shim script, shim controller and example confs into a Hummingbot root")
    pi.add_argument("path", help="the Hummingbot root (source checkout or docker volume)")
    pi.add_argument("--force", action="store_true", help="overwrite files that exist with other content")
    pi.set_defaults(func=_cmd_hummingbot_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"inventory-guard: bad config: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        print(f"inventory-guard: journal error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
