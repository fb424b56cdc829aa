"""Read one journal's documented read interface in a single, consistent read transaction.

The journal (schema in ``inventory_guard.schema``) is opened read-only through SQLite's ``mode=ro`` URI, so the
exporter can never create, migrate or write a bot's database. ``BEGIN`` followed by the SELECTs makes every
query of one scrape see the same snapshot (WAL readers get snapshot isolation), so a scrape never mixes a
market's state with counters from a later event.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SCHEMA_VERSIONS = ("1", "2")
# What schema version 1 called what version 2 renamed (inventory_guard.schema): a bot renames them when it opens a
# version-1 journal; until then (an older bot) they are read under the old names and exported under the new ones.
V1_STATE_COLUMNS = {"last_force_reconcile_gap": "force_reconcile_gap"}
V1_COUNTERS = {"stale_snapshots": "out_of_order_snapshots"}

# market_state columns the exporter reads, in the order the rows are returned.
MARKET_COLUMNS = (
    "market",
    "connector",
    "confirmed",
    "confirmed_at",
    "effective",
    "pending_fill_buys",
    "pending_fill_sells",
    "pending_fills",
    "held_buys",
    "open_buy_reservations",
    "open_sell_reservations",
    "conservative_exposure",
    "available_to_sell",
    "max_position",
    "pending_fill_max_age_s",
    "halted",
    "oldest_pending_fill_age_s",
    "force_reconcile_gap",
    "written_at",
)
COL = {name: i for i, name in enumerate(MARKET_COLUMNS)}

_PERMISSION_HINT = (
    "; check that the exporter's user can read the file and, for a WAL journal, its -wal/-shm files (or create them "
    "in its directory): run the exporter as the bot's user or group"
)

_MARKETS_SQL = f"SELECT {', '.join(MARKET_COLUMNS)} FROM market_state ORDER BY market"
_V1_NAME = {new: old for old, new in V1_STATE_COLUMNS.items()}
_V1_MARKETS_SQL = f"SELECT {', '.join(_V1_NAME.get(c, c) for c in MARKET_COLUMNS)} FROM market_state ORDER BY market"
_COUNTERS_SQL = "SELECT market, name, labels, value FROM market_counters ORDER BY name, market, labels"
_HISTOGRAMS_SQL = "SELECT market, name, buckets, sum, count FROM market_histograms ORDER BY name, market"


class JournalUnreadable(Exception):
    """The journal cannot be read right now (missing, locked, corrupt, wrong schema); ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class BotState:
    """One consistent snapshot of a journal's read tables, exactly as stored (decimals still TEXT)."""

    path: str
    bot: str
    markets: list[tuple]  # rows in MARKET_COLUMNS order
    counters: list[tuple[str, str, str, int]]  # (market, name, labels JSON, value)
    histograms: list[tuple[str, str, str, float, int]]  # (market, name, buckets JSON, sum, count)


def read_only_uri(path: str | os.PathLike[str]) -> str:
    """``file:`` URI opening ``path`` read-only; percent-encodes characters SQLite would read as URI syntax."""
    return Path(path).absolute().as_uri() + "?mode=ro"


def read_state(path: str, busy_timeout_s: float = 0.5) -> BotState:
    """Read ``path`` in one read transaction; raise ``JournalUnreadable`` with a one-line reason on any failure."""
    _check_regular_file(path)
    try:
        con = sqlite3.connect(
            read_only_uri(path), uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise JournalUnreadable(_explain(exc, busy_timeout_s)) from exc
    try:
        con.execute("BEGIN")
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        version = meta.get("schema_version")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise JournalUnreadable(
                f"unsupported journal schema_version {version!r} (this exporter reads "
                f"{' and '.join(map(repr, SUPPORTED_SCHEMA_VERSIONS))})"
            )
        bot = meta.get("bot")
        if not bot:
            raise JournalUnreadable("journal meta has no 'bot' name")
        markets = con.execute(_V1_MARKETS_SQL if version == "1" else _MARKETS_SQL).fetchall()
        counters = con.execute(_COUNTERS_SQL).fetchall()
        if version == "1":
            counters = [(m, V1_COUNTERS.get(name, name), labels, v) for m, name, labels, v in counters]
        histograms = con.execute(_HISTOGRAMS_SQL).fetchall()
        return BotState(path=path, bot=bot, markets=markets, counters=counters, histograms=histograms)
    except sqlite3.Error as exc:
        raise JournalUnreadable(_explain(exc, busy_timeout_s)) from exc
    finally:
        con.close()  # closing ends the read transaction; nothing was written


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular_file(path: str) -> None:
    """Only regular files reach SQLite: opening a FIFO would block the scrape until something writes to it.

    ``os.stat`` opens nothing (opening a device can have effects of its own). A file swapped for a FIFO between this
    check and SQLite's open is not covered; that takes someone who can already rewrite the bot's directory.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise JournalUnreadable("file does not exist") from None
    except PermissionError as exc:
        raise JournalUnreadable(f"cannot stat the file: {exc.strerror}{_PERMISSION_HINT}") from None
    except OSError as exc:
        raise JournalUnreadable(f"cannot stat the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), f"a file of type {stat.S_IFMT(mode):#o}")
        raise JournalUnreadable(f"not a regular file: it is {kind}; only regular files are read as journals")


def _explain(exc: sqlite3.Error, busy_timeout_s: float) -> str:
    """SQLite's message plus what it means for someone running the exporter."""
    message = str(exc)
    if message.startswith(("no such table", "no such column")):
        return f"not an inventory-guard journal (schema v1 or v2): {message}"
    if "locked" in message or "busy" in message:
        return f"{message} (gave up after {busy_timeout_s:g} s)"
    if "unable to open" in message or "readonly" in message or "permission" in message.lower():
        return message + _PERMISSION_HINT
    return message
