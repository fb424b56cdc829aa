"""Core benchmarks (not collected as tests): run ``python tests/bench/bench_core.py`` and read the tables.

1. Per-event cost at 10 / 1,000 / 10,000 pending fills, beside a seed-style reference (a dict of pending fills whose
   derived quantities are re-summed on every read), in the same run.
2. Journaled throughput (every event committed to SQLite) beside the in-memory core and beside SQLite alone committing
   the same event bodies one by one (the machine's ceiling for a journal that commits every event).
3. Restart time of a journal holding 1,000,000 events (the newest checkpoint plus the events after it).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector_plugin"))

from inventory_guard.config import parse_config
from inventory_guard.core import Guard
from inventory_guard.events import Check, Event, Fill, FillSettled, Side, Snapshot, Tick, event_to_dict
from inventory_guard.journal import Journal

D = Decimal
CONFIG = parse_config({"max_position": "1000000000", "size_increment": "1", "pending_fill_max_age_s": 10**9,
                       "seen_fill_keys_max": 100_000})
# Throughput and restart benchmarks: the default 30 s age-out, events 10 ms apart (a busy bot), 100k remembered fill
# keys.
RESTART_CONFIG = parse_config({"max_position": "1000000000", "size_increment": "1"})


class SeedReference:
    """The seed plan's bookkeeping: pending fills in a dict, every derived number re-summed when read."""

    def __init__(self) -> None:
        self.confirmed = D(0)
        self.fills: dict[str, tuple[str, Decimal, Decimal]] = {}
        self.open_buy_reservations = D(0)

    @property
    def pending_buys(self) -> Decimal:
        return sum((s for side, s, _ in self.fills.values() if side == "buy"), D(0))

    @property
    def pending_sells(self) -> Decimal:
        return sum((s for side, s, _ in self.fills.values() if side == "sell"), D(0))

    @property
    def effective(self) -> Decimal:
        return self.confirmed + self.pending_buys - self.pending_sells

    @property
    def conservative(self) -> Decimal:
        return self.confirmed + self.pending_buys + self.open_buy_reservations

    def fill(self, t, side, size, trade_id) -> None:
        if trade_id not in self.fills:
            self.fills[trade_id] = (side, size, t)

    def snapshot(self, t, size) -> None:
        move, self.confirmed = size - self.confirmed, size
        running = D(0)
        confirmed = []
        for trade_id, (side, amount, _) in self.fills.items():  # oldest first, re-walked every snapshot
            running += amount if side == "buy" else -amount
            confirmed.append(trade_id)
            if running == move:
                for key in confirmed:
                    del self.fills[key]
                break

    def check(self, size) -> Decimal:
        return min(size, D(10**9) - self.conservative)

    def state(self) -> tuple:
        """What the guard publishes after every event (replay output, journal state row, exporter gauges)."""
        return (self.confirmed, self.pending_buys, self.pending_sells, len(self.fills), self.effective,
                self.conservative, self.effective)

    def tick(self, t, max_age) -> None:
        for trade_id in [k for k, (_, _, at) in self.fills.items() if t - at > max_age]:
            del self.fills[trade_id]


def steady_state_events(pending: int, cycles: int):
    """Prefill ``pending`` buys, then cycles of: fill, check, the venue reporting the oldest fill settled, a snapshot
    confirming it, tick. (Equal sizes: the sums alone could not tell which fill settled; the notice does.)"""
    events: list[Event] = [Snapshot(D(0), "m", D(0))]
    t = D(0)
    ids = [f"P{i}" for i in range(pending)]
    for trade_id in ids:
        t += 1
        events.append(Fill(t, "m", "buy", D(1), trade_id=trade_id))
    position = D(0)
    prefill = len(events)
    for i in range(cycles):
        t += 1
        events.append(Fill(t, "m", "buy", D(1), trade_id=f"C{i}"))
        ids.append(f"C{i}")
        events.append(Check(t, "m", "buy", D(5)))
        events.append(FillSettled(t, ids[i]))
        position += 1
        events.append(Snapshot(t, "m", position))
        events.append(Tick(t))
    return events[:prefill], events[prefill:]


def drive_reference(ref: SeedReference, event) -> None:
    if isinstance(event, Fill):
        ref.fill(event.t, event.side, event.size, event.trade_id)
    elif isinstance(event, Snapshot):
        ref.snapshot(event.t, event.size)
    elif isinstance(event, Check):
        ref.check(event.size)
    elif isinstance(event, FillSettled):
        pass  # the seed plan had no settlement notices
    else:
        ref.tick(event.t, D(10**9))


def per_event_cost(pending: int, cycles: int) -> tuple[float, float]:
    prefill, measured = steady_state_events(pending, cycles)
    guard, ref = Guard(CONFIG), SeedReference()
    for e in prefill:
        guard.apply(e)
        drive_reference(ref, e)
    book = guard.books["m"]
    start = time.perf_counter()
    for e in measured:
        guard.apply(e)
        (book.confirmed, book.pending.pending_fill_buys, book.pending.pending_fill_sells, len(book.pending),
         book.effective, book.conservative_exposure, book.available_to_sell)
    core_us = (time.perf_counter() - start) / len(measured) * 1e6
    start = time.perf_counter()
    for e in measured:
        drive_reference(ref, e)
        ref.state()
    ref_us = (time.perf_counter() - start) / len(measured) * 1e6
    assert len(guard.books["m"].pending) == pending, "the workload must hold the pending count steady"
    return core_us, ref_us


def throughput(n: int) -> tuple[float, ...]:
    """A busy bot: 100 fills a second alternating sides, a snapshot every tenth fill, the default 30 s age-out."""
    events: list[Event] = []
    for i in range(n):
        side: Side = "buy" if i % 2 else "sell"
        events.append(Fill(D(i) / 100, "m", side, D(1), trade_id=f"T{i}", order_id=f"O{i % 7}"))
        if i % 10 == 9:
            events.append(Snapshot(D(i) / 100, "m", D(0)))
    guard = Guard(RESTART_CONFIG)
    start = time.perf_counter()
    for e in events:
        guard.apply(e)
    memory = len(events) / (time.perf_counter() - start)
    rates = []
    for interval in (0.25, 0.0):  # the default batching of the state tables, then state rows with every event
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal.open(Path(tmp) / "j.sqlite", RESTART_CONFIG, state_write_interval_s=interval)
            start = time.perf_counter()
            for e in events:
                journal.apply(e)
            journal.close()  # included: it writes what lags
            rates.append(len(events) / (time.perf_counter() - start))
    return memory, *rates, sqlite_commit_rate(events)


def sqlite_commit_rate(events: list[Event]) -> float:
    """The machine's ceiling for a journal that commits every event: the same event bodies inserted into a WAL
    database with the journal's settings (synchronous=NORMAL, BEGIN IMMEDIATE), one commit each, nothing else."""
    bodies = [(i + 1, float(e.t), e.type, json.dumps(event_to_dict(e), separators=(",", ":")))
              for i, e in enumerate(events)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, t REAL, type TEXT, body TEXT, decision TEXT)")
        conn.isolation_level = "IMMEDIATE"
        start = time.perf_counter()
        for row in bodies:
            with conn:
                conn.execute("INSERT INTO events (seq, t, type, body, decision) VALUES (?, ?, ?, ?, NULL)", row)
        rate = len(bodies) / (time.perf_counter() - start)
        conn.close()
    return rate


def build_big_journal(path: Path, n: int, checkpoint_every: int) -> None:
    """Write what Journal would write for ``n`` events, in bulk: the event log and the newest checkpoint (taken
    ``checkpoint_every`` events before the end, the worst case a restart meets)."""
    Journal.open(path, RESTART_CONFIG).close()
    guard = Guard(RESTART_CONFIG)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    rows, checkpoint_at = [], n - checkpoint_every
    for seq in range(1, n + 1):
        i = seq
        event: Event
        if i % 4 == 0:
            event = Snapshot(D(i) / 100, "m", D(i // 4 % 50))
        else:
            event = Fill(D(i) / 100, "m", "buy" if i % 2 else "sell", D(1), trade_id=f"T{i}")
        guard.apply(event)
        rows.append((seq, float(event.t), event.type, json.dumps(event_to_dict(event), separators=(",", ":")), None))
        if seq == checkpoint_at:
            conn.execute("INSERT INTO checkpoints (seq, body) VALUES (?, ?)",
                         (seq, json.dumps(guard.to_dict(), separators=(",", ":"))))
        if len(rows) == 50_000:
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
            conn.commit()
            rows.clear()
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def restart_time(n: int, checkpoint_every: int, repeats: int = 3) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.sqlite"
        build_big_journal(path, n, checkpoint_every)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            journal = Journal.open(path, RESTART_CONFIG, checkpoint_every=10**12)
            times.append(time.perf_counter() - start)
            seq = journal.seq
            journal._checkpoint_seq = journal.seq  # leave the file as built (no closing checkpoint)
            journal.close()
        size = os.path.getsize(path)
        assert seq == n
        return statistics.median(times), size


def table(headers, rows) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(str(h).rjust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    import logging
    logging.disable(logging.WARNING)

    repeats = 1 if args.quick else 5
    print("1. Per-event cost: apply one event (fill, check, settlement notice, snapshot confirming the oldest, tick)")
    print("   and read the state it publishes (confirmed, pending sums, effective, conservative exposure, available to")
    print(f"   sell); us/event, best of {repeats} runs each (the machine is shared: the best run is the least "
          "disturbed)")
    rows = []
    for pending in (10, 1_000, 10_000):
        cycles = 500 if args.quick else (2_000 if pending < 10_000 else 300)
        runs = [per_event_cost(pending, cycles) for _ in range(repeats)]
        core, ref = min(r[0] for r in runs), min(r[1] for r in runs)
        rows.append([f"{pending:,}", f"{core:.1f}", f"{ref:.1f}", f"{ref / core:.0f}x"])
    print(table(["pending fills", "inventory-guard", "seed reference", "speed-up"], rows))

    n = 5_000 if args.quick else 50_000
    rates = [throughput(n) for _ in range(1 if args.quick else 3)]
    memory, batched, every, raw = (max(r[i] for r in rates) for i in range(4))
    print(f"\n2. Throughput over {n:,} fills, 100/s of event time (+ a snapshot every 10), events per second, best of "
          f"{len(rates)}; every")
    print("   event committed before apply returns; the reference: the same bodies committed one by one by SQLite "
          "alone")
    headers = ["in-memory core", "journaled (default: state rows every 0.25 s)", "journaled (state rows every event)",
               "SQLite alone, a commit per event"]
    print(table(headers, [[f"{memory:,.0f}", f"{batched:,.0f}", f"{every:,.0f}", f"{raw:,.0f}"]]))

    n = 100_000 if args.quick else 1_000_000
    every = 10_000
    seconds, size = restart_time(n, every)
    print(f"\n3. Restart of a {n:,}-event journal ({size / 1e6:.0f} MB; newest checkpoint {every:,} events back)")
    print(table(["median open time (s)"], [[f"{seconds:.2f}"]]))


if __name__ == "__main__":
    main()
