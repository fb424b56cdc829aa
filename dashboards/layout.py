"""Dashboard scaffolding shared by both dashboards: identity, time settings, variables, cross-links, panel ids."""

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType

from dashboards import variables

OVERVIEW_UID = "inventory-guard-overview"
MARKET_UID = "inventory-guard-market"
TAG = "inventory-guard"

# Carries the time range and every template variable (datasource included) into the linked dashboard.
MARKET_URL_FOR_ROW = (
    f"/d/{MARKET_UID}/inventory-guard-market?${{__url_time_range}}&var-datasource=${{datasource}}"
    "&var-bot=${__data.fields.bot}&var-connector=${__data.fields.connector}&var-market=${__data.fields.market}"
)


def market_detail_link() -> dashboard.DashboardLink:
    """Data link on every cell of an overview table row: opens that row's market in the detail dashboard."""
    return (
        dashboard.DashboardLink("Open market detail")
        .type(DashboardLinkType.LINK)
        .url(MARKET_URL_FOR_ROW)
        .tooltip("Market detail for this bot/connector/market")
        .target_blank(False)
    )


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .timezone("utc")
        .refresh("30s")
        .variables(variables.all_variables())
        .link(
            dashboard.DashboardLink("Inventory guard dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def number_panels(built) -> None:
    """Give every panel (rows and the panels inside collapsed rows too) a unique id, in layout order."""
    next_id = 1
    for panel in built.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
