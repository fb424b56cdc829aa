"""The Prometheus alert rules and the example Alertmanager config: promtool/amtool clean, unit-tested firing and not
firing with promtool, every alert with a severity, a summary naming bot/market/value, and a runbook.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from dashboards import alerts
from dashboards.generate import RULES_FILE, rules_yaml
from support import REPO
from support.monitoring import require_monitoring_binaries

RULES_DIR = REPO / "alert_rules"
UNIT_TESTS = RULES_DIR / "inventory_guard.rules.test.yml"
EXAMPLE_AM = RULES_DIR / "alertmanager.example.yml"
RUNBOOKS = RULES_DIR / "README.md"  # one "### <alert>" section per alert under "## Runbooks"
SEVERITIES = {"page", "warning"}
MARKET_ALERTS = {a.name for a in alerts.position_alerts(alerts.RuleSettings())} | {"InventoryGuardStateNotUpdating"}


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return require_monitoring_binaries()


def run(argv: list[str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def committed_rules() -> list[dict]:
    return [r for g in yaml.safe_load((REPO / RULES_FILE).read_text())["groups"] for r in g["rules"]]


# --- promtool ----------------------------------------------------------------------------------------------------


def test_rules_pass_promtool_check(tools):
    result = run([tools["promtool"], "check", "rules", str(REPO / RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(committed_rules())} rules found" in result.stdout


def test_fast_variant_used_by_the_e2e_test_passes_promtool_check(tools, tmp_path):
    (tmp_path / "fast.yml").write_text(rules_yaml(alerts.RuleSettings.fast()))
    result = run([tools["promtool"], "check", "rules", str(tmp_path / "fast.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(tools):
    result = run([tools["promtool"], "test", "rules", UNIT_TESTS.name], cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"phantom_drift_for": "5m"},  # drift would no longer page after age-out + one snapshot interval
        {"snapshot_stale_after_s": 600},
        {"reconcile_gap_ratio": 0.2},
        {"blocked_buy_ratio": 0.7},
        {"exposure_over_limit_for": "0s"},  # the guard's deliberate over-count would page
        {"exposure_over_limit_for": "5m"},  # a lasting excursion would no longer page after age-out + snapshot interval
        {"confirmed_exposure_over_limit_for": "1m"},  # the venue over the limit must page at once
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_promtool_unit_tests_catch_a_changed_threshold(tools, tmp_path, change):
    """The unit tests pin the production thresholds: rendering the rules with another value makes them fail."""
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    (tmp_path / "inventory_guard.rules.yml").write_text(rules_yaml(alerts.RuleSettings(**change)))
    result = run([tools["promtool"], "test", "rules", UNIT_TESTS.name], cwd=tmp_path)
    assert result.returncode != 0, result.stdout


def test_every_alert_has_a_firing_and_a_not_firing_unit_test():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    cases = [c for t in tests for c in t["alert_rule_test"]]
    for rule in committed_rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']}: no firing case"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']}: no not-firing case"


def test_position_alerts_are_tested_resolving_after_the_force_reconcile():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    for alertname in ("InventoryGuardPhantomFillDrift", "InventoryGuardSnapshotStale"):
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == alertname]
        times = [(c["eval_time"], bool(c["exp_alerts"])) for c in cases]
        assert [firing for _, firing in times] == [False, True, False], f"{alertname}: pending, firing, resolved"


# --- content of every alert ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", committed_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_summary_and_runbook(rule):
    assert rule["labels"]["severity"] in SEVERITIES
    summary = rule["annotations"]["summary"]
    if rule["alert"] in MARKET_ALERTS:
        assert "$labels.bot" in summary and "$labels.market" in summary, summary
    path, anchor = rule["annotations"]["runbook_url"].split("#")
    assert path == RUNBOOKS.relative_to(REPO).as_posix()
    runbooks = RUNBOOKS.read_text().split("\n## Runbooks\n", 1)[1].split("\n## ", 1)[0]
    runbook_headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbooks.splitlines()
        if line.startswith("### ")
    }
    assert anchor in runbook_headings, f"no '### {rule['alert']}' section under '## Runbooks' in {RUNBOOKS}"


def test_summaries_that_carry_a_value_show_it():
    for rule in committed_rules():
        if rule["alert"] in {"InventoryGuardSnapshotMissing", "InventoryGuardHalted", "InventoryGuardExporterDown",
                             "InventoryGuardJournalUnreadable", "InventoryGuardMetricsAbsent"}:
            continue  # the condition itself is the value
        assert "$value" in rule["annotations"]["summary"], rule["alert"]


def test_the_issue_alerts_exist_with_their_severity():
    severity = {r["alert"]: r["labels"]["severity"] for r in committed_rules()}
    assert severity == {
        "InventoryGuardPhantomFillDrift": "page",
        "InventoryGuardPendingFillStuck": "warning",
        "InventoryGuardSnapshotStale": "warning",
        "InventoryGuardSnapshotMissing": "warning",
        "InventoryGuardExposureOverLimit": "page",
        "InventoryGuardConfirmedExposureOverLimit": "page",
        "InventoryGuardLargeForceReconcileGap": "warning",
        "InventoryGuardBuysBlocked": "warning",
        "InventoryGuardHalted": "page",
        "InventoryGuardStateNotUpdating": "warning",
        "InventoryGuardExporterDown": "page",
        "InventoryGuardJournalUnreadable": "page",
        "InventoryGuardMetricsAbsent": "page",
    }


def rule_named(name: str) -> dict:
    return next(r for r in committed_rules() if r["alert"] == name)


def test_conservative_exposure_over_limit_waits_out_the_guards_deliberate_over_count():
    """Conservative exposure may exceed max_position for about one age-out after the last buy fills (buys kept
    pending or held after an ambiguous snapshot): only an excursion outlasting age-out + a snapshot interval pages."""
    rule = rule_named("InventoryGuardExposureOverLimit")
    assert rule["expr"] == "inventory_guard_conservative_exposure > inventory_guard_max_position"
    assert rule["for"] == "2m"
    assert rule["for"] == alerts.RuleSettings().phantom_drift_for  # the same bound as phantom drift


def test_confirmed_exposure_over_limit_pages_at_once():
    """Confirmed position + open buy reservations is a lower bound of the venue's exposure: over the limit is never
    fine."""
    rule = rule_named("InventoryGuardConfirmedExposureOverLimit")
    assert rule["expr"] == (
        "inventory_guard_confirmed_position + inventory_guard_open_buy_reservations > inventory_guard_max_position"
    )
    assert rule["for"] == "0s"
    assert rule["labels"]["severity"] == "page"


def test_exposure_unit_tests_show_a_short_excursion_not_firing_and_a_lasting_one_firing():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == "InventoryGuardExposureOverLimit"]
    assert [bool(c["exp_alerts"]) for c in cases if c["eval_time"] in ("45s", "2m", "2m30s", "3m30s")] == [
        False, False, True, False
    ], "30 s excursion silent, lasting one pending, firing, resolved"


# --- Alertmanager example -------------------------------------------------------------------------------------------


def test_example_alertmanager_config_passes_amtool(tools):
    result = run([tools["amtool"], "check-config", str(EXAMPLE_AM)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("severity, receiver", [("page", "pager"), ("warning", "chat")])
def test_example_alertmanager_config_routes_by_severity(tools, severity, receiver):
    result = run([tools["amtool"], "config", "routes", "test", f"--config.file={EXAMPLE_AM}",
                  f"severity={severity}", "alertname=InventoryGuardPhantomFillDrift", "bot=b1", "market=m"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
