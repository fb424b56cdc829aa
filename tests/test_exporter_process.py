"""The exporter as users run it: a real process on 127.0.0.1, journals written by the real core, HTTP scrapes.

Specification checked here: every series equals the core's own state; the body passes ``promtool check metrics``;
text format unless the client insists on OpenMetrics; a bot writing while it is scraped never produces an error
or a torn read; a missing, corrupt or locked journal is ``journal_up 0`` with a clear log line while the other bots
are still served; fleet globs pick up new bots without a restart; the exporter never writes a journal.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from inventory_guard.events import BlockReason
from inventory_guard.journal import Journal
from support import REPO
from support.exporter import (
    CONFIG,
    PROMETHEUS_2_42_ACCEPT,
    SCENARIO,
    parse_samples,
    promtool_check_metrics,
    running_exporter,
    series,
    write_journal,
)

P = "inventory_guard_"

GAUGE_OF_VIEW = {
    "confirmed_position": "confirmed",
    "effective_position": "effective",
    "pending_fill_buys": "pending_fill_buys",
    "pending_fill_sells": "pending_fill_sells",
    "pending_fills": "pending_fills",
    "held_buys": "held_buys",
    "open_buy_reservations": "open_buy_reservations",
    "open_sell_reservations": "open_sell_reservations",
    "conservative_exposure": "conservative_exposure",
    "max_position": "max_position",
    "available_to_sell": "available_to_sell",
    "oldest_pending_fill_age_seconds": "oldest_pending_fill_age_s",
    "pending_fill_max_age_seconds": "pending_fill_max_age_s",
    "confirmed_at_timestamp_seconds": "confirmed_at",
    "force_reconcile_gap": "force_reconcile_gap",
}


@pytest.fixture
def journal(tmp_path):
    j = write_journal(tmp_path / "b1.sqlite", SCENARIO)
    yield j
    j.close()


def markets_with_histogram(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return {m for (m,) in con.execute("SELECT market FROM market_histograms")}


def expected_series(j: Journal) -> dict[tuple, float]:
    """Every series the exporter must serve for this journal, computed from the core's own reading API.

    The fill-confirmation histogram is served for each market the journal has a histogram row for (the core
    writes one once the market has something to show).
    """
    out: dict[tuple, float] = {}
    histograms = markets_with_histogram(j.path)

    def put(name, labels, value):
        out[(P + name, tuple(sorted(labels.items())))] = float(value)

    for market in j.markets:
        view = j.state(market)
        base = {"bot": "b1", "connector": view.connector, "market": market}
        for gauge, attr in GAUGE_OF_VIEW.items():
            if getattr(view, attr) is not None:
                put(gauge, base, getattr(view, attr))
        put("effective_minus_confirmed", base, view.effective - view.confirmed)
        put("halted", base, int(view.halted))
        zero_counters = [("fills", {"side": s}) for s in ("buy", "sell")] + [
            (name, {}) for name in ("duplicate_fills", "fills_aged_out", "fills_failed", "out_of_order_snapshots",
                                    "settlement_mismatches", "reconcile_capped")
        ] + [("fills_confirmed", {"how": h}) for h in ("identity", "sums")] + [
            ("reconcile_fallbacks", {"reason": r}) for r in ("capped", "mismatch", "overdue")
        ] + [("settlement_notices", {"result": r}) for r in ("after_failure", "applied", "early", "unmatched")] + [
            ("undecided_fills_decided", {"result": r}) for r in ("phantom", "real")] + [
            ("force_reconciles", {"reason": r}) for r in ("manual", "periodic", "sequence_gap", "ws_reconnect")] + [
            (name, {"side": s}) for name in ("orders_checked", "orders_resized") for s in ("buy", "sell")
        ] + [("orders_blocked", {"reason": r, "side": s}) for r in BlockReason for s in ("buy", "sell")]
        for name, labels in zero_counters:
            put(name + "_total", {**base, **labels}, 0)
        for (name, labels), value in j.counters(market).items():
            put(name + "_total", {**base, **dict(labels)}, value)
        if market not in histograms:
            continue
        book = j.guard.books[market]
        for le, count in book.histogram_cumulative():
            put("fill_confirmation_seconds_bucket", {**base, "le": str(float(le)) if le != "+Inf" else le}, count)
        put("fill_confirmation_seconds_count", base, sum(book.histogram))
        put("fill_confirmation_seconds_sum", base, book.histogram_sum)
    return out


def state_series(samples: dict[tuple, float]) -> dict[tuple, float]:
    """Per-market series only (no exporter health, process or timestamp series)."""
    return {
        k: v for k, v in samples.items()
        if k[0].startswith(P) and not k[0].startswith(P + "exporter_")
        and k[0] != P + "state_last_update_timestamp_seconds"
    }


# --- values -----------------------------------------------------------------------------------------------------


def test_every_series_equals_the_core_state(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        samples = exporter.metrics()
    assert state_series(samples) == expected_series(journal)
    assert series(samples, P + "exporter_journal_up", bot="b1", path=str(journal.path)) == 1
    # the scenario really exercised the interesting paths
    btc = {"bot": "b1", "connector": "binance", "market": "BTC-USDT"}
    eth = {"bot": "b1", "connector": "kucoin", "market": "ETH-USDT"}
    assert series(samples, P + "fills_confirmed_total", how="sums", **btc) == 1
    assert series(samples, P + "fill_confirmation_seconds_sum", **btc) == 1.75
    assert series(samples, P + "duplicate_fills_total", **btc) == 1
    assert series(samples, P + "out_of_order_snapshots_total", **btc) == 1
    assert series(samples, P + "fills_aged_out_total", **eth) == 1
    assert series(samples, P + "fills_failed_total", **eth) == 1
    assert series(samples, P + "force_reconciles_total", reason="ws_reconnect", **eth) == 1
    assert series(samples, P + "force_reconcile_gap", **eth) == 2  # effective 2 (no snapshot aged T4 out), API 4
    assert series(samples, P + "halted", **eth) == 1
    assert series(samples, P + "effective_minus_confirmed", **btc) == -4  # T2 and T6: no snapshot after them
    assert series(samples, P + "oldest_pending_fill_age_seconds", **btc) == 50  # T2, pending since t=5
    assert series(samples, P + "pending_fill_sells", **eth) == 0.5
    assert any(k[0] == P + "orders_blocked_total" for k in samples)
    assert any(k[0] == P + "orders_resized_total" and v == 1 for k, v in samples.items())


def test_state_update_time_is_the_journals_write_time(journal):
    with sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True) as con:
        written = dict(con.execute("SELECT market, written_at FROM market_state"))
    with running_exporter("--journal", str(journal.path)) as exporter:
        samples = exporter.metrics()
    for market, connector in (("BTC-USDT", "binance"), ("ETH-USDT", "kucoin")):
        value = series(samples, P + "state_last_update_timestamp_seconds", bot="b1", connector=connector, market=market)
        assert value == written[market]


def test_no_snapshot_yet_means_no_confirmed_at_series(tmp_path):
    j = write_journal(tmp_path / "b1.sqlite", [
        {"t": 1, "type": "fill", "market": "BTC-USDT", "side": "buy", "size": "1", "trade_id": "T1"}
    ])
    try:
        with running_exporter("--journal", str(j.path)) as exporter:
            samples = exporter.metrics()
    finally:
        j.close()
    names = {name for name, _ in samples}
    assert P + "confirmed_position" in names
    assert P + "confirmed_at_timestamp_seconds" not in names
    assert P + "force_reconcile_gap" not in names


# --- format ------------------------------------------------------------------------------------------------------


def test_a_real_scrape_passes_promtool_check_metrics(journal):
    missing = str(journal.path.with_name("missing.sqlite"))
    with running_exporter("--journal", str(journal.path), "--journal", missing) as ex:
        response = ex.get(headers={"Accept": PROMETHEUS_2_42_ACCEPT})
    assert response.status == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    result = promtool_check_metrics(response.text)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_gzip_when_the_client_accepts_it(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        plain = exporter.get()
        zipped = exporter.get(headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert state_series(parse_samples(zipped.text)) == state_series(parse_samples(plain.text))


def openmetrics_samples(text: str) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_openmetrics(text) for s in family.samples
    }


def test_openmetrics_only_when_the_client_insists_or_the_flag_prefers_it(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        text = exporter.get(headers={"Accept": PROMETHEUS_2_42_ACCEPT})
        insisted = exporter.get(headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert text.headers["content-type"].startswith("text/plain")
    assert insisted.headers["content-type"].startswith("application/openmetrics-text")
    assert insisted.text.endswith("# EOF\n")
    assert state_series(openmetrics_samples(insisted.text)) == expected_series(journal)

    with running_exporter("--journal", str(journal.path), "--openmetrics") as exporter:
        preferred = exporter.get(headers={"Accept": PROMETHEUS_2_42_ACCEPT})
    assert preferred.headers["content-type"].startswith("application/openmetrics-text")


def test_healthz_and_unknown_paths(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        health = exporter.get("/healthz")
        missing = exporter.get("/nope")
    assert (health.status, health.text) == (200, "ok\n")
    assert missing.status == 404


def test_standard_process_and_exporter_health_metrics_are_served(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        samples = exporter.metrics()
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "python_info", "python_gc_collections_total"} <= names
    assert 0 < series(samples, P + "exporter_scrape_duration_seconds") < 5


# --- a bot writing while it is scraped ----------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from inventory_guard.config import GuardConfig
    from inventory_guard.events import parse_event
    from inventory_guard.journal import Journal

    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    markets = [f"M{i}-USDT" for i in range(5)]
    config = GuardConfig.model_validate({"bot_name": "writer", "max_position": "1000000",
                                         "size_increment": "1", "pending_fill_max_age_s": "1000000000"})
    with Journal.open(path, config) as j:
        t, n = 1, 0
        for m in markets:
            j.apply(parse_event({"t": t, "type": "snapshot", "market": m, "size": "0"}))
        j.flush()
        print("ready", flush=True)
        while not stop.exists() and n < 200_000:
            t += 1
            n += 1
            m = markets[n % len(markets)]
            if n % 7 == 0:  # confirm everything pending in this market
                j.apply(parse_event({"t": t, "type": "snapshot", "market": m, "size": str(j.state(m).effective)}))
            else:
                j.apply(parse_event({"t": t, "type": "fill", "market": m, "side": "buy", "size": "1",
                                     "trade_id": f"T{n}"}))
    """
)


def test_scrapes_while_the_bot_writes_are_consistent_and_never_fail(tmp_path):
    """Counters and state live in different tables; a torn read would break these per-scrape identities."""
    path, stop = tmp_path / "writer.sqlite", tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(stop)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline() == "ready\n"
        with running_exporter("--journal", str(path)) as exporter:
            previous_fills: dict[str, float] = {}
            for _ in range(60):
                response = exporter.get()
                assert response.status == 200
                samples = parse_samples(response.text)
                assert series(samples, P + "exporter_journal_up", bot="writer", path=str(path)) == 1
                for i in range(5):
                    labels = {"bot": "writer", "connector": "unknown", "market": f"M{i}-USDT"}
                    fills = series(samples, P + "fills_total", side="buy", **labels)
                    pending = series(samples, P + "pending_fills", **labels)
                    confirmed = sum(series(samples, P + "fills_confirmed_total", how=h, **labels)
                                    for h in ("identity", "sums"))
                    assert fills == pending + confirmed
                    assert series(samples, P + "pending_fill_buys", **labels) == pending
                    assert series(samples, P + "confirmed_position", **labels) == confirmed
                    assert series(samples, P + "effective_position", **labels) == fills
                    assert series(samples, P + "fill_confirmation_seconds_count", **labels) == confirmed
                    assert fills >= previous_fills.get(labels["market"], 0)  # counters never go back
                    previous_fills[labels["market"]] = fills
            assert "unreadable" not in exporter.log
        assert sum(previous_fills.values()) > 0
    finally:
        stop.touch()
        writer.wait(timeout=30)
        writer.stdout.close()
    assert writer.returncode == 0


# --- failures -----------------------------------------------------------------------------------------------------


def test_missing_journal_is_journal_up_0_until_the_bot_creates_it(journal, tmp_path):
    later = tmp_path / "later.sqlite"
    with running_exporter("--journal", str(journal.path), "--journal", str(later)) as exporter:
        samples = exporter.metrics()
        assert series(samples, P + "exporter_journal_up", bot="unknown", path=str(later)) == 0
        assert series(samples, P + "exporter_journal_up", bot="b1", path=str(journal.path)) == 1
        assert state_series(samples) == expected_series(journal)  # the other bot is served in full
        exporter.wait_for_log(f"journal {later} (bot unknown) unreadable, exporting journal_up 0: file does not exist")

        second = write_journal(later, SCENARIO[:2], {**CONFIG, "bot_name": "b2"})
        try:
            samples = exporter.metrics()
        finally:
            second.close()
        assert series(samples, P + "exporter_journal_up", bot="b2", path=str(later)) == 1
        assert series(samples, P + "confirmed_position", bot="b2", connector="binance", market="BTC-USDT") == 10
        exporter.wait_for_log(f"journal {later} (bot b2) readable again")


def test_corrupt_journal_is_journal_up_0_with_a_clear_log(journal, tmp_path):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database\n" * 200)
    with running_exporter("--journal", str(corrupt), "--journal", str(journal.path)) as exporter:
        first = exporter.metrics()
        second = exporter.metrics()
        log = exporter.wait_for_log("file is not a database")
    for samples in (first, second):
        assert series(samples, P + "exporter_journal_up", bot="unknown", path=str(corrupt)) == 0
        assert state_series(samples) == expected_series(journal)
    assert f"journal {corrupt} (bot unknown) unreadable, exporting journal_up 0: file is not a database" in log
    assert log.count("file is not a database") == 1  # logged when it starts, not on every scrape


def test_locked_journal_is_journal_up_0_and_recovers(journal):
    journal.close()  # a connection in exclusive locking mode (below) needs the journal to itself
    with running_exporter("--journal", str(journal.path)) as exporter:
        assert exporter.metrics()[(P + "exporter_journal_up", (("bot", "b1"), ("path", str(journal.path))))] == 1
        locker = sqlite3.connect(journal.path, isolation_level=None)
        try:
            locker.execute("PRAGMA locking_mode=EXCLUSIVE")
            locker.execute("BEGIN EXCLUSIVE")
            locker.execute("UPDATE meta SET value = value WHERE key = 'bot'")
            response = exporter.get()
            assert response.status == 200
            samples = parse_samples(response.text)
            assert series(samples, P + "exporter_journal_up", bot="b1", path=str(journal.path)) == 0
            exporter.wait_for_log(
                f"journal {journal.path} (bot b1) unreadable, exporting journal_up 0: database is locked")
        finally:
            locker.close()
        samples = exporter.metrics()
        assert series(samples, P + "exporter_journal_up", bot="b1", path=str(journal.path)) == 1
        assert state_series(samples) == expected_series(journal)


def test_the_exporter_never_writes_a_journal(tmp_path):
    j = write_journal(tmp_path / "b1.sqlite", SCENARIO)
    j.close()
    digest = hashlib.sha256(j.path.read_bytes()).hexdigest()
    with running_exporter("--journal", str(j.path)) as exporter:
        for _ in range(3):
            assert exporter.metrics()
    assert hashlib.sha256(j.path.read_bytes()).hexdigest() == digest


def test_the_exporter_imports_neither_hummingbot_nor_the_core():
    code = (
        "import sys, inventory_guard_exporter.cli, inventory_guard_exporter.server;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hummingbot', 'inventory_guard'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# --- fleets and lifecycle ------------------------------------------------------------------------------------------


def test_fleet_config_globs_pick_up_new_bots_without_restart(tmp_path):
    fleet = tmp_path / "bots"
    first = write_journal(fleet / "alpha" / "guard.sqlite", SCENARIO[:4], {**CONFIG, "bot_name": "alpha"})
    config = tmp_path / "exporter.yaml"
    config.write_text(f"listen: 127.0.0.1:0\njournal_globs:\n  - {fleet}/*/guard.sqlite\n")
    try:
        with running_exporter("--config", str(config)) as exporter:
            assert f"watching {fleet}/*/guard.sqlite (glob)" in exporter.log
            up = lambda: {  # noqa: E731
                dict(k[1])["bot"]: v for k, v in exporter.metrics().items() if k[0] == P + "exporter_journal_up"
            }
            assert up() == {"alpha": 1}
            second = write_journal(fleet / "beta" / "guard.sqlite", SCENARIO[:1], {**CONFIG, "bot_name": "beta"})
            second.close()
            assert up() == {"alpha": 1, "beta": 1}
    finally:
        first.close()


def test_invalid_config_exits_2_with_a_message(tmp_path):
    config = tmp_path / "exporter.yaml"
    config.write_text("journal_globs: /not/a/list\n")
    result = subprocess.run(
        [sys.executable, "-m", "inventory_guard_exporter", "--config", str(config)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"{config}: invalid exporter configuration" in result.stderr
    assert "journal_globs: Input should be a valid list" in result.stderr


def test_startup_line_names_what_it_watches_and_sigterm_stops_cleanly(journal):
    with running_exporter("--journal", str(journal.path)) as exporter:
        first_line = exporter.log.splitlines()[0]
        assert first_line == (
            f"inventory-guard-exporter 0.1.0 serving {exporter.url}/metrics, watching {journal.path}"
        )
        assert exporter.url.startswith("http://127.0.0.1:")
        exporter.proc.send_signal(signal.SIGTERM)
        assert exporter.proc.wait(timeout=10) == 0


def test_default_listen_address_is_loopback():
    from inventory_guard_exporter.config import ExporterConfig

    assert ExporterConfig().listen == "127.0.0.1:9464"


def test_decimal_values_are_converted_only_at_export(journal):
    """The journal keeps exact decimal text; the exporter's float is float(Decimal) of it."""
    with sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True) as con:
        stored = con.execute("SELECT effective FROM market_state WHERE market = 'BTC-USDT'").fetchone()[0]
    assert Decimal(stored) == journal.state("BTC-USDT").effective


def test_console_script_is_installed_with_the_package():
    script = Path(sys.executable).with_name("inventory-guard-exporter")
    if not script.exists():
        pytest.fail(f"{script} missing: install the project (pip install -e .) into this environment")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "inventory-guard-exporter 0.1.0")
