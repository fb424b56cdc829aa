"""The settlement ledger (ledger.py) on its own: which fill it decides, from which snapshots and notices, and what
it refuses to decide. Window 6 s, notice delay 1 s, size step 1; the ledger sees from as_of 0, so spans starting a
window after it are seen whole."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from inventory_guard.ledger import SettlementLedger

WINDOW, DELAY, STEP = D(6), D(1), D(1)
A, B = ("T1", "O1"), ("T2", "O2")


def ledger_with(last: int, b_noticed: D | None = D("13.5")) -> SettlementLedger:
    """Buys A (arrived 11) and B (arrived 12) of 1; snapshots 0 @ 0, 0 @ 10, 0 @ 13, 1 @ 14 and ``last`` @ 18
    (the first a window after A arrived); B reported settled at 13.5 (so in [12.5, 13.5]) unless None."""
    ledger = SettlementLedger(WINDOW, DELAY)
    ledger.snapshot(D(0), D(0))
    ledger.snapshot(D(10), D(0))
    ledger.fill(A, D(11), D(1))
    ledger.fill(B, D(12), D(1))
    ledger.snapshot(D(13), D(0))
    if b_noticed is not None:
        ledger.notice(B, b_noticed)
    ledger.snapshot(D(14), D(1))
    ledger.snapshot(D(18), D(last))
    return ledger


def decide(ledger: SettlementLedger, key=A, max_choices: int = 30, max_steps: int = 10_000):
    return ledger.decide(key, STEP, max_choices, max_steps)


def test_a_fill_the_moves_need_is_real():
    # (13, 14]: +1 is B (its notice puts it there: nothing else is +0 in (10, 13]), so (14, 18]'s +1 is A
    assert decide(ledger_with(2)) is True


def test_a_fill_no_move_has_room_for_is_a_phantom():
    assert decide(ledger_with(1)) is False


def test_two_worlds_leave_it_undecided():
    # without B's notice, +1 in (13, 14] is A or B, and nothing after: either may be the phantom
    assert decide(ledger_with(1, b_noticed=None)) is None
    # ... but with +2 both settled, whichever came first
    assert decide(ledger_with(2, b_noticed=None)) is True


def test_no_world_leaves_it_undecided():
    # +3 by 18: more than every fill the ledger knows of (a transfer, or a fill it never saw)
    assert decide(ledger_with(3)) is None


def test_reports_decide_directly():
    ledger = ledger_with(1, b_noticed=None)
    ledger.notice(A, D("14.5"))
    assert decide(ledger) is True and ledger.reported(A) is True
    ledger.failed(B)
    assert decide(ledger, B) is False and ledger.reported(B) is False
    assert ledger.reported(("T9", "O9")) is None and decide(ledger, ("T9", "O9")) is None


def test_a_span_it_did_not_see_whole_is_not_decided():
    ledger = SettlementLedger(WINDOW, DELAY)  # starts at 10: a fill from before it may settle in (10, 18]
    ledger.snapshot(D(10), D(0))
    ledger.fill(A, D(11), D(1))
    ledger.snapshot(D(18), D(0))
    assert decide(ledger) is None
    ledger = ledger_with(2)
    ledger.fill(("T3", "O3"), D(19), D(1))
    assert decide(ledger, ("T3", "O3")) is None  # no snapshot a window after it yet


@pytest.mark.parametrize("how, start", [("notice before the fill arrived", D(18)), ("notice past the window", D(20)),
                                        ("two answers at once", D(18))])
def test_a_break_of_the_model_restarts_the_history(how, start):
    """Decided before the break; after it the moves before ``start`` are not used, so nothing in them is decided."""
    ledger = ledger_with(2)
    assert decide(ledger, B) is True and decide(ledger) is True
    if how == "notice before the fill arrived":
        ledger.fill(("T3", "O3"), D("18.5"), D(1))
        ledger.notice(("T3", "O3"), D(18))
    elif how == "notice past the window":
        ledger.fill(("T3", "O3"), D("11.5"), D(1))
        ledger.notice(("T3", "O3"), D(20))  # its deadline is 18: a notice at 20 says it settled in [19, 20]
    else:
        ledger.snapshot(D(18), D(1))  # a second answer for as_of 18: one of them is stale
    assert ledger.start == start
    assert decide(ledger) is None


def test_the_search_gives_up_within_its_caps():
    assert decide(ledger_with(2), max_choices=1) is None
    assert decide(ledger_with(2), max_steps=2) is None


def test_old_history_is_pruned():
    ledger = ledger_with(2)
    for t in range(19, 400):
        ledger.snapshot(D(t), D(2))
    assert ledger.as_ofs[0] >= D(399) - 4 * WINDOW - 64 and len(ledger.as_ofs) < 100
    assert ledger.records == {} and ledger.by_trade == {}


def test_the_checkpoint_round_trips():
    ledger = ledger_with(2)
    ledger.failed(A)
    data = json.loads(json.dumps(ledger.to_dict()))
    again = SettlementLedger.from_dict(data, WINDOW, DELAY)
    assert again.to_dict() == ledger.to_dict()
    assert decide(again, B) is True and decide(again) is False


@pytest.mark.parametrize("field, value", [("start", 5), ("snapshots", [["1", 2]]), ("fills", [[1, "O", "1", "1",
                                                                                                  None, False]]),
                                          ("fills", [["T", "O", "1", "1", None, "no"]])])
def test_a_bad_checkpoint_is_an_error(field, value):
    data = ledger_with(2).to_dict()
    data[field] = value
    with pytest.raises(TypeError):
        SettlementLedger.from_dict(data, WINDOW, DELAY)


def test_the_guards_ledger_hears_a_settlement_reported_after_a_failure():
    """The venue reports a trade failed, then settled (the later report wins): the pending book counts its fill
    again, and the ledger must record it settled, not failed (it would rule out the settlement it had)."""
    from inventory_guard.config import parse_config
    from inventory_guard.core import Guard
    from inventory_guard.events import Fill, FillSettled, Snapshot, TradeFailed

    guard = Guard(parse_config({"max_position": "10", "size_increment": "1", "settlement": "delayed",
                                "pending_fill_max_age_s": "6", "settlement_notice_max_delay_s": "1"}))
    guard.apply(Snapshot(D(0), "m", D(0)))
    guard.apply(Fill(D(1), "m", "buy", D(1), trade_id="T1", order_id="O1"))
    guard.apply(TradeFailed(D(2), "T1"))
    ledger = guard.books["m"].ledger
    assert ledger is not None and ledger.reported(("T1", "O1")) is False
    out = guard.apply(FillSettled(D(3), "T1"))
    assert guard.books["m"].count("settlement_notices", result="after_failure") == 1 and out.changed == ("m",)
    assert ledger.reported(("T1", "O1")) is True
    restarted = Guard.from_dict(guard.config, json.loads(json.dumps(guard.to_dict())))
    again = restarted.books["m"].ledger
    assert again is not None and again.reported(("T1", "O1")) is True
