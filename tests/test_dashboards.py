"""The Grafana dashboards: generated from Python, committed up to date, valid against Grafana's published dashboard
JSON Schema, clean under the lint for what the schema cannot express, and shipped with a docker-compose setup.

(Their PromQL runs against a real Prometheus in tests/test_monitoring_e2e.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from dashboards import layout
from dashboards.generate import DASHBOARDS, render_all
from dashboards.grafana_queries import label_values_variables, panel_queries
from dashboards.grafana_vars import interpolate, multi_value, regex_escape, variable_names
from dashboards.lint import lint, panels_of
from support import REPO
from support.monitoring import require_monitoring_binaries

VENDOR = REPO / "dashboards" / "vendor"
OVERVIEW = "dashboards/inventory-guard-overview.json"
MARKET = "dashboards/inventory-guard-market.json"


def load(rel: str) -> dict:
    return json.loads((REPO / rel).read_text())


@pytest.fixture(scope="module")
def schema() -> Draft7Validator:
    return Draft7Validator(json.loads((VENDOR / "dashboard.jsonschema.json").read_text()))


# --- generation -------------------------------------------------------------------------------------------------


def test_sdk_is_the_pinned_foundation_sdk():
    # Unpinned, pip picks an old Grafana-10.1 build of the SDK that emits older dashboards.
    assert version("grafana-foundation-sdk").lstrip("v") == "0.0.21"


def test_committed_files_are_what_the_generator_writes(tmp_path):
    """Regenerate into a temporary directory with the documented command and compare byte for byte."""
    result = subprocess.run(
        [sys.executable, str(REPO / "dashboards" / "generate.py"), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert generated == sorted(render_all()), "the generator writes exactly the files render_all() lists"
    stale = [rel for rel in generated if (tmp_path / rel).read_bytes() != (REPO / rel).read_bytes()]
    assert not stale, f"out of date, run `python dashboards/generate.py` and commit: {stale}"


# --- Grafana's JSON Schema --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_dashboard_is_valid_against_grafanas_dashboard_schema(schema, rel):
    errors = sorted(schema.iter_errors(load(rel)), key=lambda e: list(e.absolute_path))
    details = []
    for e in errors:
        details.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
        details += [f"    {'/'.join(map(str, c.absolute_path))}: {c.message[:200]}" for c in (e.context or [])[:5]]
    assert not errors, "\n".join(details)


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_dashboard_is_current_grafana_json(rel):
    d = load(rel)
    assert d["schemaVersion"] == 42
    assert "rows" not in d, "no pre-Grafana-5 rows/span layout"
    assert {p["type"] for p in panels_of(d)} <= {"row", "timeseries", "stat", "table", "heatmap"}


def test_schema_is_vendored_with_its_licence_and_origin():
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    origin = (VENDOR / "README.md").read_text()
    assert "grafana/grafana-foundation-sdk" in origin and "jsonschema/dashboard.jsonschema.json" in origin


def test_the_schema_catches_a_broken_dashboard(schema):
    broken = load(OVERVIEW)
    broken["panels"][1]["gridPos"]["w"] = "wide"
    del broken["schemaVersion"]
    assert len(list(schema.iter_errors(broken))) >= 2


# --- the lint: what the schema does not catch --------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_dashboard_passes_the_lint(rel):
    assert lint(load(rel)) == []


def _first_graph(d: dict) -> dict:
    return next(p for p in panels_of(d) if p["type"] == "timeseries")


@pytest.mark.parametrize(
    "break_it, complaint",
    [
        (lambda d: d["panels"][2].update(id=d["panels"][1]["id"]), "duplicate panel ids"),
        (lambda d: d["panels"][2]["gridPos"].update(x=20, w=8), "outside the 24-column grid"),
        (lambda d: d["panels"][2]["gridPos"].update(y=d["panels"][1]["gridPos"]["y"]), "overlap"),
        (lambda d: d["panels"][2]["gridPos"].update(h=4.5), "integer"),
        (lambda d: _first_graph(d).update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}), "datasource"),
        (lambda d: _first_graph(d)["targets"].append(dict(_first_graph(d)["targets"][0])), "refIds"),
        (lambda d: _first_graph(d)["targets"][0].update(expr='up{bot=~"$bots"}'), "undefined variable $bots"),
        (lambda d: _first_graph(d)["options"]["legend"].update(showLegend=False), "legend is not shown"),
        (lambda d: _first_graph(d)["targets"][0].update(legendFormat=""), "no legendFormat"),
        (lambda d: d["templating"]["list"].pop(0), "no 'datasource' variable"),
    ],
    ids=["dup-id", "grid-width", "overlap", "non-integer", "fixed-datasource", "dup-refid", "undefined-var",
         "legend-hidden", "no-legend-format", "no-datasource-var"],
)
def test_the_lint_reports_each_kind_of_problem(break_it, complaint):
    d = load(OVERVIEW)
    break_it(d)
    problems = lint(d)
    assert any(complaint in p for p in problems), problems


# --- what the dashboards contain --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_template_variables_are_datasource_bot_connector_market(rel):
    d = load(rel)
    variables = d["templating"]["list"]
    assert [(v["name"], v["type"]) for v in variables] == [
        ("datasource", "datasource"), ("bot", "query"), ("connector", "query"), ("market", "query")
    ]
    assert variables[0]["query"] == "prometheus"
    for v in variables[1:]:
        assert v["multi"] and v["includeAll"]
        assert v["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert [v.name for v in label_values_variables(d)] == ["bot", "connector", "market"]


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_every_query_filters_on_all_three_variables(rel):
    """Bot/connector/market choices narrow every market-level panel (exporter health is per bot only)."""
    for q in panel_queries(load(rel)):
        names = set(variable_names(q.expr))
        expected = {"bot"} if "inventory_guard_exporter_" in q.expr else {"bot", "connector", "market"}
        assert expected <= names, f"{q.where}: {q.expr}"


def test_overview_rows_link_to_the_market_detail_dashboard():
    d = load(OVERVIEW)
    table = next(p for p in panels_of(d) if p["type"] == "table")
    links = table["fieldConfig"]["defaults"]["links"]
    assert len(links) == 1
    url = links[0]["url"]
    assert url.startswith(f"/d/{layout.MARKET_UID}/")
    for var in ("bot", "connector", "market"):
        assert f"var-{var}=${{__data.fields.{var}}}" in url
    assert "var-datasource=${datasource}" in url and "${__url_time_range}" in url
    assert load(MARKET)["uid"] == layout.MARKET_UID


def test_overview_has_the_panels_the_issue_names():
    titles = {p["title"] for p in panels_of(load(OVERVIEW))}
    for expected in ("Markets: drift and exposure", "Blocked orders by reason", "Pending fills", "Snapshot age",
                     "Force reconciles by reason"):
        assert expected in titles


def test_market_detail_graphs_position_against_limits_on_one_panel():
    panel = next(p for p in panels_of(load(MARKET)) if p["title"].startswith("Position:"))
    exprs = " ".join(t["expr"] for t in panel["targets"])
    for metric in ("confirmed_position", "effective_position", "conservative_exposure", "max_position"):
        assert f"inventory_guard_{metric}{{" in exprs


def test_market_detail_has_age_out_line_latency_heatmap_and_order_reasons():
    panels = {p["title"]: p for p in panels_of(load(MARKET))}
    age = panels["Oldest pending fill age vs age-out"]
    assert [t["legendFormat"].split()[-1] for t in age["targets"]] == ["pending", "age-out"]
    assert "inventory_guard_pending_fill_max_age_seconds" in age["targets"][1]["expr"]
    heat = panels["Fill confirmation latency"]
    assert heat["type"] == "heatmap" and heat["targets"][0]["format"] == "heatmap"
    assert "inventory_guard_fill_confirmation_seconds_bucket" in heat["targets"][0]["expr"]
    assert "reason" in panels["Blocked orders by reason"]["targets"][0]["expr"]
    assert "orders_resized_total" in " ".join(t["expr"] for t in panels["Checked and resized orders"]["targets"])


# --- Grafana's variable substitution (as the e2e test applies it) -------------------------------------------------


def test_substitution_escapes_values_like_grafana():
    assert regex_escape("SOL.PERP") == r"SOL\\.PERP"
    assert regex_escape("BTC-USDT") == "BTC-USDT", "'-' stays: Prometheus rejects \\- outside a class"
    assert multi_value(["mm-1", "mm-2"]) == "(mm-1|mm-2)"
    assert multi_value(["b.1"]) == r"b\\.1"
    expr = 'x{bot=~"$bot", market=~"${market}"}[$__rate_interval]'
    assert interpolate(expr, {"bot": "(a|b)", "market": "m"}) == 'x{bot=~"(a|b)", market=~"m"}[1m]'


# --- docker-compose for users with containers ---------------------------------------------------------------------


def test_docker_compose_provisions_prometheus_rules_alertmanager_and_the_dashboards():
    base = REPO / "dashboards"
    compose = yaml.safe_load((base / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"prometheus", "alertmanager", "grafana"}
    mounted = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            host, container = volume.split(":")[:2]
            if host.startswith("."):
                assert (base / host).exists(), f"{name}: {host} does not exist"
                mounted[container] = (base / host).resolve()
    assert mounted["/etc/prometheus/rules/inventory_guard.rules.yml"] == REPO / "alert_rules/inventory_guard.rules.yml"
    assert mounted["/etc/alertmanager/alertmanager.yml"] == REPO / "alert_rules/alertmanager.example.yml"
    dashboards_in_grafana = {p.name for c, p in mounted.items() if c.startswith("/var/lib/grafana/dashboards/")}
    assert dashboards_in_grafana == {Path(rel).name for rel in DASHBOARDS}

    provisioning = base / "compose/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards/inventory-guard.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/inventory-guard"


def test_compose_prometheus_config_passes_promtool(tmp_path):
    promtool = require_monitoring_binaries()["promtool"]
    config = yaml.safe_load((REPO / "dashboards/compose/prometheus.yml").read_text())
    assert config["scrape_configs"][0]["job_name"] == "inventory_guard"
    # The container path of the rule file, mapped back to the repository for the check.
    shutil.copy(REPO / "alert_rules/inventory_guard.rules.yml", tmp_path / "inventory_guard.rules.yml")
    config["rule_files"] = ["inventory_guard.rules.yml"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
