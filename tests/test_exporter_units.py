"""The exporter's building blocks, in process: format negotiation, configuration, targets, rendering, failures."""

from __future__ import annotations

import sqlite3

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inventory_guard_exporter.cli import main
from inventory_guard_exporter.collector import StateCollector
from inventory_guard_exporter.config import parse_listen
from inventory_guard_exporter.negotiate import wants_gzip, wants_openmetrics
from inventory_guard_exporter.render import render_text
from inventory_guard_exporter.targets import Targets
from support.exporter import (
    PROMETHEUS_2_42_ACCEPT,
    SCENARIO,
    as_schema_v1,
    parse_samples,
    series,
    write_journal,
    write_raw_journal,
)

# --- content negotiation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "prefer", "openmetrics"),
    [
        (None, False, False),
        ("", False, False),
        ("*/*", False, False),
        ("text/plain", False, False),
        (PROMETHEUS_2_42_ACCEPT, False, False),  # Prometheus offers text/plain too: text it gets
        (PROMETHEUS_2_42_ACCEPT, True, True),  # --openmetrics: preferred whenever offered
        ("application/openmetrics-text; version=1.0.0", False, True),  # insists
        ("application/openmetrics-text;version=1.0.0, */*;q=0.1", False, True),  # */* is not asking for text
        ("application/openmetrics-text, text/plain;q=0", False, True),  # text explicitly refused
        ("application/openmetrics-text;q=0, text/plain", True, False),  # OpenMetrics refused
        ("text/plain", True, False),
    ],
)
def test_text_format_unless_the_client_insists_on_openmetrics(accept, prefer, openmetrics):
    assert wants_openmetrics(accept, prefer) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [(None, False), ("identity", False), ("gzip", True), ("gzip, deflate", True), ("gzip;q=0", False)],
)
def test_gzip_only_when_accepted(accept_encoding, gzip):
    assert wants_gzip(accept_encoding) is gzip


# --- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:0", ("::1", 0)),
     ("localhost:9464", ("localhost", 9464))],
)
def test_listen_address_is_host_and_port(text, address):
    assert parse_listen(text) == address


@pytest.mark.parametrize(
    ("text", "complaint"),
    [(":9464", "must be host:port"), ("9464", "must be host:port"), ("::1:9464", "brackets"),
     ("127.0.0.1:99999", "0 to 65535"), ("127.0.0.1:http", "0 to 65535"), ("[nope]:1", "not an IPv6")],
)
def test_listen_address_errors_say_what_to_write(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_listen(text)


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_nothing_to_watch_is_an_error(capsys):
    code, err = run_cli(capsys)
    assert code == 2
    assert "nothing to watch" in err


@pytest.mark.parametrize(
    ("yaml_text", "complaint"),
    [
        ("state_dir: [/x]\n", "state_dir: Extra inputs are not permitted"),
        ("journal_globs: /var/lib/bots/*/guard.sqlite\n", "journal_globs: Input should be a valid list"),
        ("journals: ['']\n", "journals: paths must not be empty"),
        ("listen: 9464\njournals: [/x]\n", "listen: Input should be a valid string"),
        ("listen: '9464'\njournals: [/x]\n", "listen: listen address '9464' must be host:port"),
        ("- just\n- a list\n", "must be a mapping"),
        ("listen: [unclosed\n", "not valid YAML"),
        ("busy_timeout_s: 0\njournals: [/x]\n", "busy_timeout_s: Input should be greater than 0"),
        # keys of earlier versions name their new names
        ("state: [/x]\n", "state: was renamed to journals"),
        ("state_dirs: [/x]\n", "state_dirs: was renamed to journal_globs"),
        ("journals: [/x]\nbusy_timeout_seconds: 2\n", "busy_timeout_seconds: was renamed to busy_timeout_s"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, capsys, yaml_text, complaint):
    config = tmp_path / "exporter.yaml"
    config.write_text(yaml_text)
    code, err = run_cli(capsys, "--config", str(config))
    assert code == 2
    assert str(config) in err or "command line" in err
    assert complaint in err


@pytest.mark.parametrize(("old", "new"), [("--state", "--journal"), ("--state-glob", "--journal-glob")])
def test_an_option_of_an_earlier_version_names_its_new_name(capsys, old, new):
    with pytest.raises(SystemExit) as stop:
        main([old, "/x.sqlite"])
    assert stop.value.code == 2
    assert f"{old} was renamed to {new}" in capsys.readouterr().err


def test_missing_config_file_is_reported(tmp_path, capsys):
    code, err = run_cli(capsys, "--config", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "cannot read config" in err


# --- which files are read --------------------------------------------------------------------------------------


def test_globs_are_expanded_at_every_resolve_so_new_bots_appear(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "guard.sqlite").touch()
    targets = Targets(globs=(str(tmp_path / "*" / "guard.sqlite"),))
    assert targets.resolve() == [str(tmp_path / "a" / "guard.sqlite")]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "guard.sqlite").touch()
    assert targets.resolve() == [str(tmp_path / "a" / "guard.sqlite"), str(tmp_path / "b" / "guard.sqlite")]


def test_explicit_paths_stay_listed_when_missing_and_each_file_is_read_once(tmp_path):
    (tmp_path / "a.sqlite").touch()
    (tmp_path / "link.sqlite").symlink_to(tmp_path / "a.sqlite")
    targets = Targets(
        paths=(str(tmp_path / "gone.sqlite"), str(tmp_path / "a.sqlite")),
        globs=(str(tmp_path / "*.sqlite"),),
    )
    assert targets.resolve() == [str(tmp_path / "gone.sqlite"), str(tmp_path / "a.sqlite")]


# --- rendering -------------------------------------------------------------------------------------------------


def client_rendering(collector: StateCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def without_timing(samples: dict) -> dict:
    return {k: v for k, v in samples.items() if k[0] != "inventory_guard_exporter_scrape_duration_seconds"}


def test_fast_text_renderer_serves_what_prometheus_client_would(tmp_path):
    """Same samples, including label values that need escaping, counters and histograms."""
    odd = 'we"ird\\mar\nket'
    write_raw_journal(
        tmp_path / "j.sqlite", 'bot "x"', {odd: "con\\nector", "BTC-USDT": "binance"},
        counters=[
            (odd, "fills", {"side": "buy"}, 3),
            ("BTC-USDT", "orders_blocked", {"side": "buy", "reason": 'r"1'}, 2),
        ],
        histograms=[(odd, "fill_confirmation_seconds", [["0.5", 1], ["1", 2], ["+Inf", 3]], 4.5, 3)],
    )
    collector = StateCollector(Targets(paths=(str(tmp_path / "j.sqlite"),)))
    fast = parse_samples(render_text(collector.families()))
    reference = parse_samples(client_rendering(collector))
    assert without_timing(fast) == without_timing(reference)
    labels = {"bot": 'bot "x"', "connector": "con\\nector", "market": odd}
    assert series(fast, "inventory_guard_fills_total", side="buy", **labels) == 3
    assert series(fast, "inventory_guard_fills_total", side="sell", **labels) == 0  # known label sets start at 0
    assert series(fast, "inventory_guard_fill_confirmation_seconds_bucket", le="1.0", **labels) == 2
    assert series(fast, "inventory_guard_fill_confirmation_seconds_sum", **labels) == 4.5


def test_series_without_a_value_yet_are_omitted(tmp_path):
    """No snapshot yet: no confirmed_at_timestamp_seconds; no force reconcile yet: no force_reconcile_gap."""
    write_raw_journal(tmp_path / "j.sqlite", "b", {"m": "c"})
    samples = parse_samples(render_text(StateCollector(Targets(paths=(str(tmp_path / "j.sqlite"),))).families()))
    names = {name for name, _ in samples}
    assert "inventory_guard_confirmed_at_timestamp_seconds" not in names
    assert "inventory_guard_force_reconcile_gap" not in names
    assert "inventory_guard_confirmed_position" in names


# --- failures never fail the scrape ----------------------------------------------------------------------------


def test_registering_the_collector_reads_no_database():
    class Exploding(Targets):
        def resolve(self):
            raise AssertionError("a journal was resolved at registration")

    registry = CollectorRegistry()
    registry.register(StateCollector(Exploding(paths=("/x",))))  # describe() only


def test_unreadable_files_are_journal_up_0_and_the_others_are_served(tmp_path, caplog):
    write_raw_journal(tmp_path / "good.sqlite", "good", {"m": "c"})
    (tmp_path / "corrupt.sqlite").write_bytes(b"not a database" * 100)
    (tmp_path / "empty.sqlite").write_bytes(b"")
    write_raw_journal(tmp_path / "future.sqlite", "future", {"m": "c"})
    with sqlite3.connect(tmp_path / "future.sqlite") as con:
        con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    write_raw_journal(tmp_path / "twin.sqlite", "good", {"m": "c"})  # same bot name as good.sqlite
    paths = ["good", "corrupt", "empty", "future", "twin", "missing"]
    collector = StateCollector(Targets(paths=tuple(str(tmp_path / f"{p}.sqlite") for p in paths)))

    samples = parse_samples(render_text(collector.families()))

    up = {dict(labels)["path"]: v for (name, labels), v in samples.items() if name.endswith("_journal_up")}
    assert up == {str(tmp_path / f"{p}.sqlite"): (1 if p == "good" else 0) for p in paths}
    assert series(samples, "inventory_guard_confirmed_position", bot="good", connector="c", market="m") == 10.5
    log = caplog.text
    assert "corrupt.sqlite (bot unknown) unreadable, exporting journal_up 0: file is not a database" in log
    assert "empty.sqlite (bot unknown) unreadable, exporting journal_up 0: not an inventory-guard journal" in log
    assert "unsupported journal schema_version '3'" in log
    assert "bot name 'good' is already exported from" in log
    assert "missing.sqlite (bot unknown) unreadable, exporting journal_up 0: file does not exist" in log


def test_a_schema_version_1_journal_is_exported_exactly_as_today_under_todays_names(tmp_path):
    """An older bot's journal (a renamed column and counter, see inventory_guard.schema) until a bot opens it."""
    path = tmp_path / "b1.sqlite"
    write_journal(path, SCENARIO).close()
    collector = StateCollector(Targets(paths=(str(path),)))

    def scrape() -> dict:  # (the exporter's own scrape duration differs every time)
        samples = parse_samples(render_text(collector.families()))
        return {key: value for key, value in samples.items() if "scrape_duration" not in key[0]}

    today = scrape()
    as_schema_v1(path)
    assert scrape() == today
    btc, eth = {"bot": "b1", "market": "BTC-USDT"}, {"bot": "b1", "market": "ETH-USDT"}
    assert series(today, "inventory_guard_out_of_order_snapshots_total", connector="binance", **btc) == 1
    assert series(today, "inventory_guard_force_reconcile_gap", connector="kucoin", **eth) == 2


def test_problems_are_logged_when_they_start_and_end_not_every_scrape(tmp_path, caplog):
    path = tmp_path / "j.sqlite"
    collector = StateCollector(Targets(paths=(str(path),)))
    collector.families()
    collector.families()
    assert caplog.text.count("file does not exist") == 1
    write_raw_journal(path, "b", {"m": "c"})
    collector.families()
    assert "(bot b) readable again" in caplog.text
    path.unlink()
    samples = parse_samples(render_text(collector.families()))
    # once read, a file keeps its bot label while unreadable, so its journal_up series does not change identity
    assert series(samples, "inventory_guard_exporter_journal_up", bot="b", path=str(path)) == 0
