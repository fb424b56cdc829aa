"""The trace demo: replay the bundled example trace and show the guard's decisions and final state as tables."""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import TextIO

import yaml

from .config import parse_config
from .replay import replay


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run_trace_demo(out: TextIO) -> int:
    examples = resources.files("inventory_guard") / "examples"
    config = parse_config(yaml.safe_load((examples / "guard.yaml").read_text()), "examples/guard.yaml")
    trace = (examples / "demo_trace.jsonl").read_text().splitlines()
    buffer = io.StringIO()
    summary = replay(trace, config, buffer)
    results = [json.loads(line) for line in buffer.getvalue().splitlines()]

    rows, final = [], {}
    for text, result in zip(trace, results, strict=True):
        event = json.loads(text)
        what = event["type"] + (f" {event['side']} {event['size']}" if "side" in event else "")
        if event["type"] in ("snapshot", "force_reconcile"):
            what += f" size {event['size']}"
        if not result["ok"]:
            outcome = "rejected: " + result["error"]
        elif "decision" in result:
            d = result["decision"]
            if not d["allowed"]:
                outcome = f"BLOCKED ({d['reason']})"
            elif d["reason"]:
                outcome = f"RESIZED to {d['size']} ({d['reason']})"
            else:
                outcome = f"ALLOWED {d['size']}"
        else:
            outcome = ", ".join(
                f"{m}: effective {s['effective']} / conservative {s['conservative_exposure']}"
                for m, s in result["markets"].items()
            ) or "no change"
        final.update(result.get("markets", {}))
        rows.append([str(result["line"]), f"t={event['t']}", event.get("market", ""), what, outcome])

    out.write("inventory-guard demo: the bundled example trace replayed through the guard\n\n")
    out.write(_table(["line", "time", "market", "event", "guard"], rows) + "\n\n")
    fields = ["confirmed", "effective", "pending_fill_buys", "pending_fill_sells", "pending_fills",
              "open_buy_reservations", "conservative_exposure", "available_to_sell"]
    out.write("Final state\n")
    final_rows = [[m, *(str(s[f]) for f in fields)] for m, s in sorted(final.items())]
    out.write(_table(["market", *fields], final_rows) + "\n\n")
    out.write(summary.line() + "\n")
    return 0
