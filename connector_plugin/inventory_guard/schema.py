"""The journal's SQLite schema (version 2): an append-only event log plus a small table of current state.

The exporter and any other reader open the database read-only and use only ``meta``, ``market_state``,
``market_counters`` and ``market_histograms``; those four tables are the documented, stable read interface.

``meta``               key/value: ``schema_version`` ("2"), ``bot`` (the bot label), ``created_at`` (epoch s).
``events``             every accepted input event, in order: ``seq``, ``t`` (event time, s), ``type``, ``body`` (JSON,
                       decimals as strings) and, for checks and order_blocked, ``decision`` (JSON
                       ``{"allowed","size","reason"}``; ``reason``: an ``events.BlockReason``).
``checkpoints``        serialized core state after event ``seq`` (restart = newest checkpoint + the events after it).
``market_state``       one row per market, rewritten in the same transaction as the event that changed it.
                       Decimal quantities are TEXT (exact), times are REAL seconds:
                         market, connector, confirmed, confirmed_at (NULL before the first snapshot), effective,
                         pending_fill_buys, pending_fill_sells, pending_fills (count), held_buys (pending buys the
                         estimate counts inside confirmed: out of effective, in conservative exposure),
                         open_buy_reservations, open_sell_reservations, conservative_exposure, available_to_sell,
                         max_position,
                         pending_fill_max_age_s, halted (0/1), halted_reason, oldest_pending_fill_at (arrival time of
                         the oldest pending fill, NULL when none), oldest_pending_fill_age_s (its age at ``clock``),
                         force_reconcile_gap (|effective - API| of the last force reconcile, NULL before one),
                         clock (time of the last event the market saw), last_seq, written_at (wall-clock epoch s of
                         the write: the only wall-clock value, written by the journal, never by the core).
``market_counters``    monotonically increasing counts: (market, name, labels, value). ``labels`` is canonical JSON
                       (sorted keys, ``{}`` when none). Names (Prometheus adds ``_total``):
                         fills {side}, duplicate_fills, fills_confirmed {how}, fills_aged_out, fills_failed,
                         settlement_mismatches, reconcile_fallbacks {reason}, reconcile_capped,
                         settlement_notices {result}, undecided_fills_decided {result},
                         out_of_order_snapshots, force_reconciles {reason},
                         orders_checked {side}, orders_blocked {side, reason}, orders_resized {side}
``market_histograms``  cumulative histograms: (market, name, buckets, sum, count); ``buckets`` is JSON
                       ``[["0.25", n], …, ["+Inf", n]]`` with cumulative counts. Names: fill_confirmation_seconds
                       (fill arrival -> confirmed by a snapshot; bounds: ``market.FILL_CONFIRMATION_BUCKETS``).

Version 1 named two of these differently; a bot opening a version-1 journal renames them in place (and sets the
version to 2), and the exporter reads both versions.
"""

SCHEMA_VERSION = 2
# What version 1 called what version 2 renamed: market_state columns and market_counters names (old -> new).
V1_STATE_COLUMNS = {"last_force_reconcile_gap": "force_reconcile_gap"}
V1_COUNTERS = {"stale_snapshots": "out_of_order_snapshots"}

# The SQLite header's application_id ("IGRD") marks a file as an inventory-guard journal; user_version repeats the
# schema version. Journals created before these were set carry 0 in both and are recognised by their meta table.
APPLICATION_ID = 0x49475244

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    t        REAL    NOT NULL,
    type     TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    decision TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS market_state (
    market                   TEXT PRIMARY KEY,
    connector                TEXT NOT NULL,
    confirmed                TEXT NOT NULL,
    confirmed_at             REAL,
    effective                TEXT NOT NULL,
    pending_fill_buys        TEXT NOT NULL,
    pending_fill_sells       TEXT NOT NULL,
    pending_fills            INTEGER NOT NULL,
    held_buys                TEXT NOT NULL,
    open_buy_reservations    TEXT NOT NULL,
    open_sell_reservations   TEXT NOT NULL,
    conservative_exposure    TEXT NOT NULL,
    available_to_sell        TEXT NOT NULL,
    max_position             TEXT NOT NULL,
    pending_fill_max_age_s   REAL NOT NULL,
    halted                   INTEGER NOT NULL,
    halted_reason            TEXT,
    oldest_pending_fill_at   REAL,
    oldest_pending_fill_age_s REAL NOT NULL,
    force_reconcile_gap      TEXT,
    clock                    REAL NOT NULL,
    last_seq                 INTEGER NOT NULL,
    written_at               REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS market_counters (
    market TEXT NOT NULL,
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (market, name, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS market_histograms (
    market  TEXT NOT NULL,
    name    TEXT NOT NULL,
    buckets TEXT NOT NULL,
    sum     REAL NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (market, name)
) WITHOUT ROWID;
"""
