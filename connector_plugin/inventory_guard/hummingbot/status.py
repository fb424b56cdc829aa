"""The per-market status table shown by ``format_status`` (plain text, no hummingbot imports).

One row per quantity, named as the replay contract, the journal and the metrics name it, and one column per
market (the names are long, the markets few).
"""
from __future__ import annotations

from decimal import Decimal

VIEW_FIELDS = (  # read from the market's state (inventory_guard.market.MarketView)
    "confirmed", "effective", "pending_fill_buys", "pending_fill_sells", "held_buys", "open_buy_reservations",
    "open_sell_reservations", "conservative_exposure", "max_position", "oldest_pending_fill_age_s",
)
ROWS = ("market", *VIEW_FIELDS, "snapshot_age_s", "orders_blocked", "snapshot_requests", "state")

HALTED_BY_GUARD_ERROR = "halted: guard_error"  # orders adding exposure are blocked


def _orders_blocked(counters: dict) -> int:
    return sum(int(n) for key, n in (counters or {}).items() if key[0] == "orders_blocked")


def status_rows(bridge) -> list[dict]:
    now = bridge.now()
    rows = []
    for market in bridge.markets:
        row = {"market": market}
        try:
            row["snapshot_requests"] = bridge.snapshot_requests(bridge.ref(market).connector_name)
        except Exception:
            row["snapshot_requests"] = None
        if market not in set(bridge.guard.markets):
            row["state"] = HALTED_BY_GUARD_ERROR if market in bridge.halted else "no data yet"
            rows.append(row)
            continue
        try:
            st = bridge.state(market)
            for key in VIEW_FIELDS:
                row[key] = getattr(st, key, None)
            confirmed_at = getattr(st, "confirmed_at", None)
            row["snapshot_age_s"] = None if confirmed_at is None else max(0.0, now - float(confirmed_at))
            row["orders_blocked"] = _orders_blocked(bridge.counters(market))
            halted_reason = getattr(st, "halted_reason", None)
        except Exception as exc:
            row["state"] = f"ERROR {type(exc).__name__}"
            rows.append(row)
            continue
        if market in bridge.halted:
            row["state"] = HALTED_BY_GUARD_ERROR
        elif halted_reason is not None:
            row["state"] = f"halted: {halted_reason}"
        else:
            row["state"] = "ok"
        rows.append(row)
    return rows


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.0f}"
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    return str(v)


def format_table(rows: list[dict], title: str | None = "Inventory guard") -> str:
    """Rows are the quantities (``ROWS``), columns the markets."""
    out = [] if not title else [f"  {title}:"]
    if not rows:
        out.append("  (no markets)")
        return "\n".join(out)
    cells = [[_fmt(r.get(key)) for r in rows] for key in ROWS]
    label_width = max(len(key) for key in ROWS)
    widths = [max(len(line[i]) for line in cells) for i in range(len(rows))]
    for n, (key, line) in enumerate(zip(ROWS, cells, strict=False)):
        row = " | ".join(c.rjust(w) for c, w in zip(line, widths, strict=True))
        out.append("  " + key.ljust(label_width) + " | " + row)
        if n == 0:  # under the market names
            out.append("  " + "-" * label_width + "-+-" + "-+-".join("-" * w for w in widths))
    return "\n".join(out)
