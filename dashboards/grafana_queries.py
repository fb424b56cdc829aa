"""What Grafana would send to Prometheus for a dashboard: its variable queries and every panel query, with the
result shape each panel needs. The tests run these against a real Prometheus (there is no Grafana server here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboards.lint import panels_of

LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<match>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    panel_type: str
    ref_id: str
    expr: str
    instant: bool  # an instant (table) query rather than a range query
    heatmap: bool  # Prometheus "heatmap" format: one series per histogram bucket `le`
    legend_labels: tuple[str, ...]  # labels the legendFormat names: every returned series must carry them

    @property
    def where(self) -> str:
        return f"{self.panel!r} ({self.panel_type}) query {self.ref_id}"


@dataclass(frozen=True)
class LabelValuesVariable:
    name: str
    match: str  # series selector, may use earlier variables
    label: str


def panel_queries(dashboard: dict) -> list[PanelQuery]:
    queries = []
    for p in panels_of(dashboard):
        for t in p.get("targets") or []:
            legend = t.get("legendFormat") or ""
            queries.append(
                PanelQuery(
                    panel=p.get("title", "?"),
                    panel_type=p.get("type", "?"),
                    ref_id=t.get("refId", "?"),
                    expr=t["expr"],
                    instant=bool(t.get("instant")) and not t.get("range"),
                    heatmap=t.get("format") == "heatmap",
                    legend_labels=tuple(LEGEND_LABEL.findall(legend)),
                )
            )
    return queries


def label_values_variables(dashboard: dict) -> list[LabelValuesVariable]:
    """The dashboard's query variables in order (each may depend on the ones before); all must be label_values()."""
    found = []
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = LABEL_VALUES.match(q or "")
        if not m:
            raise ValueError(f"variable ${v.get('name')}: only label_values(selector, label) is supported, got {q!r}")
        found.append(LabelValuesVariable(v["name"], m["match"], m["label"]))
    return found
