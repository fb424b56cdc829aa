"""Every metric the exporter serves: name, type, source and one line of meaning (also exporter/README.md's table).

Names follow Prometheus conventions: prefix ``inventory_guard_``, units in the name, counters named without
``_total`` (the exposition adds it). Position quantities are in the market's base asset.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "inventory_guard_"
BASE_LABELS = ("bot", "connector", "market")


@dataclass(frozen=True, slots=True)
class GaugeSpec:
    name: str
    column: str  # market_state column (see reader.MARKET_COLUMNS); "" for computed gauges
    help: str
    decimal: bool = False  # TEXT decimal converted with float() at export time
    optional: bool = False  # NULL means "not yet": the series is omitted for that market


@dataclass(frozen=True, slots=True)
class CounterSpec:
    name: str  # as stored in market_counters.name; exported as PREFIX + name + "_total"
    help: str
    labels: tuple[str, ...] = ()
    zero_series: tuple[dict[str, str], ...] = ({},)  # label sets exported as 0 until the journal counts one


SIDES = ({"side": "buy"}, {"side": "sell"})
# Every reason an order is blocked for: the values of the core's inventory_guard.events.BlockReason (the exporter does
# not import the core; tests/test_block_reasons.py checks the two are equal).
BLOCK_REASONS = ("guard_error", "halted", "insufficient_inventory", "invalid_size", "position_limit", "snapshot_stale",
                 "unknown_market")
# The core's force-reconcile reasons (inventory_guard.events.FORCE_RECONCILE_REASONS); others are exported as stored.
REASONS = tuple({"reason": r} for r in ("manual", "periodic", "sequence_gap", "ws_reconnect"))

GAUGES: tuple[GaugeSpec, ...] = (
    GaugeSpec("confirmed_position", "confirmed",
              "Position confirmed by the last exchange balance snapshot (or force reconcile).", decimal=True),
    GaugeSpec("effective_position", "effective",
              "Best estimate: confirmed position plus the pending fills the estimate leaves outside it.", decimal=True),
    GaugeSpec("effective_minus_confirmed", "",
              "Drift: effective minus confirmed position (what pending fills add up to)."),
    GaugeSpec("pending_fill_buys", "pending_fill_buys",
              "Pending buy fills the best estimate leaves outside confirmed (effective counts them).", decimal=True),
    GaugeSpec("pending_fill_sells", "pending_fill_sells",
              "Pending sell fills the best estimate leaves outside confirmed (effective counts them).", decimal=True),
    GaugeSpec("pending_fills", "pending_fills",
              "Number of pending fills the best estimate leaves outside confirmed."),
    GaugeSpec("held_buys", "held_buys",
              "Pending buys the best estimate counts inside confirmed (anchored by a re-anchor, or likely inside "
              "after an ambiguous move): out of effective, still in conservative exposure.", decimal=True),
    GaugeSpec("open_buy_reservations", "open_buy_reservations",
              "Base quantity reserved by open buy orders.", decimal=True),
    GaugeSpec("open_sell_reservations", "open_sell_reservations",
              "Base quantity reserved by open sell orders.", decimal=True),
    GaugeSpec("conservative_exposure", "conservative_exposure",
              "Confirmed + every pending buy within the settlement window (pending fill buys, held buys; minus those "
              "the sums prove are inside confirmed, minus sells reported settled) + open buy reservations: the worst "
              "case checked against max_position.", decimal=True),
    GaugeSpec("max_position", "max_position",
              "Configured position limit for the market.", decimal=True),
    GaugeSpec("available_to_sell", "available_to_sell",
              "What the account holds once every pending sell settles (crediting only buys known outside confirmed), "
              "minus the open sell reservations: what may still be sold.", decimal=True),
    GaugeSpec("oldest_pending_fill_age_seconds", "oldest_pending_fill_age_s",
              "Age of the oldest unconfirmed fill at the market's last event (0 when none)."),
    GaugeSpec("pending_fill_max_age_seconds", "pending_fill_max_age_s",
              "Configured age after which an unconfirmed fill ages out."),
    GaugeSpec("confirmed_at_timestamp_seconds", "confirmed_at",
              "confirmed_at: the time the confirmed position is valid for (the last applied snapshot's as_of, or the "
              "last force reconcile's t); absent before either.", optional=True),
    GaugeSpec("halted", "halted",
              "1 while the market is halted (buys blocked until resumed), else 0."),
    GaugeSpec("force_reconcile_gap", "force_reconcile_gap",
              "Absolute gap between effective and exchange position at the last force reconcile (absent before one).",
              decimal=True, optional=True),
    GaugeSpec("state_last_update_timestamp_seconds", "written_at",
              "Wall-clock time the journal last wrote the market's state."),
)

COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec("fills", "Fills accepted, by side.", ("side",), SIDES),
    CounterSpec("duplicate_fills", "Fills ignored because the same fill (trade id, order id) was already counted."),
    CounterSpec("fills_confirmed", "Pending fills confirmed by a balance snapshot: by identity (the venue reported "
                "the trade settled, or an instant venue's arrival times agree) or by sums (the only subset of "
                "pending fills that explains the move).", ("how",), ({"how": "identity"}, {"how": "sums"})),
    CounterSpec("fills_aged_out", "Pending fills dropped after pending_fill_max_age without confirmation."),
    CounterSpec("fills_failed", "Fills dropped or ignored because the venue reported their trade failed."),
    CounterSpec("settlement_mismatches", "Snapshots whose move the pending fills (or an instant venue's arrival "
                "times) did not explain: stale answers, phantom fills, fills still on their way."),
    CounterSpec("reconcile_fallbacks", "Times the reconciliation fell back to the safe rule and re-anchored, by "
                "reason (mismatch, capped, overdue).", ("reason",),
                tuple({"reason": r} for r in ("capped", "mismatch", "overdue"))),
    CounterSpec("reconcile_capped", "Snapshots whose exact search hit reconcile_max_candidates or "
                "reconcile_max_steps."),
    CounterSpec("settlement_notices", "fill_settled notices, by result (applied, early, unmatched, after_failure).",
                ("result",), tuple({"result": r} for r in ("after_failure", "applied", "early", "unmatched"))),
    CounterSpec("undecided_fills_decided", "Undecided fills (past the settlement window, neither shown nor ruled out "
                "by the sums) that a settlement notice, a failure report or the settlement ledger later decided, by "
                "result (real, phantom).", ("result",), ({"result": "phantom"}, {"result": "real"})),
    CounterSpec("out_of_order_snapshots", "Balance snapshots ignored because their as_of was older than the last "
                "applied one's (an out-of-order answer)."),
    CounterSpec("force_reconciles", "Forced reconciliations to the exchange balance, by reason.", ("reason",), REASONS),
    CounterSpec("orders_checked", "Order checks answered by the gate, by side.", ("side",), SIDES),
    CounterSpec("orders_blocked", "Orders blocked, by side and reason: by the gate's check, or by the host adapter "
                "without one.", ("reason", "side"),
                tuple({"reason": r, "side": side} for r in BLOCK_REASONS for side in ("buy", "sell"))),
    CounterSpec("orders_resized", "Orders allowed with a reduced size, by side.", ("side",), SIDES),
)

HISTOGRAMS: dict[str, str] = {
    "fill_confirmation_seconds": "Time from a fill's arrival to its confirmation by a balance snapshot.",
}

EXPORTER_JOURNAL_UP = "inventory_guard_exporter_journal_up"
EXPORTER_JOURNAL_UP_HELP = "1 when the journal was read in this scrape, 0 when it is missing, locked or unreadable."
EXPORTER_SCRAPE_DURATION = "inventory_guard_exporter_scrape_duration_seconds"
EXPORTER_SCRAPE_DURATION_HELP = "Time spent reading all journals and building their metrics in this scrape."
