"""The market detail dashboard: one market's position against its limits, its pending fills and age-out, fill
confirmation latency, and the orders the guard blocked or resized."""

from string import ascii_uppercase

from grafana_foundation_sdk.builders import dashboard

from dashboards import layout
from dashboards.panels import PanelBuilder, bars, graph, heatmap_query, latency_heatmap, query
from dashboards.queries import MARKET_LABELS, SELECTOR, increase_by, market_legend, metric


def _gauges(panel, *series: tuple[str, str]):
    """``panel`` with a query per (gauge name, legend suffix), each a series per market, ref ids A, B, C, ..."""
    for ref_id, (name, legend) in zip(ascii_uppercase, series, strict=False):
        panel = panel.with_target(query(metric(name), market_legend(legend), ref_id))
    return panel

def position_vs_limits() -> PanelBuilder:
    return _gauges(
        graph(
            "Position: confirmed vs effective vs conservative exposure vs max position",
            "Confirmed = the last applied API snapshot or force reconcile; effective = confirmed + pending fill buys "
            "- pending fill sells; conservative exposure = confirmed + every pending buy (held buys included) - what "
            "the sums prove + open buy reservations, and must stay below the max position.",
            "none",
            width=24,
            height=10,
        ),
        ("confirmed_position", "confirmed"),
        ("effective_position", "effective"),
        ("conservative_exposure", "conservative exposure"),
        ("max_position", "max position"),
    )


def pending_fill_sizes() -> PanelBuilder:
    return _gauges(
        graph("Pending fill buys and sells", "Pending fills the best estimate leaves outside confirmed, by side.",
              "none", 12),
        ("pending_fill_buys", "buys"),
        ("pending_fill_sells", "sells"),
    )


def reservations() -> PanelBuilder:
    return _gauges(
        graph("Open buy and sell reservations, and available to sell",
              "Size reserved by open orders on each side, and what the guard still lets the bot sell.", "none", 12),
        ("open_buy_reservations", "buy reservations"),
        ("open_sell_reservations", "sell reservations"),
        ("available_to_sell", "available to sell"),
    )


def oldest_pending_vs_age_out() -> PanelBuilder:
    return _gauges(
        graph("Oldest pending fill age vs age-out",
              "A pending fill older than the age-out line is dropped as a phantom fill.", "s", 12),
        ("oldest_pending_fill_age_seconds", "oldest pending"),
        ("pending_fill_max_age_seconds", "age-out"),
    )


def confirmation_latency() -> PanelBuilder:
    expr = (
        "sum by (le) (increase(inventory_guard_fill_confirmation_seconds_bucket"
        f"{{{SELECTOR}}}[$__rate_interval]))"
    )
    return latency_heatmap(
        "Fill confirmation latency",
        "Time from a fill's arrival to its confirmation by an API snapshot (histogram buckets).",
        12,
    ).with_target(heatmap_query(expr))


def fill_outcomes() -> PanelBuilder:
    return (
        bars("Fills and their outcomes", "Fills received, confirmed by a snapshot, aged out unconfirmed, and "
             "duplicates ignored, per interval.", "none", 12)
        .with_target(query(increase_by("fills_total", MARKET_LABELS + ("side",)), market_legend("{{side}} fills"), "A"))
        .with_target(query(increase_by("fills_confirmed_total", MARKET_LABELS), market_legend("confirmed"), "B"))
        .with_target(query(increase_by("fills_aged_out_total", MARKET_LABELS), market_legend("aged out"), "C"))
        .with_target(query(increase_by("duplicate_fills_total", MARKET_LABELS), market_legend("duplicates"), "D"))
    )


def confirmations() -> PanelBuilder:
    return (
        bars("How fills were confirmed", "Fills confirmed by identity (the venue reported the trade settled, or an "
             "instant venue's arrival times agreed), by sums (the only subset of pending fills that explains the "
             "move), aged out as phantoms; snapshots the fills did not explain, and fallbacks to the safe rule.",
             "none", 12)
        .with_target(query(increase_by("fills_confirmed_total", MARKET_LABELS + ("how",)),
                           market_legend("by {{how}}"), "A"))
        .with_target(query(increase_by("fills_aged_out_total", MARKET_LABELS), market_legend("aged out"), "B"))
        .with_target(query(increase_by("settlement_mismatches_total", MARKET_LABELS),
                           market_legend("settlement mismatches"), "C"))
        .with_target(query(increase_by("reconcile_fallbacks_total", MARKET_LABELS + ("reason",)),
                           market_legend("fallback: {{reason}}"), "D"))
    )


def blocked_orders() -> PanelBuilder:
    return bars("Blocked orders by reason", "Orders the guard blocked, by its gate's check or by the adapter without "
                "one, per interval.", "none", 12).with_target(
        query(increase_by("orders_blocked_total", MARKET_LABELS + ("side", "reason")),
              market_legend("{{side}} {{reason}}"))
    )


def resized_orders() -> PanelBuilder:
    return (
        bars("Checked and resized orders", "Order checks, and those the guard allowed at a reduced size.", "none", 12)
        .with_target(query(increase_by("orders_checked_total", MARKET_LABELS + ("side",)),
                           market_legend("{{side}} checked"), "A"))
        .with_target(query(increase_by("orders_resized_total", MARKET_LABELS + ("side",)),
                           market_legend("{{side}} resized"), "B"))
    )


def snapshot_age() -> PanelBuilder:
    return graph("Snapshot age", "Seconds since confirmed_at (the last applied snapshot or force reconcile).", "s",
                 12).with_target(
        query(f"time() - {metric('confirmed_at_timestamp_seconds')}", market_legend("snapshot age"))
    )


def out_of_order_snapshots_and_reconciles() -> PanelBuilder:
    return (
        bars("Out-of-order snapshots and force reconciles",
             "Snapshots ignored as older than the last applied one, and forced re-syncs by reason.", "none", 12)
        .with_target(query(increase_by("out_of_order_snapshots_total", MARKET_LABELS),
                           market_legend("out-of-order snapshots"), "A"))
        .with_target(query(increase_by("force_reconciles_total", MARKET_LABELS + ("reason",)),
                           market_legend("reconcile {{reason}}"), "B"))
    )


def force_reconcile_gap() -> PanelBuilder:
    return graph("Force reconcile gap", "|effective - API| found by the last force reconcile.", "none", 12).with_target(
        query(metric("force_reconcile_gap"), market_legend("gap"))
    )


def build():
    board = layout.base(
        layout.MARKET_UID,
        "Inventory guard / Market detail",
        "One market in depth: position against limits, pending fills and their age-out, confirmation latency, "
        "blocked and resized orders.",
    )
    sections = [
        ("Position", [position_vs_limits(), pending_fill_sizes(), reservations()]),
        ("Fills", [oldest_pending_vs_age_out(), confirmation_latency(), fill_outcomes(), snapshot_age(),
                   confirmations()]),
        ("Orders and reconciles", [blocked_orders(), resized_orders(), out_of_order_snapshots_and_reconciles(),
                                   force_reconcile_gap()]),
    ]
    for title, panels in sections:
        board = board.with_row(dashboard.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    built = board.build()
    layout.number_panels(built)
    return built
