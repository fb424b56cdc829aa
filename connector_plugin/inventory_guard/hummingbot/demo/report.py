"""What the demo shows: the opening lines, the status line and refreshing table while it runs, the summary and the
chart at the end."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from .chart import write_svg
from .session import GuardedSimSession, count
from .settings import TRADING_PAIR


def fmt(v) -> str:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    if isinstance(v, float):
        return f"{v:.0f}"
    return str(v)


def opening(session: GuardedSimSession, duration_s: float, sim_total: float, journal: Path, log: Path,
            metrics_url: str | None) -> str:
    s = session.settings
    return (f"inventory-guard demo: market making on simulated {TRADING_PAIR} (seed {s.seed}), "
            f"{sim_total / 60:g} simulated minutes in ~{duration_s:g} s; max_position {fmt(s.max_position)}, "
            f"quotes of {fmt(s.order_amount)}\n"
            f"  journal {journal}  |  log {log}" + (f"  |  metrics {metrics_url}" if metrics_url else ""))


def format_summary(s: dict, journal: Path | None = None, wall_s: float | None = None) -> str:
    held = not s["limit_violations"]
    unlabelled = s["fills_confirmed"] - s["fills_confirmed_by_identity"] - s["fills_confirmed_by_sums"]
    over = s["max_conservative_exposure"] > s["max_position"]
    lines = [
        "inventory-guard demo: summary",
        f"  simulated {s['sim_seconds'] / 60:.1f} min of market making on sim_clob {TRADING_PAIR} (seed {s['seed']})"
        + (f" in {wall_s:.1f} s" if wall_s is not None else ""),
        f"  fills seen by the guard      {s['fills_seen_by_guard']:>5}   (venue matched {s['venue_trades_matched']} "
        f"trades, confirmed {s['venue_trades_confirmed']}; {s['confirmed_notices_seen']} CONFIRMED statuses reached "
        f"the connector, {s['status_notices_lost']} status notices were lost)",
        f"  fills confirmed              {s['fills_confirmed']:>5}   (by identity {s['fills_confirmed_by_identity']}, "
        f"by sums {s['fills_confirmed_by_sums']}" + (f", unlabelled {unlabelled}" if unlabelled else "")
        + ")",
        f"  phantom fills caught         {s['phantom_fills_dropped_on_failed_report']:>5}   (dropped on the venue's "
        f"FAILED report; the venue failed {s['venue_trades_failed']} matched trades)",
        f"  unconfirmed fills aged out   {s['phantom_fills_aged_out']:>5}   (phantoms whose FAILED report was lost, "
        f"and fills no snapshot could attribute)",
        f"  duplicate fills ignored      {s['duplicate_fills_ignored_by_guard']:>5}   (the venue re-sent "
        f"{s['duplicate_deliveries_sent']} trade messages; exact copies never leave Hummingbot's order tracker)",
        f"  buys blocked / resized       {s['buys_blocked']:>5} / {s['buys_resized']}",
        f"  force reconciles             {s['force_reconciles']:>5}   (the user stream dropped "
        f"{s['user_stream_disconnects']} times; reconcile_event auto takes a reconnect's balance as a snapshot on a "
        f"delayed venue)",
        f"  max conservative exposure    {fmt(s['max_conservative_exposure']):>5}   vs limit {fmt(s['max_position'])}"
        f"{' (ABOVE: over-counted)' if over else ''}   (venue worst-case exposure peaked at "
        f"{fmt(s['max_true_exposure'])})",
        ("  limit held at the venue        yes" if held else
         f"  limit held at the venue         NO   (worst-case exposure above the limit on {s['limit_violations']} "
         f"simulated seconds)"),
    ]
    if s["undercount_steps"]:
        lines.append(f"  guard below venue exposure   {s['undercount_steps']:>5}   simulated seconds (see the journal)")
    lines.append(f"  final position: venue settled {fmt(s['final_settled_position'])} (with unsettled trades "
                 f"{fmt(s['final_true_position'])}); guard confirmed {fmt(s['final_confirmed'])}, conservative "
                 f"exposure {fmt(s['final_conservative_exposure'])}")
    if journal is not None:
        lines.append(f"  journal: {journal}")
    return "\n".join(lines)


def status_line(session: GuardedSimSession) -> str:
    c = session.counters()
    try:
        st = session.bridge.state(session.market)
        cons, conf, pend = st.conservative_exposure, st.confirmed, st.pending_fills
    except Exception:
        cons = conf = pend = "-"
    v = session.venue
    return (f"t={(session.driver.now - session.driver.start_time):6.0f}s mid={v.mid:.3f} "
            f"venue pos={fmt(v.true_position())} settled={fmt(v.settled_base)} | guard confirmed={fmt(conf)} "
            f"exposure={fmt(cons)}/{fmt(session.settings.max_position)} pending={pend} | fills={count(c, 'fills')} "
            f"phantom={count(c, 'fills_failed')} aged_out={count(c, 'fills_aged_out')} "
            f"dup={count(c, 'duplicate_fills')} "
            f"blocked={count(c, 'orders_blocked', side='buy')} resized={count(c, 'orders_resized', side='buy')} "
            f"reconciles={count(c, 'force_reconciles')}")


def live_screen(session: GuardedSimSession, metrics: str | None, wall0: float, sim_total: float) -> str:
    v = session.venue
    elapsed = session.driver.now - session.driver.start_time
    head = [f"inventory-guard demo  |  sim_clob {TRADING_PAIR}  |  simulated {elapsed:5.0f}/{sim_total:.0f} s  |  "
            f"wall {time.monotonic() - wall0:4.0f} s  |  Ctrl-C stops",
            f"venue: mid {v.mid:.3f}  settled {fmt(v.settled_base)}  incl. unsettled {fmt(v.true_position())}  "
            f"live buys {fmt(v.open_buy_size())}  worst-case exposure {fmt(v.true_exposure())}  "
            f"user stream {'up' if v.ws_connected else 'DOWN'}",
            ""]
    try:
        table = session.bridge.format_status()
    except Exception as exc:
        table = f"  (status unavailable: {exc!r})"
    tail = ["", status_line(session)]
    if metrics:
        tail.append(f"metrics: {metrics}")
    return "\n".join(head) + "\n" + table + "\n" + "\n".join(tail)


def write_chart(session: GuardedSimSession, path: Path) -> Path | None:
    """The run as an SVG chart (true position, confirmed, effective, conservative exposure, limit, blocks and
    phantom fills); None when nothing was recorded."""
    if not session.record.t:
        return None
    s = session.settings
    return write_svg(session.record, path, f"inventory-guard demo: {TRADING_PAIR}, seed {s.seed}, max_position "
                                           f"{s.max_position}")
