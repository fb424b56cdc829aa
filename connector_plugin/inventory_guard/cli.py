"""``inventory-guard`` command line: ``replay`` (the public JSON-lines contract), ``demo``, ``hummingbot init``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .config import ConfigError, load_config
from .hummingbot.demo import cli as demo_cli  # imports no Hummingbot
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
    demo_cli.add_arguments(p)  # the demo's one parser, also behind `python -m inventory_guard.hummingbot.demo`
    p.set_defaults(func=demo_cli.run_from_args)

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
