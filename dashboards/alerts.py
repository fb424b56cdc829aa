"""Prometheus alert rules for inventory-guard, as data.

``build_rules(RuleSettings())`` gives the production rules committed as ``alert_rules/inventory_guard.rules.yml``.
Every threshold and ``for:`` duration is a field of ``RuleSettings`` so the end-to-end test can render the same rules
with second-scale durations (``RuleSettings.fast()``) and still finish in well under a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

RUNBOOK = "alert_rules/README.md"
MARKET = "bot, connector, market"
# The reasons the host adapter blocks an order for without a gate check (the core's inventory_guard.events
# HOST_REASONS; tests/test_block_reasons.py checks they are equal): such orders are answered, not checked.
HOST_REASONS = ("guard_error", "invalid_size", "unknown_market")


@dataclass(frozen=True)
class RuleSettings:
    job: str = "inventory_guard"  # the Prometheus job scraping the exporter
    # The guard's default pending_fill_max_age_s is 30 s; a balance snapshot arrives at least once a minute, so a
    # drift that outlives both (plus margin) cannot be an unconfirmed fill any more: it is a phantom.
    phantom_drift_for: str = "2m"
    pending_stuck_for: str = "1m"
    snapshot_stale_after_s: float = 120
    snapshot_stale_for: str = "1m"
    snapshot_missing_for: str = "10m"
    # Conservative exposure over-counts on purpose (buys kept pending or held after an ambiguous snapshot until a later
    # snapshot shows them or they age out), so it may exceed max_position for about one age-out after the last buy
    # fills. Like phantom drift, that is bounded by the age-out plus a snapshot interval: lasting longer is real
    # trouble.
    exposure_over_limit_for: str = "2m"
    # Confirmed position + open buy reservations is a lower bound of the venue's exposure: above the limit is never
    # fine.
    confirmed_exposure_over_limit_for: str = "0s"
    reconcile_gap_ratio: float = 0.05  # gap as a fraction of max_position
    reconcile_window: str = "15m"
    blocked_buy_ratio: float = 0.5
    blocked_window: str = "10m"
    blocked_for: str = "10m"
    halted_for: str = "1m"
    state_stale_after_s: float = 300
    state_stale_for: str = "2m"
    target_down_for: str = "2m"
    journal_unreadable_for: str = "2m"
    absent_for: str = "5m"

    @classmethod
    def fast(cls, job: str = "inventory_guard") -> RuleSettings:
        """Second-scale variant for the end-to-end test (1 s scrape and evaluation intervals)."""
        return replace(
            cls(job=job),
            phantom_drift_for="3s",
            exposure_over_limit_for="3s",
            pending_stuck_for="1s",
            snapshot_stale_after_s=4,
            snapshot_stale_for="1s",
            snapshot_missing_for="5s",
            reconcile_window="30s",
            blocked_window="10s",
            blocked_for="2s",
            halted_for="1s",
            state_stale_after_s=10,
            state_stale_for="2s",
            target_down_for="2s",
            journal_unreadable_for="2s",
            absent_for="5s",
        )


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: str  # "page" (wake someone) or "warning" (look during working hours)
    summary: str
    description: str

    def to_rule(self) -> dict:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{RUNBOOK}#{self.name.lower()}",
            },
        }


def _m(name: str, selector: str = "") -> str:
    return f"inventory_guard_{name}{{{selector}}}" if selector else f"inventory_guard_{name}"


def position_alerts(s: RuleSettings) -> list[Alert]:
    where = "{{ $labels.bot }}/{{ $labels.connector }}/{{ $labels.market }}"
    blocked_buys = _m("orders_blocked_total", 'side="buy"')
    host_blocked_buys = _m("orders_blocked_total", f'side="buy",reason=~"{"|".join(HOST_REASONS)}"')
    return [
        Alert(
            "InventoryGuardPhantomFillDrift",
            f"{_m('effective_minus_confirmed')} != 0",
            s.phantom_drift_for,
            "page",
            f"Phantom fill drift on {where}: effective - confirmed = {{{{ $value }}}}",
            "Effective and confirmed position have differed for longer than the pending-fill age-out plus one "
            "snapshot interval: a fill the exchange never confirmed is still counted.",
        ),
        Alert(
            "InventoryGuardPendingFillStuck",
            # The journal stores the oldest fill's age at the market's last event; add the time since that write so
            # the age keeps growing when no events (and so no age-out) happen.
            f"({_m('oldest_pending_fill_age_seconds')} + (time() - {_m('state_last_update_timestamp_seconds')}))"
            f" > {_m('pending_fill_max_age_seconds')}"
            f" and on({MARKET}) {_m('pending_fills')} > 0",
            s.pending_stuck_for,
            "warning",
            f"Pending fill on {where} is {{{{ $value | humanizeDuration }}}} old, past its age-out",
            "A fill is still pending past pending_fill_max_age: no snapshot taken after its settlement window has "
            "been applied (the API is down or not polled, see InventoryGuardSnapshotStale), or the guard stopped "
            "processing events.",
        ),
        Alert(
            "InventoryGuardSnapshotStale",
            f"time() - {_m('confirmed_at_timestamp_seconds')} > {s.snapshot_stale_after_s:g}",
            s.snapshot_stale_for,
            "warning",
            f"API snapshot on {where} is {{{{ $value | humanizeDuration }}}} old",
            f"confirmed_at is more than {s.snapshot_stale_after_s:g} s old (no snapshot or force reconcile since): the "
            "confirmed position may be behind the venue.",
        ),
        Alert(
            "InventoryGuardSnapshotMissing",
            f"{_m('effective_position')} unless on({MARKET}) {_m('confirmed_at_timestamp_seconds')}",
            s.snapshot_missing_for,
            "warning",
            f"No API snapshot ever received on {where}",
            "The market has state but neither a balance snapshot nor a force reconcile yet (no confirmed_at), so "
            "nothing it holds is confirmed.",
        ),
        Alert(
            "InventoryGuardExposureOverLimit",
            f"{_m('conservative_exposure')} > {_m('max_position')}",
            s.exposure_over_limit_for,
            "page",
            f"Conservative exposure {{{{ $value }}}} above max position on {where} for {s.exposure_over_limit_for}",
            "The guard's worst-case view (confirmed + pending fill buys + held buys - the sums' credit + open buy "
            "reservations) has "
            f"exceeded max_position for {s.exposure_over_limit_for}. A short excursion is the guard's deliberate "
            "over-count of buys an ambiguous snapshot did not settle (buys are blocked meanwhile); one lasting past "
            "the age-out plus a snapshot interval means a fill that never settles, a manual trade or a bug.",
        ),
        Alert(
            "InventoryGuardConfirmedExposureOverLimit",
            f"{_m('confirmed_position')} + {_m('open_buy_reservations')} > {_m('max_position')}",
            s.confirmed_exposure_over_limit_for,
            "page",
            f"Confirmed position + open buy reservations {{{{ $value }}}} above max position on {where}",
            "The API-confirmed position plus the open buy reservations, a lower bound of the true exposure, exceeds "
            "max_position: the venue itself is over the limit. Reduce the position now, then find the fill the "
            "guard never saw (websocket gap, manual trade, fills during an outage).",
        ),
        Alert(
            "InventoryGuardLargeForceReconcileGap",
            f"{_m('force_reconcile_gap')} > {s.reconcile_gap_ratio:g} * {_m('max_position')}"
            f" and on({MARKET}) sum by ({MARKET}) (increase({_m('force_reconciles_total')}[{s.reconcile_window}])) > 0",
            "0s",
            "warning",
            f"Force reconcile on {where} corrected a gap of {{{{ $value }}}}",
            f"A force reconcile in the last {s.reconcile_window} found effective and exchange position more than "
            f"{s.reconcile_gap_ratio:.0%} of max_position apart: fills were missed or invented.",
        ),
        Alert(
            "InventoryGuardBuysBlocked",
            # blocked buys / buys answered (the gate's checks, and the adapter's blocks made without one)
            f"sum by ({MARKET}) (rate({blocked_buys}[{s.blocked_window}]))"
            f" / sum by ({MARKET}) (rate({_m('orders_checked_total', 'side=\"buy\"')}[{s.blocked_window}])"
            f" or rate({host_blocked_buys}[{s.blocked_window}]))"
            f" > {s.blocked_buy_ratio:g}",
            s.blocked_for,
            "warning",
            f"{{{{ $value | humanizePercentage }}}} of buy orders blocked on {where}",
            f"More than {s.blocked_buy_ratio:.0%} of buy orders were blocked over {s.blocked_window}: the bot cannot "
            "quote its bid side (limit reached, snapshot stale, halted, a guard error, invalid sizes or an unguarded "
            "pair).",
        ),
        Alert(
            "InventoryGuardHalted",
            f"{_m('halted')} == 1",
            s.halted_for,
            "page",
            f"Inventory guard halted trading on {where}",
            "The guard halted the market (fail-closed after a guard error): buys are blocked until it is resumed.",
        ),
    ]


def pipeline_alerts(s: RuleSettings) -> list[Alert]:
    job = f'job="{s.job}"'
    return [
        Alert(
            "InventoryGuardStateNotUpdating",
            f"time() - {_m('state_last_update_timestamp_seconds')} > {s.state_stale_after_s:g}",
            s.state_stale_for,
            "warning",
            "Journal state of {{ $labels.bot }}/{{ $labels.market }} not written for {{ $value | humanizeDuration }}",
            "The bot has not written this market's state: it is stopped, stuck, or writing another journal.",
        ),
        Alert(
            "InventoryGuardExporterDown",
            f"up{{{job}}} == 0",
            s.target_down_for,
            "page",
            "Inventory guard exporter {{ $labels.instance }} is down",
            "Prometheus cannot scrape the exporter: no guard metric and no other inventory alert works meanwhile.",
        ),
        Alert(
            "InventoryGuardJournalUnreadable",
            f"inventory_guard_exporter_journal_up{{{job}}} == 0",
            s.journal_unreadable_for,
            "page",
            "Exporter {{ $labels.instance }} cannot read the journal of bot {{ $labels.bot }}",
            "The journal is missing, locked, corrupt or of an unsupported schema version.",
        ),
        Alert(
            "InventoryGuardMetricsAbsent",
            f"absent(inventory_guard_exporter_journal_up{{{job}}})",
            s.absent_for,
            "page",
            f'No inventory guard metrics from job "{s.job}"',
            "Prometheus has no series from the exporter at all: the scrape job is missing or misnamed, or the "
            "target was removed.",
        ),
    ]


def build_rules(settings: RuleSettings | None = None) -> dict:
    s = settings or RuleSettings()
    return {
        "groups": [
            {"name": "inventory_guard_positions", "rules": [a.to_rule() for a in position_alerts(s)]},
            {"name": "inventory_guard_pipeline", "rules": [a.to_rule() for a in pipeline_alerts(s)]},
        ]
    }


def all_alerts(settings: RuleSettings | None = None) -> list[Alert]:
    s = settings or RuleSettings()
    return position_alerts(s) + pipeline_alerts(s)
