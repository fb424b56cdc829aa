"""End to end on the real stack: the real core writes journals, the real exporter serves them, a real Prometheus
(Debian's package) scrapes it and evaluates the alert rules, a real Alertmanager routes the alerts by severity with
the example config's routing tree, and a webhook receiver records what would page someone.

Two things are checked here:

* the alerting path: a phantom fill that never settles pages as drift, a stale API snapshot warns, and both resolve
  after a force reconcile (which itself warns as a large gap);
* every PromQL expression of both dashboards, their template variables and every alert rule runs against that
  Prometheus with Grafana's variable substitution (All, and one concrete value) and returns data of the shape its
  panel needs.

The rules run with second-scale durations (``RuleSettings.fast()``): same expressions as production, shorter
``for:`` and thresholds, so the whole module stays well under a minute.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts
from dashboards.generate import DASHBOARDS, RULES_FILE, rules_yaml
from dashboards.grafana_queries import label_values_variables, panel_queries
from dashboards.grafana_vars import interpolate, multi_value
from support import REPO
from support.monitoring import Stack
from support.waiting import wait_until

pytestmark = [pytest.mark.monitoring, pytest.mark.timeout(180)]

JOB = "inventory_guard"
# Two bots, three markets; names with '-' and '.' exercise Grafana's regex escaping of variable values.
BOTS: dict[str, dict[str, Any]] = {  # name -> its connector and markets
    "mm-1": {"connector": "binance", "markets": ["BTC-USDT", "ETH-USDT"]},
    "mm-2": {"connector": "kraken", "markets": ["SOL.PERP"]},
}
PHANTOM_BOT, PHANTOM_MARKET = "mm-1", "BTC-USDT"
AGE_OUT_S = 5  # pending_fill_max_age_s of the ordinary markets
PHANTOM_AGE_OUT_S = 300  # long on the phantom market, so only the force reconcile can clear the drift
ALERT_TIMEOUT_S = 25
HISTORY_S = 30  # event-time span of one market's history


class Bot:
    """One bot's journal, written through the real core (``inventory_guard.journal.Journal``)."""

    def __init__(self, path: Path, name: str, connector: str) -> None:
        from inventory_guard.config import GuardConfig
        from inventory_guard.journal import Journal

        config = GuardConfig.model_validate({
            "bot_name": name, "connector": connector, "max_position": "100", "pending_fill_max_age_s": AGE_OUT_S,
            "markets": {PHANTOM_MARKET: {"pending_fill_max_age_s": PHANTOM_AGE_OUT_S}},
        })
        self.name, self.path = name, path
        self.journal = Journal.open(path, config)

    def emit(self, type_: str, t: float | None = None, **fields) -> object:
        from inventory_guard.events import parse_event

        outcome = self.journal.apply(parse_event({"t": time.time() if t is None else t, "type": type_, **fields}))
        self.journal.flush()  # a live bot's next tick writes batched state rows within a second; the test can't wait
        return outcome

    def close(self) -> None:
        self.journal.close()


def write_history(bot: Bot, market: str, start: float) -> None:
    """Half a minute of ordinary life for one market, so that every metric family has a series: startup reconcile,
    a fill confirmed by a snapshot, a duplicate, a failed trade, a fill that ages out, an open order, resized and
    blocked checks, an out-of-order snapshot, a short halt."""
    t = iter(start + i for i in itertools.count())
    m = market
    bot.emit("force_reconcile", next(t), market=m, size="0", reason="periodic")
    bot.emit("snapshot", next(t), market=m, size="0")
    bot.emit("check", next(t), market=m, side="sell", size="1")  # nothing to sell: blocked
    bot.emit("fill", next(t), market=m, side="buy", size="2", trade_id=f"{m}-T1", order_id="O1")
    bot.emit("fill", next(t), market=m, side="buy", size="2", trade_id=f"{m}-T1", order_id="O1")  # duplicate
    bot.emit("snapshot", next(t), market=m, size="2")  # confirms T1: a fill-confirmation latency sample
    bot.emit("fill", next(t), market=m, side="buy", size="1", trade_id=f"{m}-T2", order_id="O2")
    bot.emit("trade_failed", next(t), trade_id=f"{m}-T2")
    bot.emit("fill", next(t), market=m, side="sell", size="1", trade_id=f"{m}-T3", order_id="O3")
    for _ in range(AGE_OUT_S + 2):  # T3 ages out on an ordinary market (the phantom market keeps it pending)
        bot.emit("tick", next(t))
    if market == PHANTOM_MARKET:
        bot.emit("force_reconcile", next(t), market=m, size="2", reason="periodic")  # back to a clean state
    bot.emit("order_open", next(t), market=m, order_id=f"{m}-O4", side="buy", size="3")
    bot.emit("check", next(t), market=m, side="buy", size="500")  # resized to the limit
    bot.emit("snapshot", next(t), market=m, size="2", as_of=start)  # older than the state: out of order
    bot.emit("halt", next(t), market=m, reason="e2e")
    bot.emit("check", next(t), market=m, side="buy", size="1")  # blocked: halted
    bot.emit("resume", next(t), market=m)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("monitoring-e2e")


@pytest.fixture(scope="module")
def bots(workdir) -> Iterator[dict[str, Bot]]:
    bots = {name: Bot(workdir / f"{name}.sqlite", name, spec["connector"]) for name, spec in BOTS.items()}
    now = time.time()
    for name, spec in BOTS.items():
        for i, market in enumerate(spec["markets"]):  # one bot's markets one after the other, in the recent past
            write_history(bots[name], market, start=now - HISTORY_S * (len(spec["markets"]) - i))
    try:
        yield bots
    finally:
        for bot in bots.values():
            bot.close()


@pytest.fixture(scope="module")
def stack(workdir, bots):
    example_am = yaml.safe_load((REPO / "alert_rules/alertmanager.example.yml").read_text())
    s = Stack(
        workdir=workdir,
        state_paths=[b.path for b in bots.values()],
        rules_yaml=rules_yaml(alerts.RuleSettings.fast(job=JOB)),
        alertmanager_config=example_am,
        job=JOB,
    )
    try:
        s.start()
        yield s
    finally:
        s.close()
        print(f"\nmonitoring stack timings: {json.dumps({k: round(v, 2) for k, v in s.timings.items()})}")


# --- the alerting path ----------------------------------------------------------------------------------------------


def wait_for_notification(stack: Stack, alertname: str, status: str, path: str, **labels: str) -> dict:
    def arrived():
        found = stack.webhook.find(alertname, status, path=path, **labels)
        return found[0][1] if found else None

    return wait_until(arrived, ALERT_TIMEOUT_S, f"{alertname} {status} at webhook {path} {labels}", stack.diagnostics)


def test_phantom_fill_and_stale_snapshot_alert_and_resolve_after_force_reconcile(stack, bots):
    bot = bots[PHANTOM_BOT]
    where = {"bot": PHANTOM_BOT, "market": PHANTOM_MARKET}
    confirmed = "2"  # what the API snapshots keep saying

    # A websocket fill of 10 that the exchange never confirms: snapshots keep arriving with the same size.
    t_fill = time.monotonic()
    bot.emit("fill", market=PHANTOM_MARKET, side="buy", size="10", trade_id="PHANTOM", order_id="O-PH")
    last_snapshot = [0.0]

    def snapshots_keep_coming():
        if time.monotonic() - last_snapshot[0] >= 0.5:
            bot.emit("snapshot", market=PHANTOM_MARKET, size=confirmed)
            last_snapshot[0] = time.monotonic()
        found = stack.webhook.find("InventoryGuardPhantomFillDrift", "firing", path="/page", **where)
        return found[0][1] if found else None

    drift = wait_until(snapshots_keep_coming, ALERT_TIMEOUT_S, "phantom drift page", stack.diagnostics)
    stack.timings["fill_to_drift_page_s"] = time.monotonic() - t_fill
    assert drift["labels"]["severity"] == "page"
    where_text = f"{PHANTOM_BOT}/binance/{PHANTOM_MARKET}"
    assert drift["annotations"]["summary"] == f"Phantom fill drift on {where_text}: effective - confirmed = 10"
    assert drift["annotations"]["runbook_url"].endswith("#inventoryguardphantomfilldrift")
    assert not stack.webhook.find("InventoryGuardSnapshotStale", "firing", **where), "snapshots were fresh until now"

    # The API snapshots stop: the confirmed position goes stale (a warning, routed to the chat receiver).
    t_stop = time.monotonic()
    stale = wait_for_notification(stack, "InventoryGuardSnapshotStale", "firing", "/chat", **where)
    stack.timings["snapshots_stop_to_stale_warning_s"] = time.monotonic() - t_stop
    assert stale["labels"]["severity"] == "warning"
    assert stale["annotations"]["summary"].startswith(f"API snapshot on {where_text} is ")

    # A force reconcile re-syncs to the API position: both resolve; the gap it corrected (10) is reported.
    t_reconcile = time.monotonic()
    bot.emit("force_reconcile", market=PHANTOM_MARKET, size=confirmed, reason="ws_reconnect")
    wait_for_notification(stack, "InventoryGuardPhantomFillDrift", "resolved", "/page", **where)
    wait_for_notification(stack, "InventoryGuardSnapshotStale", "resolved", "/chat", **where)
    stack.timings["reconcile_to_both_resolved_s"] = time.monotonic() - t_reconcile
    gap = wait_for_notification(stack, "InventoryGuardLargeForceReconcileGap", "firing", "/chat", **where)
    assert gap["annotations"]["summary"] == f"Force reconcile on {where_text} corrected a gap of 10"

    # Nothing that must never fire did: exposure stays far below the limit of 100 here (so not even the guard's
    # deliberate over-count crosses it), and the venue's lower bound, confirmed + open buy reservations, must never
    # cross it.
    assert not stack.webhook.find("InventoryGuardExposureOverLimit", "firing")
    assert not stack.webhook.find("InventoryGuardConfirmedExposureOverLimit", "firing")
    assert not stack.webhook.find("InventoryGuardExporterDown", "firing")
    assert not stack.webhook.find("InventoryGuardJournalUnreadable", "firing")


# --- every PromQL expression against the real Prometheus --------------------------------------------------------------

SELECTION_MODES = ("All", "first value", "last value")


def wait_for_scrapes(stack: Stack, n: int = 3) -> None:
    """rate()/increase() need at least two samples in their window."""
    expr = f'count_over_time(up{{job="{JOB}"}}[1m]) >= {n}'
    wait_until(lambda: stack.prometheus.query(expr).get("data", {}).get("result"), 15, f"{n} scrapes",
               stack.diagnostics)


def resolve_variables(stack: Stack, dashboard: dict, mode: str, start: float, end: float) -> tuple[dict, dict]:
    """Grafana's variable values for one selection mode: (substitutions, chosen raw values per variable)."""
    substitutions: dict[str, str] = {}
    chosen: dict[str, list[str]] = {}
    for var in label_values_variables(dashboard):
        match = interpolate(var.match, substitutions)
        values = stack.prometheus.label_values(var.label, match, start, end)
        assert values, f"variable ${var.name}: label_values({match}, {var.label}) returned nothing"
        if mode != "All":  # one concrete value: the first or the last the variable offers
            values = values[:1] if mode == "first value" else values[-1:]
        chosen[var.name] = values
        substitutions[var.name] = multi_value(values)
    return substitutions, chosen


def shape_problems(query, result: dict, chosen: dict) -> list[str]:
    if result.get("status") != "success":
        return [f"{result.get('errorType')}: {result.get('error')}"]
    data = result["data"]
    expected_type = "vector" if query.instant else "matrix"
    if data["resultType"] != expected_type:
        return [f"result type {data['resultType']}, expected {expected_type}"]
    series = [r["metric"] for r in data["result"]]
    if not series:
        return ["no data"]
    problems = []
    for labels in series:
        missing = [name for name in query.legend_labels if name not in labels]
        if missing:
            problems.append(f"series {labels} lacks legend label(s) {missing}")
        for name, values in chosen.items():  # the selection really filters
            if name in labels and labels[name] not in values:
                problems.append(f"series {labels} escapes the selection {name}={values}")
    if query.heatmap and len({labels.get("le") for labels in series}) < 2:
        problems.append(f"heatmap needs one series per bucket `le`, got {series}")
    return problems


@pytest.mark.parametrize("dashboard_file", sorted(DASHBOARDS))
def test_every_dashboard_query_returns_data_of_its_panel_shape(stack, dashboard_file):
    dashboard = json.loads((REPO / dashboard_file).read_text())
    wait_for_scrapes(stack)
    end = time.time()
    start = end - 120
    failures, runs = [], 0
    for mode in SELECTION_MODES:
        substitutions, chosen = resolve_variables(stack, dashboard, mode, start, end)
        if mode == "All":
            assert set(chosen["bot"]) == set(BOTS)
            assert set(chosen["market"]) == {m for spec in BOTS.values() for m in spec["markets"]}
        for query in panel_queries(dashboard):
            expr = interpolate(query.expr, substitutions)
            assert "$" not in expr, f"{query.where}: unsubstituted variable in {expr}"
            result = (
                stack.prometheus.query(expr, at=end)
                if query.instant
                else stack.prometheus.query_range(expr, start, end, step=1)
            )
            runs += 1
            failures += [f"[{mode}] {query.where}: {p}\n    {expr}" for p in shape_problems(query, result, chosen)]
    assert not failures, f"{len(failures)} of {runs} query runs failed:\n" + "\n".join(failures)


def test_every_alert_expression_runs_and_names_only_exported_metrics(stack):
    wait_for_scrapes(stack)
    exported = stack.prometheus.metric_names()
    rules = yaml.safe_load((REPO / RULES_FILE).read_text())
    failures = []
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        result = stack.prometheus.query(rule["expr"])
        if result.get("status") != "success":
            failures.append(f"{rule['alert']}: {result.get('error')}")
        unknown = sorted(set(re.findall(r"\binventory_guard_\w+", rule["expr"])) - exported)
        if unknown:
            failures.append(f"{rule['alert']}: metrics the exporter does not serve: {unknown}")
    assert not failures, "\n".join(failures)
