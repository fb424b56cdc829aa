"""One vocabulary of block reasons: the core's ``BlockReason`` is the set the gate and the host adapter use, the
exporter serves (at 0 before the first block), the alert rules, runbooks, dashboards and READMEs name."""

from __future__ import annotations

import json
import re

from dashboards import alerts
from dashboards.generate import DASHBOARDS, RULES_FILE
from dashboards.lint import panels_of
from inventory_guard.events import HOST_REASONS, BlockReason
from inventory_guard_exporter import catalogue
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.render import render_text
from inventory_guard_exporter.targets import Targets
from support import REPO
from support.exporter import parse_samples, write_raw_journal

REASONS = {r.value for r in BlockReason}
# Every orders_blocked_total selector's reason matcher: reason="x" or reason=~"x|y".
REASON_MATCHER = re.compile(r'orders_blocked_total\{[^}]*?reason=~?\\?"([^"\\]+)\\?"')
RUNBOOKS = "alert_rules/README.md"
DOCS = [RULES_FILE, "alert_rules/inventory_guard.rules.test.yml", RUNBOOKS, "README.md", "connector_plugin/README.md",
        "exporter/README.md", "dashboards/README.md", *DASHBOARDS]


def test_the_gate_decides_exactly_the_reasons_the_host_does_not():
    gate_reasons = set(re.findall(r"BlockReason\.([A-Z_]+)", (REPO / "connector_plugin/inventory_guard/gate.py")
                                  .read_text()))
    assert {BlockReason[name] for name in gate_reasons} == set(BlockReason) - set(HOST_REASONS)


def test_the_exporter_and_the_alert_rules_hold_the_cores_reasons():
    assert set(catalogue.BLOCK_REASONS) == REASONS and len(catalogue.BLOCK_REASONS) == len(REASONS)
    assert set(alerts.HOST_REASONS) == {r.value for r in HOST_REASONS}
    blocked = next(spec for spec in catalogue.COUNTERS if spec.name == "orders_blocked")
    assert {(z["reason"], z["side"]) for z in blocked.zero_series} == {(r, s) for r in REASONS for s in ("buy", "sell")}


def test_the_exporter_serves_every_reason_and_side_at_0_before_the_first_block(tmp_path):
    write_raw_journal(tmp_path / "j.sqlite", "b", {"m": "c"},
                      counters=[("m", "orders_blocked", {"side": "buy", "reason": "unknown_market"}, 3)])
    samples = parse_samples(render_text(StateCollector(Targets(paths=(str(tmp_path / "j.sqlite"),))).families()))
    served = {(dict(labels)["reason"], dict(labels)["side"]): value for (name, labels), value in samples.items()
              if name == "inventory_guard_orders_blocked_total"}
    assert served == {(r, s): 3 if (r, s) == ("unknown_market", "buy") else 0 for r in REASONS for s in ("buy", "sell")}


def test_every_reason_the_rules_dashboards_and_docs_name_is_one_of_the_cores():
    named = set()
    for rel in DOCS:
        for match in REASON_MATCHER.findall((REPO / rel).read_text()):
            named.update(match.split("|"))
    assert named and named <= REASONS, named - REASONS
    for rel in DASHBOARDS:  # the blocked-orders panels break down by the exported label, whatever its values
        panels = [p for p in panels_of(json.loads((REPO / rel).read_text()))
                  if p.get("title") == "Blocked orders by reason"]
        assert panels and all("reason" in t["expr"] and "{{reason}}" in t["legendFormat"]
                              for p in panels for t in p["targets"])


def table_row(rel: str, first_cell: str) -> str:
    return next(line for line in (REPO / rel).read_text().splitlines() if line.startswith(f"| {first_cell}"))


def test_the_readmes_and_the_runbook_list_every_reason():
    metric = table_row("exporter/README.md", "`inventory_guard_orders_blocked_total")  # the metrics table
    glossary = table_row("README.md", "block reason |")
    for row in (metric, glossary):
        assert set(re.findall(r"`([a-z_]+)`", row.split("|")[3])) == REASONS, row
    section = (REPO / RUNBOOKS).read_text().split("### InventoryGuardBuysBlocked")[1].split("\n### ")[0]
    assert set(re.findall(r"^- `([a-z_]+)`:", section, re.MULTILINE)) == REASONS
