"""Fuzzing the replay contract in-process, with a real journal: whatever the line, exactly one JSON answer, never a
traceback; a rejected line changes nothing; the journal always reopens to the state that was acknowledged.

Lines are built from valid events whose fields are sometimes replaced by hostile values (lone surrogates, control
characters, lists for the type, 5,000-digit integers, 1E+1000000, NaN, non-ASCII digits, millisecond timestamps),
with duplicate and misspelt keys, and then sometimes mutated character by character.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from inventory_guard.config import parse_config
from inventory_guard.events import accepted_fields
from inventory_guard.journal import Journal
from inventory_guard.replay import REPLAY_TYPES, Replayer

CONFIG = parse_config({"max_position": "40", "size_increment": "1", "pending_fill_max_age_s": 5,
                       "max_clock_jump_s": 100, "markets": {"m": {"max_position": "10"}}})

# Raw JSON text for values json.dumps cannot write (or writes differently).
RAW = ["NaN", "Infinity", "-Infinity", "1E+1000000", "-1e-1000000", "9" * 5000, "1e999999", "-0", "0.0000",
       "1" + "0" * 400, "[[[[[[[[[[]]]]]]]]]]", '"\\ud800"', '"x\\udfff"', '"\\u0000"', "{}", "[]", "null", "true"]

hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=8),  # lone surrogates included
    st.sampled_from(["", " ", "m", "١٠", "1_0", "１", "buy", "sell", "periodic", "x" * 300, "\x00", "\u2028"]),
)
hostile_number = st.one_of(
    st.sampled_from(["1E+1000000", "1e16", "-1", "0", "NaN", "inf", "1_0", "١٠", " 1", "1.", ".5", "1e-101", "5"]),
    st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True),
)
hostile = st.one_of(hostile_text, hostile_number, st.booleans(), st.none(),
                    st.lists(st.integers(), max_size=2),
                    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))

GOOD = {
    "market": st.sampled_from(["m", "n", "m2"]),
    "side": st.sampled_from(["buy", "sell"]),
    "size": st.integers(1, 12).map(str),
    "price": st.sampled_from(["0.5", "2"]),
    "trade_id": st.integers(0, 6).map(lambda i: f"T{i}"),
    "order_id": st.integers(0, 4).map(lambda i: f"O{i}"),
    "fee_base": st.sampled_from(["0", "0.5"]),
    "as_of": st.integers(0, 50),
    "reason": st.sampled_from(["periodic", "ws_reconnect", "manual"]),
}
OPTIONAL = {"fill": {"price", "trade_id", "order_id", "fee_base"}, "snapshot": {"as_of"}, "force_reconcile": {"reason"}}


def _render(value) -> str:
    return value[1] if isinstance(value, tuple) else json.dumps(value, ensure_ascii=False)


@st.composite
def line(draw, t: int) -> str:
    kind = draw(st.sampled_from(sorted(REPLAY_TYPES) + ["restart"] * 2 + ["warp", "halt"]))
    names = sorted(accepted_fields(kind) - {"type", "t"}) if kind in REPLAY_TYPES else []
    pairs: list[tuple[str, object]] = [("type", kind)]
    if draw(st.sampled_from(range(20))) != 19 or kind == "restart":
        pairs.append(("t", t))
    for name in names:
        if name in OPTIONAL.get(kind, ()) and draw(st.booleans()):
            continue
        pairs.append((name, draw(GOOD[name]) if name in GOOD else "x"))
    bad = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))  # how many hostile edits
    for _ in range(bad):
        edit = draw(st.integers(0, 5))
        if edit == 0 and pairs:  # a hostile value in a field
            i = draw(st.integers(0, len(pairs) - 1))
            pairs[i] = (pairs[i][0], draw(hostile))
        elif edit == 1 and pairs:  # a raw literal JSON cannot otherwise hold
            i = draw(st.integers(0, len(pairs) - 1))
            pairs[i] = (pairs[i][0], ("raw", draw(st.sampled_from(RAW))))
        elif edit == 2 and pairs:  # a duplicate key
            pairs.append((draw(st.sampled_from(pairs))[0], draw(st.one_of(hostile, st.just("1")))))
        elif edit == 3:  # a misspelt or unknown key
            pairs.append((draw(st.sampled_from(["trade_Id", "Size", "sizes", "x", "", "t ", "\ud800"])), "1"))
        elif edit == 4:  # the type as another kind of value
            pairs[0] = ("type", draw(st.one_of(st.lists(st.just("fill"), max_size=2), st.just({"a": 1}),
                                              st.integers(), st.none())))
        else:  # a time in milliseconds: far ahead of the guard's clock
            pairs = [(k, t * 1000 + 10**6 if k == "t" else v) for k, v in pairs]
    text = "{" + ",".join(f"{json.dumps(k, ensure_ascii=draw(st.booleans()))}:{_render(v)}" for k, v in pairs) + "}"
    if draw(st.sampled_from(range(8))) == 7:  # character-level damage
        chars = list(text)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(chars)))
            op = draw(st.integers(0, 2))
            if op == 0 and i < len(chars):
                del chars[i]
            elif op == 1:
                chars.insert(i, draw(st.sampled_from(list('{}[]",:\\0e-.\ud800\x00\n ٠'))))
            elif i < len(chars):
                chars[i] = draw(st.characters(exclude_categories=()))
        text = "".join(chars)
    return text


@st.composite
def trace(draw, max_lines: int = 25) -> list[str]:
    n = draw(st.integers(1, max_lines))
    t, lines = 0, []
    for _ in range(n):
        t += draw(st.integers(0, 3))
        lines.append(draw(line(t)))
    return lines


def snapshot(replayer: Replayer) -> tuple:
    guard = replayer.journal.guard
    return replayer.journal.seq, json.dumps(guard.to_dict(), sort_keys=True)


def check_trace(lines: list[str], journal_path: Path) -> dict[str, int]:
    """Drive one trace; assert the contract line by line; return how many lines were accepted/rejected."""
    replayer = Replayer(CONFIG, journal_path)
    counts = {"ok": 0, "rejected": 0}
    try:
        for number, text in enumerate(lines, start=1):
            before = snapshot(replayer)
            result = replayer.process(number, text)  # any exception here is a crash: the test fails
            out = json.dumps(result, separators=(",", ":"))
            out.encode("utf-8")  # the answer is always writable
            assert "\n" not in out and json.loads(out)["line"] == number
            if result["ok"]:
                counts["ok"] += 1
            else:
                counts["rejected"] += 1
                assert set(result) == {"line", "ok", "error"} and result["error"]
                assert snapshot(replayer) == before, f"rejected line {text!r} changed the state"
        acknowledged = snapshot(replayer)
    finally:
        replayer.close()
    with Journal.open(journal_path, CONFIG) as reopened:  # every acknowledged event can be read back
        assert (reopened.seq, json.dumps(reopened.guard.to_dict(), sort_keys=True)) == acknowledged
    return counts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trace())
def test_fuzzed_traces_keep_the_contract_and_the_journal_reopens(tmp_path_factory, lines):
    check_trace(lines, tmp_path_factory.mktemp("fuzz") / "journal.sqlite")


def test_the_fuzzer_reaches_both_outcomes(tmp_path):
    """The generator is not degenerate: it produces accepted events and rejected lines."""
    totals = {"ok": 0, "rejected": 0}

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(trace())
    def run(lines):
        nonlocal totals
        path = tmp_path / f"j{sum(totals.values())}.sqlite"
        for key, n in check_trace(lines, path).items():
            totals[key] += n

    run()
    assert totals["ok"] > 50 and totals["rejected"] > 50, totals
