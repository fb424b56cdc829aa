"""The overview dashboard: every bot and market at a glance, each table row linking to the market detail dashboard."""

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards import layout
from dashboards.panels import PanelBuilder, bars, data_table, graph, instant_table_query, query, single_stat, thresholds
from dashboards.queries import BOT_SELECTOR, MARKET_LABELS, by, increase_by, market_legend, metric

# Drift table columns: (refId, header, PromQL). One row per market; `max by` drops job/instance so queries merge.
_TABLE_COLUMNS = (
    ("A", "Drift (effective - confirmed)", "effective_minus_confirmed"),
    ("B", "Confirmed", "confirmed_position"),
    ("C", "Effective", "effective_position"),
    ("D", "Conservative exposure", "conservative_exposure"),
    ("E", "Max position", "max_position"),
    ("F", "Pending fills", "pending_fills"),
    ("G", "Halted", "halted"),
)


def _market_row_expr(name: str) -> str:
    return f"max by ({by(*MARKET_LABELS)}) ({metric(name)})"


def drift_table() -> PanelBuilder:
    panel = data_table(
        "Markets: drift and exposure",
        "One row per bot/connector/market. Drift is effective minus confirmed position (fills the API has not "
        "confirmed yet). Click a market to open its detail dashboard.",
        width=24,
        height=8,
    )
    for ref_id, _, name in _TABLE_COLUMNS:
        panel = panel.with_target(instant_table_query(_market_row_expr(name), ref_id))
    renames = {f"Value #{ref_id}": header for ref_id, header, _ in _TABLE_COLUMNS}
    return (
        panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": renames, "indexByName": {}},
            )
        )
        .data_links([layout.market_detail_link()])
    )


def health_stats() -> list:
    return [
        single_stat("Markets halted", "Markets whose guard is halted: buys blocked (reason 'halted') until resumed.",
                    "none", 6)
        .with_target(query(f"sum({metric('halted')})", "halted"))
        .thresholds(thresholds((None, "green"), (1, "red"))),
        single_stat("Pending fills", "Fills seen on the websocket but not yet confirmed by an API snapshot.", "none", 6)
        .with_target(query(f"sum({metric('pending_fills')})", "pending fills"))
        .thresholds(thresholds((None, "green"), (1, "orange"))),
        single_stat("Snapshot age, oldest", "The largest snapshot age (seconds since confirmed_at: the last applied "
                    "snapshot or force reconcile) among the selected markets.", "s", 6)
        .with_target(query(f"max(time() - {metric('confirmed_at_timestamp_seconds')})", "snapshot age"))
        .thresholds(thresholds((None, "green"), (60, "orange"), (300, "red"))),
        single_stat("Journals readable", "Exporter can read the bot's journal (1 = yes) per bot.", "none", 6)
        .with_target(query(f"min by (bot) (inventory_guard_exporter_journal_up{{{BOT_SELECTOR}}})", "{{bot}}"))
        .thresholds(thresholds((None, "red"), (1, "green"))),
    ]


def activity_panels() -> list:
    return [
        bars("Blocked orders by reason", "Orders the guard blocked, by its gate's check or by the adapter without "
             "one, per interval, by side and reason.", "none", 12)
        .with_target(query(increase_by("orders_blocked_total", MARKET_LABELS + ("side", "reason")),
                           market_legend("{{side}} {{reason}}"))),
        graph("Pending fills", "Number of fills waiting for API confirmation, per market.", "none", 12)
        .with_target(query(metric("pending_fills"), market_legend())),
        graph("Snapshot age", "Seconds since confirmed_at (the last applied snapshot or force reconcile), per market.",
              "s", 12)
        .with_target(query(f"time() - {metric('confirmed_at_timestamp_seconds')}", market_legend()))
        .thresholds(thresholds((None, "green"), (60, "orange"), (300, "red"))),
        bars("Force reconciles by reason", "Forced re-syncs to the API position, per interval, by reason.", "none", 12)
        .with_target(query(increase_by("force_reconciles_total", MARKET_LABELS + ("reason",)),
                           market_legend("{{reason}}"))),
        graph("Oldest pending fill age", "Age of the oldest unconfirmed fill, per market.", "s", 12)
        .with_target(query(metric("oldest_pending_fill_age_seconds"), market_legend())),
        graph("Force reconcile gap", "|effective - API| found by the last force reconcile, per market.", "none", 12)
        .with_target(query(metric("force_reconcile_gap"), market_legend())),
    ]


def build():
    board = layout.base(
        layout.OVERVIEW_UID,
        "Inventory guard / Overview",
        "All bots and markets guarded by inventory-guard: drift, blocked orders, pending fills, snapshot freshness.",
    )
    board = board.with_row(dashboard.Row("Markets")).with_panel(drift_table())
    board = board.with_row(dashboard.Row("Health"))
    for panel in health_stats():
        board = board.with_panel(panel)
    board = board.with_row(dashboard.Row("Activity"))
    for panel in activity_panels():
        board = board.with_panel(panel)
    built = board.build()
    layout.number_panels(built)
    return built
