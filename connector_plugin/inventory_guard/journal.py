"""The journal: every accepted input event and gate decision, appended durably to SQLite (WAL), beside a small
table of current per-market state for readers such as the exporter (see ``schema.py``).

* Durability: each ``apply`` commits before it returns, so a process killed at any point loses no event whose call
  returned. ``synchronous=NORMAL`` (the default) survives process crashes; pass ``synchronous="FULL"`` to survive
  power loss as well, at the cost of an fsync per event.
* Restart: the newest checkpoint (the core's serialized state, written every ``checkpoint_every`` events and on
  close) plus the events after it rebuild exactly the state before the restart.
* One writer: a lock file (``PATH.lock``) stops a second process from writing the same journal.
* Damage is an error, never a silent reset: an unreadable or foreign database raises ``JournalCorrupt`` and is left
  untouched.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import time
from decimal import localcontext
from pathlib import Path

from .config import GuardConfig, UnknownMarket
from .core import CheckpointFormat, Guard, Outcome
from .events import Event, InvalidEvent, event_to_dict, parse_event
from .market import MarketBook, MarketView
from .numbers import CONTEXT, fmt
from .schema import DDL, SCHEMA_VERSION


class JournalError(RuntimeError):
    """The journal cannot be used (locked, unwritable, or a write failed)."""


class JournalCorrupt(JournalError):
    """The database is unreadable or is not an inventory-guard journal; it was left untouched."""


_STATE_COLUMNS = (
    "market", "connector", "confirmed", "confirmed_at", "effective", "pending_fill_buys", "pending_fill_sells",
    "pending_fills", "held_buys", "open_buy_reservations", "open_sell_reservations", "conservative_exposure", "available_to_sell",
    "max_position", "pending_fill_max_age_s", "halted", "halted_reason", "oldest_pending_fill_at",
    "oldest_pending_fill_age_s", "last_force_reconcile_gap", "clock", "last_seq", "written_at",
)
_UPSERT_STATE = (
    f"INSERT OR REPLACE INTO market_state ({', '.join(_STATE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _STATE_COLUMNS)})"
)
_UPSERT_COUNTER = (
    "INSERT INTO market_counters (market, name, labels, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (market, name, labels) DO UPDATE SET value = excluded.value"
)
_UPSERT_HISTOGRAM = (
    "INSERT OR REPLACE INTO market_histograms (market, name, buckets, sum, count) VALUES (?, ?, ?, ?, ?)"
)


def _state_row(book: MarketBook, seq: int, written_at: float) -> tuple:
    """One market_state row, built straight from the book (this runs once per event and market)."""
    config, pending = book.config, book.pending
    oldest = pending.oldest()
    confirmed_at, gap = book.confirmed_at, book.last_force_reconcile_gap
    return (
        config.name, config.connector, fmt(book.confirmed), None if confirmed_at is None else float(confirmed_at),
        fmt(book.effective), fmt(pending.buys), fmt(pending.sells), book.pending_fills,
        fmt(pending.held_buys), fmt(book.open_buys), fmt(book.open_sells),
        fmt(book.conservative_exposure), fmt(book.available_to_sell),
        fmt(config.max_position), float(config.pending_fill_max_age_s), int(book.halted_reason is not None),
        book.halted_reason, None if oldest is None else float(oldest.arrived),
        0.0 if oldest is None else float(max(book.clock - oldest.arrived, 0)), None if gap is None else fmt(gap),
        float(book.clock), seq, written_at,
    )


@functools.lru_cache(maxsize=1024)
def _labels_json(labels: tuple) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


class Journal:
    """A Guard whose every event is journaled. Same reading API as ``Guard``: ``state``, ``markets``, ``counters``."""

    def __init__(self, path: Path, config: GuardConfig, conn: sqlite3.Connection, lock_fd: int, checkpoint_every: int,
                 state_write_interval_s: float):
        self.path = path
        self.config = config
        self._conn = conn
        self._lock_fd = lock_fd
        self._checkpoint_every = checkpoint_every
        self._state_write_interval_s = state_write_interval_s
        self._unwritten_markets: set[str] = set()  # markets whose state rows lag the event log (see apply)
        self._state_written_at = float("-inf")
        self._broken: str | None = None
        self.guard, self.seq, self._checkpoint_seq = self._restore()
        self._unwritten_markets.update(self.guard.books)
        self.flush()

    # --- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike, config: GuardConfig, *, checkpoint_every: int = 10_000,
        synchronous: str = "NORMAL", state_write_interval_s: float = 0.25,
    ) -> "Journal":
        """Open (or create) the journal at ``path`` and restore the guard from it.

        ``state_write_interval_s``: the per-market state tables are rewritten, in the same transaction as an event,
        when that much wall time has passed since they were last written (0: with every event); ``flush()``,
        ``checkpoint()`` and ``close()`` write them at once. The event log itself is committed with every event.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous: expected 'NORMAL' or 'FULL'")
        if not state_write_interval_s >= 0:
            raise ValueError("state_write_interval_s: expected a number of seconds >= 0")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            conn = _connect(path, synchronous)
            _ensure_schema(conn, path, config)
            return cls(path, config, conn, lock_fd, checkpoint_every, state_write_interval_s)
        except BaseException:
            os.close(lock_fd)
            raise

    def _restore(self) -> tuple[Guard, int, int]:
        try:
            row = self._conn.execute("SELECT seq, body FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
            guard, checkpoint_seq = Guard(self.config), 0
            if row is not None:
                try:
                    guard, checkpoint_seq = Guard.from_dict(self.config, json.loads(row[1])), row[0]
                except CheckpointFormat:  # written by an older core: rebuild from the event log with today's rules
                    guard, checkpoint_seq = Guard(self.config), 0
            seq = checkpoint_seq
            for seq, body in self._conn.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (seq,)):
                try:
                    event = parse_event(json.loads(body))
                except (InvalidEvent, ValueError) as exc:
                    raise JournalCorrupt(f"{self.path}: event {seq} in the journal is damaged ({exc}); left untouched") from None
                guard.apply(event)
            for book in guard.books.values():
                book.dirty_counters = set(book.counters)
                book.histogram_dirty = True
            return guard, seq, checkpoint_seq
        except UnknownMarket as exc:
            raise JournalError(f"{self.path}: the journal has state for a market the config does not know: {exc}") from None
        except InvalidEvent as exc:
            raise JournalError(
                f"{self.path}: the current config rejects an event the journal accepted ({exc}); was the config changed?"
            ) from None
        except JournalError:
            raise
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise JournalCorrupt(f"{self.path}: cannot restore the guard from the journal ({exc}); it was left untouched") from None

    # --- reading (delegated) --------------------------------------------------------------------------------------

    @property
    def markets(self) -> list[str]:
        return self.guard.markets

    def state(self, market: str) -> MarketView:
        return self.guard.state(market)

    def counters(self, market: str) -> dict:
        return self.guard.counters(market)

    # --- writing -------------------------------------------------------------------------------------------

    def apply(self, event: Event) -> Outcome:
        """Apply one event and commit it. Invalid events raise InvalidEvent and write nothing."""
        if self._broken:
            raise JournalError(f"{self.path}: journal unusable after an earlier write failure: {self._broken}")
        canonical = event_to_dict(event)
        # Apply exactly what a restart will read back: an event the parser refuses is refused now, not at restart.
        event = parse_event(canonical)
        body = json.dumps(canonical, separators=(",", ":"))
        outcome = self.guard.apply(event)  # raises InvalidEvent before any state change
        try:
            with self._conn:
                self.seq += 1
                decision = None if outcome.decision is None else json.dumps(outcome.decision.to_dict())
                self._conn.execute(
                    "INSERT INTO events (seq, t, type, body, decision) VALUES (?, ?, ?, ?, ?)",
                    (self.seq, float(event.t), event.type, body, decision),
                )
                # The event log is the record; the state tables are a view of it for readers. During a burst they
                # are rewritten at most every state_write_interval_s, and the first event after a quiet spell
                # writes them at once.
                self._unwritten_markets.update(outcome.touched)
                now = time.monotonic()
                if now - self._state_written_at >= self._state_write_interval_s:
                    self._write_unwritten(now)
                if self.seq - self._checkpoint_seq >= self._checkpoint_every:
                    self._write_checkpoint()
        except sqlite3.Error as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
            raise JournalError(f"{self.path}: could not journal a {event.type} event: {self._broken}") from None
        return outcome

    def flush(self) -> None:
        """Write every market's state rows that lag the event log (a no-op when none do)."""
        if self._unwritten_markets and not self._broken:
            with self._conn:
                self._write_unwritten(time.monotonic())

    def checkpoint(self) -> None:
        with self._conn:
            self._write_unwritten(time.monotonic())
            self._write_checkpoint()

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            if not self._broken and self.seq != self._checkpoint_seq:
                self.checkpoint()
            elif not self._broken:
                self.flush()
            self._conn.close()
        finally:
            self._conn = None
            os.close(self._lock_fd)

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------------------

    def _write_checkpoint(self) -> None:
        body = json.dumps(self.guard.to_dict(), separators=(",", ":"))
        self._conn.execute("INSERT OR REPLACE INTO checkpoints (seq, body) VALUES (?, ?)", (self.seq, body))
        self._conn.execute("DELETE FROM checkpoints WHERE seq < ?", (self.seq,))
        self._checkpoint_seq = self.seq

    def _write_unwritten(self, now: float) -> None:
        self._write_markets(self._unwritten_markets)
        self._unwritten_markets.clear()
        self._state_written_at = now

    def _write_markets(self, markets) -> None:
        with localcontext(CONTEXT):
            self._write_market_rows(markets)

    def _write_market_rows(self, markets) -> None:
        now = time.time()
        execute = self._conn.execute
        for market in markets:
            book: MarketBook = self.guard.books[market]
            execute(_UPSERT_STATE, _state_row(book, self.seq, now))
            for key in book.dirty_counters:
                execute(_UPSERT_COUNTER, (market, key[0], _labels_json(key[1]), book.counters[key]))
            book.dirty_counters.clear()
            if book.histogram_dirty:
                execute(
                    _UPSERT_HISTOGRAM,
                    (market, "fill_confirmation_seconds", json.dumps(book.histogram_cumulative()),
                     float(book.histogram_sum), sum(book.histogram)),
                )
                book.histogram_dirty = False


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(f"{path}: the journal is in use by another process (lock {lock_path})") from None
    return fd


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.isolation_level = "IMMEDIATE"  # `with conn:` opens BEGIN IMMEDIATE ... COMMIT
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise JournalError(f"{path}: could not switch the database to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        return conn
    except sqlite3.DatabaseError as exc:
        raise JournalCorrupt(
            f"{path}: not a readable SQLite database ({exc}); it was left untouched — move it aside to start a new "
            f"journal, or restore it from a backup"
        ) from None


def _ensure_schema(conn: sqlite3.Connection, path: Path, config: GuardConfig) -> None:
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise JournalCorrupt(f"{path}: this SQLite database is not an inventory-guard journal (no meta table); left untouched")
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                raise JournalCorrupt(
                    f"{path}: journal schema version {row[0] if row else 'missing'}, this version reads {SCHEMA_VERSION}"
                )
        with conn:
            conn.executescript("BEGIN;" + DDL + "COMMIT;") if not tables else None
            meta = {"schema_version": str(SCHEMA_VERSION), "bot": config.bot_name or path.stem}
            if not tables:
                meta["created_at"] = repr(time.time())
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
    except sqlite3.DatabaseError as exc:
        raise JournalCorrupt(
            f"{path}: not a readable SQLite database ({exc}); it was left untouched — move it aside to start a new "
            f"journal, or restore it from a backup"
        ) from None


__all__ = ["Journal", "JournalError", "JournalCorrupt", "InvalidEvent"]
