"""Journal open benchmark (not collected as tests): ``python tests/bench/bench_journal_open.py`` prints a table.

What opening a 1,000,000-event journal costs (newest checkpoint 10,000 events back, built by ``bench_core``), split
into the read-only damage checks that run before anything is written and the whole open (lock, checks, restore from
the checkpoint plus the events after it, the writing connection, the state rows rewritten). Median of several opens,
with the file in the page cache (a bot restarting) and, with ``--cold`` (root), once after dropping the page cache.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector_plugin"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import RESTART_CONFIG, build_big_journal

from inventory_guard import journal as J


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def checks(path: Path) -> dict[str, float]:
    """Each read-only check on its own connection, as ``Journal.open`` runs them."""
    conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            out = {"identify (header ids, schema, columns)": timed(lambda: J._identify(path, conn)),
                   "quick_check (read through + every page)": timed(lambda: J._check_pages(path, conn, fd))}
        finally:
            os.close(fd)
        restored = []
        out["restore (checkpoint validated + events after it)"] = timed(
            lambda: restored.append(J._restore(path, conn, RESTART_CONFIG)))
        out["state rows"] = timed(lambda: J._check_state_rows(path, conn, restored[0][1]))
        return out
    finally:
        conn.close()


def open_once(path: Path) -> float:
    start = time.perf_counter()
    journal = J.Journal.open(path, RESTART_CONFIG, checkpoint_every=10**12)
    seconds = time.perf_counter() - start
    journal._checkpoint_seq = journal.seq  # leave the file as built (no closing checkpoint)
    journal.close()
    return seconds


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--copy-from", help="an already built journal to copy instead of building one")
    parser.add_argument("--cold", action="store_true",
                        help="also time one open after dropping the page cache (root only; affects the whole machine)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.sqlite"
        if args.copy_from:
            shutil.copyfile(args.copy_from, path)
        else:
            build_big_journal(path, args.events, 10_000)
        open_once(path)  # the first open of a journal built by an older version writes its header ids
        parts: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for name, seconds in checks(path).items():
                parts.setdefault(name, []).append(seconds)
        opens = [open_once(path) for _ in range(args.repeats)]
        cold = open_once(path) if args.cold and drop_caches() else None
        size = path.stat().st_size
    damage = [sum(v[i] for k, v in parts.items() if not k.startswith("restore")) for i in range(args.repeats)]
    print(f"Open of a {args.events:,}-event journal ({size / 1e6:.0f} MB), median of {args.repeats} (page cache warm)")
    rows = [[name, f"{statistics.median(v) * 1000:.0f}"] for name, v in parts.items()]
    rows.append(["damage checks together (all but restore)", f"{statistics.median(damage) * 1000:.0f}"])
    rows.append(["whole Journal.open (restart)", f"{statistics.median(opens) * 1000:.0f}"])
    if cold is not None:
        rows.append(["whole Journal.open, page cache dropped first", f"{cold * 1000:.0f}"])
    width = max(len(r[0]) for r in rows)
    print(f"{'step'.ljust(width)}  ms")
    for name, ms in rows:
        print(f"{name.ljust(width)}  {ms.rjust(5)}")


if __name__ == "__main__":
    main()
