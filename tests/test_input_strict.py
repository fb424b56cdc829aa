"""Strict input: every failure of issue 9's "Input that crashes or bricks" list, one test each.

Replay lines: an invalid line is one ``ok:false`` answer naming the field, the state is unchanged, and nothing that
was acknowledged can make a later open of the journal fail. Configs (guard and exporter): exit 2 and a message
naming the key (or the line), never a traceback.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from inventory_guard.config import ConfigError, load_config, parse_config
from inventory_guard.core import Guard
from inventory_guard.events import _PARSERS, InvalidEvent, accepted_fields, event_to_dict, parse_event
from inventory_guard.journal import Journal
from inventory_guard.replay import REPLAY_TYPES, parse_line, replay
from inventory_guard_exporter.cli import build_parser, load_config as load_exporter_config
from inventory_guard_exporter.config import ConfigError as ExporterConfigError
from support import REPO

CONFIG = parse_config({"max_position": "100", "size_increment": "0.01"})
BIG = "9" * 5000
FILL = '{"t":2,"type":"fill","market":"m","side":"buy","size":"1","trade_id":"T1"%s}'


def answers(lines: list[str], config=CONFIG, journal: Path | None = None) -> list[dict]:
    out = io.StringIO()
    replay(lines, config, out, journal_path=journal)
    result = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["line"] for r in result] == list(range(1, len(lines) + 1))
    return result


def error_of(line: str, config=CONFIG) -> str:
    """The error of ``line`` replayed after a valid snapshot; asserts the state did not change."""
    base = '{"t":1,"type":"snapshot","market":"m","size":"5"}'
    probe = '{"t":1,"type":"check","market":"m","side":"buy","size":"1000"}'
    with_line, without = answers([base, line, probe], config), answers([base, probe], config)
    assert with_line[1]["ok"] is False, with_line[1]
    assert with_line[2] == {**without[1], "line": 3}
    return with_line[1]["error"]


# --- text that cannot be stored ------------------------------------------------------------------------------

@pytest.mark.parametrize("field, line", [
    ("market", '{"t":2,"type":"fill","market":"x\\ud800","side":"buy","size":"1"}'),
    ("trade_id", FILL.replace('"T1"', '"T\\udfff"') % ""),
    ("order_id", '{"t":2,"type":"order_open","market":"m","order_id":"\\ud83d","side":"buy","size":"1"}'),
    ("reason", '{"t":2,"type":"force_reconcile","market":"m","size":"1","reason":"\\udc00"}'),
    ("market", '{"t":2,"type":"snapshot","market":"m\\u0000","size":"1"}'),
    ("trade_id", FILL.replace('"T1"', '"T\\n1"') % ""),
])
def test_lone_surrogates_and_control_characters_are_rejected_naming_the_field(field, line):
    assert error_of(line).startswith(f"{field}: contains a ")


def test_a_lone_surrogate_can_no_longer_brick_the_journal(tmp_path):
    journal = tmp_path / "j.sqlite"
    lines = ['{"t":1,"type":"fill","market":"m","side":"buy","size":"1","trade_id":"A"}',
             '{"t":2,"type":"fill","market":"x\\ud800","side":"buy","size":"1","trade_id":"B"}',
             '{"t":3,"type":"restart"}']
    assert [r["ok"] for r in answers(lines, journal=journal)] == [True, False, True]
    with Journal.open(journal, CONFIG) as j:
        assert j.markets == ["m"] and j.seq == 1


def test_a_paired_surrogate_is_an_ordinary_character():
    [answer] = answers(['{"t":1,"type":"snapshot","market":"\\ud83d\\ude00","size":"1"}'])
    assert answer["ok"] and list(answer["markets"]) == ["\U0001F600"]


def test_the_journal_refuses_unstorable_text_from_a_host_too(tmp_path):
    from inventory_guard.events import Snapshot

    with Journal.open(tmp_path / "j.sqlite", CONFIG) as j, pytest.raises(InvalidEvent, match="lone surrogate"):
        j.apply(Snapshot(D(1), "x\ud800", D(1)))
    with Journal.open(tmp_path / "j.sqlite", CONFIG) as j:
        assert j.seq == 0


# --- the type -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ('["fill"]', "type: expected a string, got list"), ('{"a":1}', "type: expected a string, got dict"),
    ("3", "type: expected a string, got int"), ("null", "type: required"), ('"warp"', "type: unknown event type"),
    ('"halt"', "type: unknown event type"), ('"order_blocked"', "type: unknown event type"),  # host adapter only
])
def test_a_type_that_is_not_a_known_string_is_one_answer(value, message):
    assert error_of('{"t":2,"type":%s,"market":"m"}' % value).startswith(message)


# --- numbers -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, line", [
    ("t", '{"t":"1E+1000000","type":"tick"}'),
    ("t", '{"t":1E+1000000,"type":"tick"}'),
    ("t", '{"t":%s,"type":"tick"}' % BIG),
    ("as_of", '{"t":2,"type":"snapshot","market":"m","size":"1","as_of":"1E+1000000"}'),
    ("as_of", '{"t":2,"type":"snapshot","market":"m","size":"1","as_of":%s.5}' % BIG),
    ("price", FILL % ',"price":"1E+1000000"'),
    ("price", FILL % ',"price":1e999999'),
    ("fee_base", FILL % ',"fee_base":"-1E+1000000"'),
    ("fee_base", FILL % ',"fee_base":"1E-1000000"'),
    ("size", '{"t":2,"type":"snapshot","market":"m","size":"%s"}' % BIG),
    ("size", '{"t":2,"type":"snapshot","market":"m","size":"1.%s"}' % ("0" * 120)),
    ("trade_id", FILL.replace('"T1"', BIG) % ""),
])
def test_huge_exponents_and_digit_counts_are_rejected_before_any_arithmetic(field, line):
    message = error_of(line)
    assert message.startswith(f"{field}: "), message
    assert any(word in message for word in ("out of range", "digits", "too long")), message


@pytest.mark.parametrize("size", ['"1_0"', '"\u0661\u0660"', '"\uff11"', '" 1"', '"1 "', '"0x10"', '"1,5"'])
def test_only_ascii_decimal_digits_are_numbers(size):
    assert error_of('{"t":2,"type":"snapshot","market":"m","size":%s}' % size).startswith("size: ")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_non_finite_constants_name_the_field(literal):
    message = f"size: {literal} is not a finite number"
    assert error_of('{"t":2,"type":"snapshot","market":"m","size":%s}' % literal) == message
    assert error_of('{"t":%s,"type":"tick"}' % literal) == f"t: {literal} is not a finite number"


def test_numbers_that_are_fine_still_are():
    for size in ['"10"', "10", "10.5", '"1e1"', '"0.1"', '".5"', '"1."', '"+3"']:
        assert answers(['{"t":1,"type":"snapshot","market":"m","size":%s}' % size])[0]["ok"], size


# --- keys and fields ----------------------------------------------------------------------------------------

def test_duplicate_keys_are_rejected_not_last_wins():
    assert error_of(FILL % ',"size":"NaN","size":"1"') == "size: given twice (duplicate key)"
    assert error_of('{"t":2,"type":"tick","type":"tick"}') == "type: given twice (duplicate key)"


def test_a_misspelt_field_is_an_error_listing_the_accepted_fields():
    assert error_of(FILL % ',"trade_Id":"A"') == (
        "trade_Id: unknown field for fill (accepted: fee_base, market, order_id, price, side, size, t, trade_id, type)")


@pytest.mark.parametrize("kind", sorted(REPLAY_TYPES))
def test_every_event_type_rejects_a_field_it_does_not_accept(kind):
    message = error_of('{"t":2,"type":"%s","bogus":1}' % kind)
    assert message.startswith(f"bogus: unknown field for {kind} (accepted: ")
    assert f"accepted: {', '.join(sorted(accepted_fields(kind)))})" in message


def test_every_event_type_has_its_accepted_fields_and_round_trips():
    for kind in _PARSERS:
        assert {"t", "type"} <= accepted_fields(kind)
    fill = parse_event({"t": 1, "type": "fill", "market": "m", "side": "buy", "size": "1", "price": "2",
                        "trade_id": "T", "order_id": "O", "fee_base": "0.1"})
    assert set(event_to_dict(fill)) == accepted_fields("fill")
    assert parse_event(event_to_dict(fill)) == fill


def test_a_restart_line_accepts_only_t_and_type():
    assert answers(['{"type":"restart"}', '{"t":1,"type":"restart"}'])[1]["ok"]
    assert error_of('{"t":2,"type":"restart","journal":"x"}').startswith("journal: unknown field for restart")
    assert error_of('{"t":"soon","type":"restart"}').startswith("t: ")


def test_parse_line_reports_invalid_json_without_a_traceback():
    for text in ["{", "[" * 100_000, '{"a":' * 50_000, "\ud800", '{"t":1,"type":"tick"} x']:
        with pytest.raises(InvalidEvent):
            parse_line(text)


# --- time ---------------------------------------------------------------------------------------------------

JUMPY = parse_config({"max_position": "100", "max_clock_jump_s": 60, "pending_fill_max_age_s": 30})


def test_a_millisecond_timestamp_is_rejected_not_adopted():
    lines = ['{"t":1000,"type":"fill","market":"m","side":"buy","size":"1","trade_id":"A"}',
             '{"t":1000000,"type":"tick"}',  # milliseconds
             '{"t":1010,"type":"check","market":"m","side":"buy","size":"100"}']
    first, jump, check = answers(lines, JUMPY)
    assert first["ok"] and not jump["ok"]
    assert jump["error"].startswith("t: 1000000 is 999000 s ahead of the guard's clock 1000, more than "
                                    "max_clock_jump_s (60)")
    assert check["decision"] == {"allowed": True, "size": "99.00", "reason": "position_limit"}  # the fill still counts


def test_the_first_event_sets_the_clock_and_smaller_steps_pass():
    lines = ['{"t":1700000000,"type":"tick"}', '{"t":1700000060,"type":"tick"}', '{"t":1700000121,"type":"tick"}',
             '{"t":5,"type":"tick"}']  # backwards: happens "now", as before
    assert [a["ok"] for a in answers(lines, JUMPY)] == [True, True, False, True]


def test_the_clock_jump_check_can_be_disabled_and_is_on_by_default():
    assert parse_config({"max_position": "1"}).max_clock_jump_s == D(3600)
    free = parse_config({"max_position": "1", "max_clock_jump_s": None})
    assert all(a["ok"] for a in answers(['{"t":1,"type":"tick"}', '{"t":1e12,"type":"tick"}'], free))


def test_a_rejected_jump_leaves_the_core_exactly_unchanged():
    guard = Guard(JUMPY)
    guard.apply(parse_event({"t": 10, "type": "fill", "market": "m", "side": "buy", "size": "1"}))
    before = guard.to_dict()
    for event in ({"t": 100, "type": "snapshot", "market": "m", "size": "3"},
                  {"t": 71, "type": "order_closed", "order_id": "x"}, {"t": 1e9, "type": "tick"}):
        with pytest.raises(InvalidEvent, match="^t: "):
            guard.apply(parse_event(event))
        assert guard.to_dict() == before


def test_a_journal_with_a_rejected_jump_reopens_to_the_same_state(tmp_path):
    journal = tmp_path / "j.sqlite"
    lines = ['{"t":1,"type":"snapshot","market":"m","size":"1"}',
             '{"t":1000,"type":"snapshot","market":"m","size":"2"}',
             '{"t":2,"type":"restart"}', '{"t":30,"type":"snapshot","market":"m","size":"3"}']
    assert [a["ok"] for a in answers(lines, JUMPY, journal)] == [True, False, True, True]
    with Journal.open(journal, JUMPY) as j:
        assert j.state("m").confirmed == D(3) and j.guard.clock == D(30)


def test_after_a_restart_the_first_event_sets_the_clock_then_jumps_are_checked_again(tmp_path):
    """A bot restarted after a stop longer than max_clock_jump_s must not be locked out: the first event accepted
    after an open sets the clock (the journal's replay accepts what was accepted), the next ones are checked."""
    lines = ['{"t":100,"type":"snapshot","market":"m","size":"1"}', '{"t":1,"type":"restart"}',
             '{"t":90000,"type":"snapshot","market":"m","size":"2"}', '{"t":200000,"type":"tick"}',
             '{"t":90030,"type":"tick"}', '{"t":1,"type":"restart"}', '{"t":90040,"type":"tick"}']
    assert [a["ok"] for a in answers(lines, JUMPY, tmp_path / "j.sqlite")] == [True, True, True, False, True, True,
                                                                                True]


def test_replaying_the_whole_log_accepts_exactly_what_was_accepted(tmp_path):
    """A restore may replay from any checkpoint or, for another core version's checkpoint, from the first event."""
    lines = ['{"t":0,"type":"tick"}', '{"t":0,"type":"snapshot","market":"m","size":"1"}',  # clock still 0
             '{"t":5000,"type":"snapshot","market":"m","size":"2"}',  # the first time: sets the clock
             '{"t":5061,"type":"tick"}', '{"t":5060,"type":"tick"}',
             '{"t":5100,"type":"snapshot","market":"m","size":"3"}']
    assert [a["ok"] for a in answers(lines, JUMPY, tmp_path / "j.sqlite")] == [True, True, True, False, True, True]
    with Journal.open(tmp_path / "j.sqlite", JUMPY, checkpoint_every=1) as j:
        events = [parse_event(json.loads(x)) for x in lines if '"t":5061' not in x]
        assert j.seq == len(events)
        fresh = Guard(JUMPY)
        for event in events:
            fresh.apply(event)
        assert fresh.to_dict() == j.guard.to_dict()


@pytest.mark.parametrize("value", [0, -1, "abc", True, "1E+1000000"])
def test_a_bad_max_clock_jump_s_names_the_key(value):
    with pytest.raises(ConfigError, match="guard.yaml: max_clock_jump_s: "):
        parse_config({"max_position": "1", "max_clock_jump_s": value}, "guard.yaml")


def test_max_clock_jump_s_is_not_a_per_market_key():
    with pytest.raises(ConfigError, match="markets.m.max_clock_jump_s: unknown key"):
        parse_config({"max_position": "1", "markets": {"m": {"max_clock_jump_s": 5}}}, "guard.yaml")


# --- config files -------------------------------------------------------------------------------------------

NESTED = "max_position: 1\nmarkets: " + "[" * 3000 + "]" * 3000 + "\n"
BAD_CONFIGS = [
    ("latin1", "max_position: 1\nbot_name: caf\xe9\n".encode("latin-1"), "not UTF-8 text: byte 0xe9"),
    ("utf16", "max_position: 1\n".encode("utf-16"), "(it looks like UTF-16)"),
    ("nested", NESTED.encode(), "line 2: nested deeper than 32 levels"),
    ("duplicate", b"max_position: 1\nmax_position: 2\n", "line 2: duplicate key 'max_position' (first at line 1)"),
    ("nested duplicate", b"max_position: 1\nmarkets:\n  A: {max_position: 1, max_position: 2}\n", "duplicate key"),
    ("octal", b"max_position: 010\n", "max_position: 010 is ambiguous"),
    ("hex", b"max_position: 0x10\n", "max_position: 0x10 is not a plain decimal integer"),
    ("underscore", b"max_position: 1_000\n", "max_position: 1_000 is not a plain decimal integer"),
    ("sexagesimal", b"max_position: 1\npending_fill_max_age_s: 1:30\n", "pending_fill_max_age_s: 1:30 is not"),
    ("bool as int", b"max_position: 1\nseen_fill_keys_max: true\n",
     "seen_fill_keys_max: Input should be a valid integer"),
    ("bool as a per-market int", b"max_position: 1\nmarkets: {A: {reconcile_max_candidates: true}}\n",
     "markets.A.reconcile_max_candidates: Input should be a valid integer"),
    ("string as int", b"max_position: 1\nseen_fill_keys_max: '10'\n",
     "seen_fill_keys_max: Input should be a valid integer"),
    ("bool as decimal", b"max_position: true\n", "max_position: expected a number, got a boolean"),
    ("int as bool", b"max_position: 1\nallow_negative_position: 1\n",
     "allow_negative_position: Input should be a valid boolean"),
    ("yes as bool", b"max_position: 1\nallow_negative_position: yes\n",
     "allow_negative_position: Input should be a valid boolean"),
    ("huge exponent", b'max_position: "1E+1000000"\n', "max_position: '1E+1000000' is out of range"),
    ("huge int", b"max_position: " + BIG.encode() + b"\n",
     "max_position: an integer of 5000 characters is out of range"),
    ("huge digits", b"max_position: '" + BIG.encode() + b"'\n", "max_position: '99999"),
    ("huge float", b"max_position: 1\nsize_increment: 0." + BIG.encode() + b"\n", "size_increment: a number of 5002"),
    ("surrogate", b'max_position: 1\nbot_name: "x\\ud800"\n', "bot_name: contains a lone surrogate"),
    ("control", b'max_position: 1\nmarkets: {"a\\x01": {max_position: 1}}\n',
     "markets: market name 'a\\x01': contains"),
    ("timestamp", b"max_position: 1\nbot_name: 2024-13-45\nseen_fill_keys_max: 2024-01-01\n",
     "seen_fill_keys_max: Input"),
    ("binary", b"max_position: !!binary 'AAAA'\n", "max_position: expected a number or numeric string, got bytes"),
    ("bad tag", b"max_position: !!python/object:os.system 'x'\n", "not valid YAML"),
]


def test_yaml_1_2_scalars_read_as_they_look(tmp_path):
    path = tmp_path / "guard.yaml"
    path.write_bytes(b"\xef\xbb\xbfbot_name: 2024-01-01\nconnector: no\nmax_position: 10\nsize_increment: 0.1\n"
                     b"allow_negative_position: false\nseen_fill_keys_max: 50\nmax_clock_jump_s: 1.5e+2\n")
    config = load_config(path)
    assert (config.bot_name, config.connector, config.max_position, config.size_increment) == (
        "2024-01-01", "no", 10, D("0.1"))
    assert (config.allow_negative_position, config.seen_fill_keys_max, config.max_clock_jump_s) == (False, 50, 150)


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


CLI_CASES = [c for c in BAD_CONFIGS if c[0] in ("latin1", "utf16", "nested", "duplicate", "huge exponent", "huge int",
                                                 "bool as int")]


@pytest.mark.parametrize("name, data, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_replay_cli_exits_2_with_the_message_and_no_traceback(tmp_path, name, data, message):
    config = tmp_path / "guard.yaml"
    config.write_bytes(data)
    result = run("-m", "inventory_guard", "replay", "-", "--config", str(config))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


EXPORTER_CASES = [
    ("latin1", b"log_level: caf\xe9\n", "not UTF-8 text"),
    ("utf16", "journals: [/x]\n".encode("utf-16"), "it looks like UTF-16"),
    ("nested", b"journals: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested deeper than 32 levels"),
    ("duplicate", b"journals: [/x]\njournals: [/y]\n", "duplicate key 'journals'"),
    ("bool as number", b"journals: [/x]\nbusy_timeout_s: true\n",
     "busy_timeout_s: Input should be a valid number"),
    ("int as bool", b"journals: [/x]\nopenmetrics: 1\n", "openmetrics: Input should be a valid boolean"),
    ("octal", b"journals: [/x]\nbusy_timeout_s: 010\n", "busy_timeout_s: 010 is ambiguous"),
    ("huge int", b"journals: [/x]\nbusy_timeout_s: " + BIG.encode() + b"\n",
     "busy_timeout_s: an integer of 5000"),
    ("huge exponent", b"journals: [/x]\nbusy_timeout_s: 1.0e+1000000\n", "busy_timeout_s: Input should be"),
]


def load_exporter_config_file(path: Path):
    return load_exporter_config(build_parser().parse_args(["--config", str(path)]))


MALFORMED_CONFIGS = [
    *(pytest.param(load_config, ConfigError, data, message, id=f"guard-{name}") for name, data, message in BAD_CONFIGS),
    *(pytest.param(load_exporter_config_file, ExporterConfigError, data, message, id=f"exporter-{name}")
      for name, data, message in EXPORTER_CASES),
]


@pytest.mark.parametrize("load, error, data, message", MALFORMED_CONFIGS)
def test_a_malformed_config_is_a_config_error_naming_the_file_and_the_key(tmp_path, load, error, data, message):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(error) as exc:
        load(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value), str(exc.value)


def test_the_exporter_cli_exits_2_on_a_malformed_config(tmp_path):
    for name, data, message in EXPORTER_CASES[:4]:
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(data)
        result = run("-m", "inventory_guard_exporter", "--config", str(path), "--listen", "127.0.0.1:0")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_re_delivered_confirmed_fill_still_counts_once_with_a_strict_seen_fill_keys_max():
    # `seen_fill_keys_max: true` used to be read as 1: the second fill's key pushed the first out, and the
    # re-delivery of the first counted twice. Now `true` is an error and an integer limit behaves.
    config = parse_config({"max_position": "100", "seen_fill_keys_max": 2})
    lines = [FILL.replace('"t":2', '"t":1') % "", '{"t":2,"type":"snapshot","market":"m","size":"1"}',
             FILL.replace('"T1"', '"T2"') % "", FILL.replace('"t":2', '"t":3') % ""]
    result = answers(lines, config)
    assert result[3] == {"line": 4, "ok": True, "markets": {}}  # a duplicate: nothing changed


def test_an_unwritable_out_path_is_exit_2_with_a_message(tmp_path):
    config = tmp_path / "guard.yaml"
    config.write_text("max_position: 1\n")
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t":1,"type":"tick"}\n')
    result = run("-m", "inventory_guard", "replay", str(trace), "--config", str(config),
                 "--out", str(tmp_path / "missing" / "out.jsonl"))
    assert result.returncode == 2 and "cannot write output" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["strict_yaml.py", "numbers.py"])
def test_the_exporters_vendored_copy_is_byte_identical_to_the_cores(name):
    """The exporter must not import the core, so it carries copies of the loader and what it imports; they must not
    drift."""
    core = REPO / "connector_plugin" / "inventory_guard" / name
    vendored = REPO / "exporter" / "inventory_guard_exporter" / "vendor" / name
    assert vendored.read_bytes() == core.read_bytes(), f"copy {core} to {vendored}"
