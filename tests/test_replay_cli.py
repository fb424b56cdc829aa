"""The replay CLI — a public contract: one JSON line out per line in, in order, with the documented shapes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from inventory_guard.config import parse_config
from inventory_guard.replay import replay

STATE_KEYS = {
    "confirmed", "confirmed_at", "effective", "pending_fill_buys", "pending_fill_sells", "pending_fills",
    "open_buy_reservations", "open_sell_reservations", "conservative_exposure", "available_to_sell",
}
CONFIG_YAML = "max_position: '100'\nsize_increment: '0.01'\n"
TRACE = [
    '{"t":1,"type":"fill","market":"m","side":"buy","size":"10","price":"0.5","trade_id":"T1","order_id":"O1"}',
    '{"t":2,"type":"snapshot","market":"m","size":"110","as_of":1.5}',
    '{"t":3,"type":"force_reconcile","market":"m","size":"110","reason":"ws_reconnect"}',
    '{"t":4,"type":"order_open","market":"m","order_id":"O1","side":"buy","size":"10","price":"0.5"}',
    '{"t":5,"type":"order_closed","order_id":"O1"}',
    '{"t":6,"type":"check","market":"m","side":"buy","size":"10"}',
    '{"t":7,"type":"tick"}',
    '{"t":7.5,"type":"trade_failed","trade_id":"T1"}',
    '{"t":7.8,"type":"fill_settled","trade_id":"T2","order_id":"O2"}',
    '{"t":8,"type":"restart"}',
    "not json",
    '{"t":9,"type":"fill","market":"m","side":"buy","size":NaN}',
    '{"t":10,"type":"check","market":"m","side":"sell","size":5}',
]


def run_cli(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    config = tmp_path / "guard.yaml"
    config.write_text(CONFIG_YAML)
    return subprocess.run(
        [sys.executable, "-m", "inventory_guard", "replay", *args, "--config", str(config)],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


def test_every_documented_event_type_gives_exactly_one_line_in_order(tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(TRACE) + "\n")
    result = run_cli(tmp_path, str(trace))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["line"] for line in lines] == list(range(1, len(TRACE) + 1))
    assert [line["ok"] for line in lines] == [True] * 10 + [False, False, True]
    for line in lines:
        if line["ok"]:
            assert set(line) <= {"line", "ok", "markets", "decision"}
            for state in line["markets"].values():
                assert set(state) == STATE_KEYS
                assert all(isinstance(state[k], str) for k in STATE_KEYS - {"pending_fills", "confirmed_at"})
        else:
            assert set(line) == {"line", "ok", "error"} and line["error"]
    assert lines[1]["markets"]["m"]["confirmed"] == "110.00"
    assert lines[1]["markets"]["m"]["confirmed_at"] == "1.5"
    assert lines[5]["decision"] == {"allowed": False, "size": "0.00", "reason": "position_limit"}
    assert lines[12]["decision"] == {"allowed": True, "size": "5.00", "reason": None}
    assert lines[4]["markets"]["m"]["open_buy_reservations"] == "0.00"
    assert "13 " not in result.stderr and "replay: 10 events, 2 rejected lines, 1 blocks" in result.stderr
    assert result.stderr.rstrip().endswith("0 fills confirmed by identity, 0 by sums, 0 settlement mismatches")


def test_a_check_that_changes_no_state_lists_no_market(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t":1,"type":"snapshot","market":"m","size":"1"}\n{"t":2,"type":"check","market":"m","side":"buy","size":"1"}\n')
    lines = [json.loads(x) for x in run_cli(tmp_path, str(trace)).stdout.splitlines()]
    assert lines[1] == {"line": 2, "ok": True, "markets": {},
                        "decision": {"allowed": True, "size": "1.00", "reason": None}}


def test_standard_input_is_answered_line_by_line(tmp_path):
    config = tmp_path / "guard.yaml"
    config.write_text(CONFIG_YAML)
    proc = subprocess.Popen(
        [sys.executable, "-m", "inventory_guard", "replay", "-", "--config", str(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        # Each answer is read before the next line is written: a live process can react to the decisions.
        proc.stdin.write('{"t":1,"type":"snapshot","market":"m","size":"95"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["markets"]["m"]["confirmed"] == "95.00"
        proc.stdin.write('{"t":2,"type":"check","market":"m","side":"buy","size":"10"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["decision"]["size"] == "5.00"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_out_and_journal_options(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t":1,"type":"fill","market":"m","side":"buy","size":"3","trade_id":"A"}\n')
    journal = tmp_path / "j.sqlite"
    out = tmp_path / "out.jsonl"
    assert run_cli(tmp_path, str(trace), "--journal", str(journal), "--out", str(out)).returncode == 0
    assert json.loads(out.read_text())["markets"]["m"]["pending_fill_buys"] == "3.00"
    # the journal persists: replaying the same fill again is a duplicate
    second = run_cli(tmp_path, str(trace), "--journal", str(journal))
    assert json.loads(second.stdout) == {"line": 1, "ok": True, "markets": {}}


def test_a_bad_config_or_missing_trace_is_a_clear_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("max_position: '100'\nsize_incremnt: '0.1'\n")
    result = subprocess.run([sys.executable, "-m", "inventory_guard", "replay", "x.jsonl", "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "size_incremnt: unknown key" in result.stderr
    result = run_cli(tmp_path, str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "cannot read trace" in result.stderr


# --- properties: restarts are invisible, bad lines change nothing ---------------------------------------------

CONFIG = parse_config({"max_position": "40", "size_increment": "1", "pending_fill_max_age_s": 5})

valid_line = st.one_of(
    st.builds(lambda s, n, tid: {"type": "fill", "market": "m", "side": s, "size": str(n), "trade_id": f"T{tid}"},
              st.sampled_from(["buy", "sell"]), st.integers(1, 9), st.integers(0, 8)),
    st.builds(lambda n: {"type": "snapshot", "market": "m", "size": str(n)}, st.integers(0, 30)),
    st.builds(lambda s, n: {"type": "check", "market": "m", "side": s, "size": str(n)},
              st.sampled_from(["buy", "sell"]), st.integers(1, 50)),
    st.builds(lambda o, s: {"type": "order_open", "market": "m", "order_id": f"O{o}", "side": s, "size": "4"},
              st.integers(0, 4), st.sampled_from(["buy", "sell"])),
    st.builds(lambda o: {"type": "order_closed", "order_id": f"O{o}"}, st.integers(0, 4)),
    st.builds(lambda tid: {"type": "trade_failed", "trade_id": f"T{tid}"}, st.integers(0, 8)),
    st.builds(lambda tid: {"type": "fill_settled", "trade_id": f"T{tid}"}, st.integers(0, 8)),
    st.builds(lambda n: {"type": "force_reconcile", "market": "m", "size": str(n), "reason": "periodic"},
              st.integers(0, 30)),
    st.just({"type": "tick"}),
)
bad_line = st.sampled_from([
    "", "[]", "{", '{"type":"fill","market":"m","side":"buy","size":"-1","trade_id":"x"}',
    '{"type":"snapshot","market":"m","size":"inf"}', '{"type":"check","market":"m","side":"up","size":"1"}',
    '{"type":"order_open","market":"m","order_id":"Z","side":"buy","size":"NaN"}', '{"type":"warp"}',
])


def to_lines(events: list[dict], dt: list[int]) -> list[str]:
    t, lines = 0, []
    for event, step in zip(events, dt, strict=False):
        t += step
        lines.append(json.dumps({"t": t, **event}))
    return lines


def run_replay(lines: list[str]) -> list[dict]:
    out = io.StringIO()
    replay(lines, CONFIG, out)
    return [json.loads(x) for x in out.getvalue().splitlines()]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_line, min_size=1, max_size=40), st.lists(st.integers(0, 3), min_size=40, max_size=40),
       st.sets(st.integers(0, 40), max_size=4))
def test_restarts_inserted_anywhere_give_identical_output(events, dt, restart_at):
    lines = to_lines(events, dt)
    with_restarts = []
    for i, line in enumerate(lines):
        if i in restart_at:
            with_restarts.append('{"t":0,"type":"restart"}')
        with_restarts.append(line)
    plain = [{k: v for k, v in r.items() if k != "line"} for r in run_replay(lines)]
    restarted = [{k: v for k, v in r.items() if k != "line"} for r, text in
                 zip(run_replay(with_restarts), with_restarts, strict=True) if '"restart"' not in text]
    assert restarted == plain


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_line, min_size=1, max_size=30), st.lists(st.integers(0, 3), min_size=30, max_size=30),
       st.lists(st.tuples(st.integers(0, 30), bad_line), max_size=5))
def test_bad_lines_never_change_state(events, dt, bad):
    lines = to_lines(events, dt)
    polluted = list(lines)
    for position, text in sorted(bad, reverse=True):
        polluted.insert(min(position, len(polluted)), text)
    results = run_replay(polluted)
    assert all(not r["ok"] for r, text in zip(results, polluted, strict=True) if text not in lines)
    kept = [{k: v for k, v in r.items() if k != "line"}
            for r, text in zip(results, polluted, strict=True) if text in lines]
    assert kept == [{k: v for k, v in r.items() if k != "line"} for r in run_replay(lines)]


def test_a_line_that_is_not_utf8_or_holds_a_carriage_return_is_one_line(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(b'{"t":1,"type":"tick"}\n{"t":2,\xff"type":"tick"}\n{"t":3,"type":\r"tick"}\r\n')
    result = run_cli(tmp_path, str(trace))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["ok"] for x in lines] == [True, False, True]
    assert lines[1]["error"] == "not valid UTF-8"
