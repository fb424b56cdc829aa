"""The accuracy benchmark's second reference: the least buy volume ANY sound guard must block at the same checks.

The benchmark's "perfect tracker" knows which fills are real, which no guard can. This reference knows only what a
guard is told — the fill messages, the snapshots (their as_of and value), the settlement notices and failures — and
the guard's own settlement model: a fill settles at or after its message and no later than the first snapshot taken
``pending_fill_max_age_s`` after it, or never (a phantom); a reported fill settled within
``settlement_notice_max_delay_s`` before its notice (when that is set). At a buy check it takes the largest true
exposure over every world consistent with those observations (an integer program, solved by OR-tools' CP-SAT):
a guard that never under-counts exposure can allow no more than that world leaves room for.

Two simplifications, both in the direction of a *lower* bound on what a sound guard must block (so the figure can
only flatter what is possible, never the guard): fills whose message came more than ``horizon_windows`` settlement
windows (+5 s) before the check, and snapshots older than that, are fixed to the truth (more than a guard could
know); and a search stopped by its time limit uses the best world it found (a world, not the worst one). A world
that the model cannot hold at all (a spot sell the simulated venue settled past its window, waiting for shares)
falls back to the truth (room as the perfect tracker's).

Needs OR-tools: ``pip install -e '.[bench]'`` (or ``pip install ortools``); the benchmark runs without it and then
leaves this column out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

D = Decimal


def available() -> bool:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Observed:
    """What a guard was told about one market: snapshot (as_of, value) pairs and notices (trade_id -> time)."""

    snapshots: set[tuple[D, D]] = field(default_factory=set)


@dataclass
class SoundBest:
    window: D
    notice_delay: D | None
    horizon_windows: D = D("1.5")
    time_limit_s: float = 3.0
    observed: dict[str, Observed] = field(default_factory=dict)
    notices: dict[str, D] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    solves: int = 0
    stopped: int = 0  # searches stopped by the time limit (their best world was used)
    outside_model: int = 0  # checks whose truth the model cannot hold (room taken as the truth's)

    def snapshot(self, market: str, as_of: D, value: D) -> None:
        self.observed.setdefault(market, Observed()).snapshots.add((as_of, value))

    def notice(self, trade_id: str, t: D) -> None:
        self.notices.setdefault(trade_id, t)

    def trade_failed(self, trade_id: str) -> None:
        self.failed.add(trade_id)

    def max_exposure(self, now: D, market: str, trades, open_buys: D) -> D | None:
        """The largest exposure (settled + unsettled real buys + open buy orders) over the consistent worlds;
        ``trades`` are the simulator's (``delivered_at``, ``side``, ``size``, ``signed``, ``settled_time``)."""
        from ortools.sat.python import cp_model

        horizon = now - self.horizon_windows * self.window - 5
        snaps = sorted(s for s in self.observed[market].snapshots if s[0] >= horizon)
        mine = [t for t in trades if t.market == market]
        old = [t for t in mine if t.delivered_at < horizon]
        recent = [t for t in mine if horizon <= t.delivered_at <= now]
        ahead = [t for t in mine if t.delivered_at > now]  # not arrived: the perfect tracker's knowledge, as is
        model = cp_model.CpModel()
        inside: dict[tuple[int, int], cp_model.IntVar] = {}
        objective = []
        for i, t in enumerate(recent):
            phantom = model.NewBoolVar("")
            noticed = self.notices.get(t.trade_id)
            noticed = noticed if noticed is not None and noticed <= now else None
            if noticed is not None:
                model.Add(phantom == 0)
            if t.trade_id in self.failed:
                model.Add(phantom == 1)
            previous = None
            for k, (as_of, _value) in enumerate(snaps + [(now, None)]):  # the last one: settled by now
                if as_of < t.delivered_at:
                    continue
                x = inside[i, k] = model.NewBoolVar("")
                model.AddImplication(phantom, x.Not())
                if previous is not None:
                    model.AddImplication(previous, x)  # settled stays settled
                previous = x
                if as_of >= t.delivered_at + self.window:
                    model.Add(x + phantom == 1)  # past the window: settled, or a phantom
                if noticed is not None and as_of >= noticed:
                    model.Add(x == 1)
                if noticed is not None and self.notice_delay is not None and as_of < noticed - self.notice_delay:
                    model.Add(x == 0)
            if t.side == "buy":
                objective.append(-int(t.size) * phantom)  # a phantom buy adds nothing
            elif previous is not None:
                objective.append(-int(t.size) * previous)  # a sell settled by now lowered the position
        for k, (as_of, value) in enumerate(snaps):
            fixed = sum((t.signed for t in old if t.settled_time is not None and t.settled_time <= as_of), D(0))
            model.Add(sum(int(t.signed) * inside[i, k] for i, t in enumerate(recent) if (i, k) in inside)
                      == int(value - fixed))
        model.Maximize(sum(objective))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = self.time_limit_s
        solver.parameters.num_workers = 1
        status = solver.Solve(model)
        self.solves += 1
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.outside_model += 1
            return None
        self.stopped += status != cp_model.OPTIMAL
        fixed_now = (sum((t.size for t in old if t.side == "buy" and t.settles_at is not None), D(0))
                     - sum((t.size for t in old if t.side == "sell" and t.settled), D(0)))
        buys = sum((t.size for t in recent + ahead if t.side == "buy"), D(0))
        return open_buys + fixed_now + buys + int(solver.ObjectiveValue())
