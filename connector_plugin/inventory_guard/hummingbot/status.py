"""The per-market status table shown by ``format_status`` (plain text, no hummingbot imports)."""
from __future__ import annotations

from decimal import Decimal

COLUMNS = [
    ("market", "Market"), ("confirmed", "Confirmed"), ("effective", "Effective"),
    ("pending_fill_buys", "Pend buys"), ("pending_fill_sells", "Pend sells"),
    ("open_buy_reservations", "Open buy"), ("open_sell_reservations", "Open sell"),
    ("conservative_exposure", "Exposure"), ("max_position", "Limit"),
    ("oldest_pending_fill_age_s", "Oldest pend s"), ("last_snapshot_age_s", "Snapshot age s"),
    ("blocks", "Blocks"), ("snapshot_requests", "Snap req"), ("state", "State"),
]


FAULT = "FAULT (orders adding exposure blocked)"


def _blocks(counters: dict) -> int:
    total = 0
    for key, value in (counters or {}).items():
        name = key[0] if isinstance(key, tuple) else str(key)
        if name.startswith("orders_blocked") or name == "blocks":
            if isinstance(value, dict):
                total += sum(int(v) for v in value.values())
            else:
                total += int(value)
    return total


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
            row["state"] = FAULT if market in bridge.faulted else "no data yet"
            rows.append(row)
            continue
        try:
            st = bridge.state(market)
            for key, _ in COLUMNS[1:10]:
                row[key] = getattr(st, key, None)
            confirmed_at = getattr(st, "confirmed_at", None)
            row["last_snapshot_age_s"] = None if confirmed_at is None else max(0.0, now - float(confirmed_at))
            row["blocks"] = _blocks(bridge.counters(market)) + bridge.refusals(market)
            halted = getattr(st, "halted", False)
        except Exception as exc:
            row["state"] = f"ERROR {type(exc).__name__}"
            rows.append(row)
            continue
        if market in bridge.faulted:
            row["state"] = FAULT
        elif halted:
            row["state"] = "halted"
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
    header = [h for _, h in COLUMNS]
    body = [[_fmt(r.get(k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  " + " | ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                           for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    out = [] if not title else [f"  {title}:"]
    out.append(line(header))
    out.append("  " + "-+-".join("-" * w for w in widths))
    out.extend(line(b) for b in body)
    if not rows:
        out.append("  (no markets)")
    return "\n".join(out)
