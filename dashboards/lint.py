"""Checks on Grafana dashboard JSON that its JSON Schema does not express.

``lint(dashboard) -> list[str]`` returns one readable message per problem (empty when clean):

* panel ids present and unique (rows included);
* gridPos with integer x, y, w, h, inside the 24-column grid, and no two panels overlapping;
* every non-row panel and every target names a ``{type: prometheus, uid: ${datasource}}`` datasource, and the
  ``datasource`` variable exists (so the JSON imports into any Grafana);
* each panel's targets have distinct, non-empty refIds and a non-empty expr;
* every ``$variable`` used in an expression, a variable query or a link is defined (or one of Grafana's built-ins);
* graphs and heatmaps show their legend, and every graph query has a legendFormat.
"""

from __future__ import annotations

import itertools

from dashboards.grafana_vars import variable_names

GRID_COLUMNS = 24
# Grafana's built-in variables: global ones usable in queries, and data-link-only ones.
BUILTIN_VARIABLES = {
    "__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__org", "__user", "__timezone",
    "__url_time_range", "__all_variables", "__data", "__field", "__series", "__value",
}
GRAPH_TYPES = {"timeseries", "heatmap"}
DATASOURCE_UID = "${datasource}"


def panels_of(dashboard: dict) -> list[dict]:
    """All panels in layout order, including those nested in collapsed rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels") or [])
    return found


def _overlap(a: dict, b: dict) -> bool:
    side_by_side = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
    stacked = a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
    return not (side_by_side or stacked)


def _check_grid(panels: list[dict]) -> list[str]:
    errors, boxes = [], []
    for p in panels:
        g = p.get("gridPos")
        if not isinstance(g, dict) or not all(type(g.get(k)) is int for k in "xywh"):
            errors.append(f"panel {p.get('title')!r}: gridPos must have integer x, y, w, h, got {g!r}")
            continue
        if g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > GRID_COLUMNS:
            errors.append(f"panel {p.get('title')!r}: gridPos {g} outside the {GRID_COLUMNS}-column grid")
        boxes.append((p.get("title"), g))
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        if _overlap(a, b):
            errors.append(f"panels {ta!r} and {tb!r} overlap: {a} / {b}")
    return errors


def _check_ids(panels: list[dict]) -> list[str]:
    ids = [p.get("id") for p in panels]
    errors = [f"panel {p.get('title')!r} has no integer id" for p in panels if type(p.get("id")) is not int]
    duplicates = sorted({i for i in ids if ids.count(i) > 1 and i is not None})
    if duplicates:
        errors.append(f"duplicate panel ids {duplicates}")
    return errors


def _is_datasource_ref(ref: object) -> bool:
    return isinstance(ref, dict) and ref.get("type") == "prometheus" and ref.get("uid") == DATASOURCE_UID


def _check_panel(p: dict) -> list[str]:
    title = p.get("title")
    errors = []
    if not _is_datasource_ref(p.get("datasource")):
        errors.append(
            f"panel {title!r}: datasource must be {{type: prometheus, uid: {DATASOURCE_UID}}}, "
            f"got {p.get('datasource')!r}"
        )
    targets = p.get("targets") or []
    if not targets:
        errors.append(f"panel {title!r}: no queries")
    ref_ids = [t.get("refId") for t in targets]
    if any(not r for r in ref_ids) or len(set(ref_ids)) != len(ref_ids):
        errors.append(f"panel {title!r}: refIds must be non-empty and unique, got {ref_ids}")
    for t in targets:
        if not _is_datasource_ref(t.get("datasource")):
            errors.append(f"panel {title!r} query {t.get('refId')}: datasource is {t.get('datasource')!r}")
        if not (t.get("expr") or "").strip():
            errors.append(f"panel {title!r} query {t.get('refId')}: empty expr")
        if p.get("type") == "timeseries" and not t.get("legendFormat"):
            errors.append(f"panel {title!r} query {t.get('refId')}: no legendFormat")
    if p.get("type") in GRAPH_TYPES:
        legend = (p.get("options") or {}).get("legend") or {}
        shown = legend.get("showLegend", legend.get("show"))
        if shown is not True:
            errors.append(f"panel {title!r}: legend is not shown")
    return errors


def _texts_with_variables(dashboard: dict) -> list[tuple[str, str]]:
    """(where, text) for every string Grafana interpolates: queries, variable queries, links."""
    texts = []
    for p in panels_of(dashboard):
        for t in p.get("targets") or []:
            texts.append((f"panel {p.get('title')!r} {t.get('refId')}", t.get("expr", "")))
        defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
        for link in defaults.get("links") or []:
            texts.append((f"panel {p.get('title')!r} data link", link.get("url", "")))
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("query")
        texts.append((f"variable ${v.get('name')}", q.get("query", "") if isinstance(q, dict) else q or ""))
    for link in dashboard.get("links") or []:
        texts.append((f"dashboard link {link.get('title')!r}", link.get("url", "")))
    return texts


def _check_variables(dashboard: dict) -> list[str]:
    defined = [v.get("name") for v in dashboard.get("templating", {}).get("list", [])]
    errors = []
    if "datasource" not in defined:
        errors.append("no 'datasource' variable: the dashboard would be tied to one Grafana's datasource uid")
    if len(set(defined)) != len(defined):
        errors.append(f"duplicate variable names {defined}")
    for where, text in _texts_with_variables(dashboard):
        for name in variable_names(text):
            root = name.split(".")[0]
            if root not in defined and root not in BUILTIN_VARIABLES:
                errors.append(f"{where}: undefined variable ${name}")
    return errors


def lint(dashboard: dict) -> list[str]:
    errors = []
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in dashboard:
            errors.append(f"missing top-level {key!r}")
    if dashboard.get("rows"):
        errors.append("legacy pre-Grafana-5 'rows' layout")
    panels = panels_of(dashboard)
    errors += _check_ids(panels)
    errors += _check_grid(panels)
    for p in panels:
        if p.get("type") != "row":
            errors += _check_panel(p)
    errors += _check_variables(dashboard)
    return errors
