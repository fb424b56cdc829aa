"""The journal: durable, exact restarts, damage is an error and never a silent reset."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal as D

import pytest

from inventory_guard.config import parse_config
from inventory_guard.events import InvalidEvent, parse_event
from inventory_guard.journal import Journal, JournalCorrupt, JournalError
from support.exporter import as_schema_v1

CONFIG = parse_config({"bot_name": "b1", "max_position": "100", "markets": {"small": {"max_position": "5"}}})


def ev(**kw):
    kw.setdefault("market", "m")
    return parse_event(kw)


def random_events(n: int, seed: int = 1):
    rnd = random.Random(seed)
    events, t = [], 0.0
    for i in range(n):
        t += rnd.random()
        kind = rnd.choice(["fill", "fill", "snapshot", "check", "order_open", "order_closed", "tick", "trade_failed",
                           "order_blocked"])
        side = rnd.choice(["buy", "sell"])
        market = rnd.choice(["m", "small"])
        if kind == "fill":
            events.append(ev(t=t, type="fill", market=market, side=side, size=str(rnd.randint(1, 5)),
                             trade_id=f"T{rnd.randint(0, n // 2)}", order_id=f"O{rnd.randint(0, 5)}"))
        elif kind == "snapshot":
            events.append(ev(t=t, type="snapshot", market=market, size=str(rnd.randint(0, 20))))
        elif kind == "check":
            events.append(ev(t=t, type="check", market=market, side=side, size=str(rnd.randint(1, 50))))
        elif kind == "order_open":
            events.append(ev(t=t, type="order_open", market=market, order_id=f"O{i}", side=side, size="3"))
        elif kind == "order_closed":
            events.append(parse_event({"t": t, "type": "order_closed", "order_id": f"O{rnd.randint(0, i)}"}))
        elif kind == "order_blocked":
            events.append(ev(t=t, type="order_blocked", market=market, side=side,
                             reason=rnd.choice(["guard_error", "unknown_market", "invalid_size"])))
        elif kind == "tick":
            events.append(parse_event({"t": t, "type": "tick"}))
        else:
            events.append(parse_event({"t": t, "type": "trade_failed", "trade_id": f"T{rnd.randint(0, n // 2)}"}))
    return events


def apply_all(journal, events):
    for event in events:
        with contextlib.suppress(InvalidEvent):
            journal.apply(event)


def test_a_restart_restores_exactly_the_state_before_it(tmp_path):
    path = tmp_path / "g.sqlite"
    events = random_events(600)
    with Journal.open(path, CONFIG, checkpoint_every=250) as j:
        apply_all(j, events)
        before = j.guard.to_dict()
        views = {m: j.state(m) for m in j.markets}
    with Journal.open(path, CONFIG, checkpoint_every=250) as j:
        assert j.guard.to_dict() == before  # same pending fills with their arrival times, same seen keys
        assert {m: j.state(m) for m in j.markets} == views


def test_restoring_from_the_event_log_alone_matches_the_checkpoint(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG, checkpoint_every=10**9) as j:
        apply_all(j, random_events(300, seed=2))
        j._db.execute("DELETE FROM checkpoints")  # simulate a crash before any checkpoint
        before = j.guard.to_dict()
        j._checkpoint_seq = j.seq  # skip the closing checkpoint
    with Journal.open(path, CONFIG) as j:
        assert j.guard.to_dict() == before


# What checkpoint format 3 called the market keys format 4 renamed (the migration is the event log's replay).
FORMAT_3_MARKET_KEYS = {"open_buy_reservations": "open_buys", "open_sell_reservations": "open_sells",
                        "force_reconcile_gap": "last_force_reconcile_gap"}


def test_an_older_checkpoint_format_is_ignored_and_the_event_log_replayed(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        apply_all(j, random_events(300, seed=3))
        before = j.guard.to_dict()
        views = {m: j.state(m) for m in j.markets}
        counters = {m: j.counters(m) for m in j.markets}
    conn = sqlite3.connect(path)
    (body,) = conn.execute("SELECT body FROM checkpoints").fetchone()
    old = json.loads(body)
    old["format"] = 3
    for book in old["markets"].values():
        for new, previous in FORMAT_3_MARKET_KEYS.items():
            book[previous] = book.pop(new)
        book["confirmed"] = "999"  # were this checkpoint read, the restored state would show it
    with conn:
        conn.execute("UPDATE checkpoints SET body = ?", (json.dumps(old),))
    conn.close()
    with Journal.open(path, CONFIG) as j:
        assert j.guard.to_dict() == before
        assert {m: j.state(m) for m in j.markets} == views
        assert {m: j.counters(m) for m in j.markets} == counters
        j.checkpoint()
        (body,) = j._db.execute("SELECT body FROM checkpoints").fetchone()
    assert json.loads(body) == before  # the checkpoint written after the replay is of today's format


def test_state_tables_follow_every_event(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG, state_write_interval_s=0) as j:
        j.apply(ev(t=1, type="snapshot", size="10"))
        j.apply(ev(t=2, type="fill", side="buy", size="2.5", trade_id="T1"))
        j.apply(ev(t=3, type="check", side="buy", size="200"))
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = dict(zip([c[0] for c in conn.execute("SELECT * FROM market_state").description],
                       conn.execute("SELECT * FROM market_state WHERE market='m'").fetchone(), strict=True))
        assert (row["confirmed"], row["effective"], row["pending_fill_buys"], row["conservative_exposure"]) == (
            "10.00", "12.50", "2.50", "12.50")
        assert row["oldest_pending_fill_age_s"] == 1.0 and row["max_position"] == "100"
        counters = {(n, labels): v for n, labels, v in conn.execute("SELECT name, labels, value FROM market_counters")}
        assert counters[("fills", '{"side":"buy"}')] == 1
        assert counters[("orders_resized", '{"side":"buy"}')] == 1
        decision = conn.execute("SELECT decision FROM events WHERE type='check'").fetchone()[0]
        assert json.loads(decision) == {"allowed": True, "size": "87.50", "reason": "position_limit"}
        assert conn.execute("SELECT value FROM meta WHERE key='bot'").fetchone()[0] == "b1"


def test_a_schema_version_1_journal_is_renamed_to_version_2_when_opened(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        j.apply(ev(t=1, type="snapshot", size="10", as_of=1))
        j.apply(ev(t=2, type="snapshot", size="9", as_of=0.5))  # out of order: ignored and counted
        j.apply(ev(t=3, type="fill", side="buy", size="2", trade_id="T1"))
        j.apply(ev(t=4, type="force_reconcile", size="11"))
        views, counters = j.state("m"), j.counters("m")
    as_schema_v1(path)
    with Journal.open(path, CONFIG) as j:
        assert (j.state("m"), j.counters("m")) == (views, counters)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    row = conn.execute("SELECT force_reconcile_gap FROM market_state WHERE market = 'm'").fetchone()
    names = {n for (n,) in conn.execute("SELECT name FROM market_counters WHERE market = 'm'")}
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert (row, version, conn.execute("PRAGMA user_version").fetchone()) == (("1.00",), ("2",), (2,))
    assert "out_of_order_snapshots" in names and "stale_snapshots" not in names
    conn.close()


def test_the_state_rows_held_buys_are_the_views_likely_inside_ones_included(tmp_path):
    """An ambiguous move (two buys of 5, a move of 5): no fill is anchored, the estimate counts the older one inside."""
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG, state_write_interval_s=0) as j:
        j.apply(ev(t=1, type="snapshot", size="0"))
        j.apply(ev(t=2, type="fill", side="buy", size="5", trade_id="A"))
        j.apply(ev(t=3, type="fill", side="buy", size="5", trade_id="B"))
        j.apply(ev(t=4, type="snapshot", size="5"))
        view = j.state("m")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = conn.execute("SELECT held_buys, pending_fill_buys FROM market_state WHERE market='m'").fetchone()
    assert (view.held_buys, view.pending_fill_buys) == (D(5), D(5))
    assert row == ("5.00", "5.00")


def stored_counters_and_histograms(path) -> tuple[dict, dict]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        counters = {(m, n, lab): v for m, n, lab, v in conn.execute("SELECT market, name, labels, value FROM "
                                                                    "market_counters")}
        histograms = {m: (json.loads(b), c) for m, b, c in conn.execute("SELECT market, buckets, count FROM "
                                                                        "market_histograms")}
    return counters, histograms


@pytest.mark.parametrize("interval", [0, 3600], ids=["every event", "batched"])
def test_counter_and_histogram_rows_equal_the_books_after_every_write(tmp_path, interval):
    """The journal rewrites what each event's Outcome touched, where the book differs from what it last wrote."""
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG, state_write_interval_s=interval) as j:
        events = random_events(400, seed=3)
        for start in range(0, len(events), 50):
            apply_all(j, events[start:start + 50])
            j.flush()
            counters, histograms = stored_counters_and_histograms(path)
            assert counters == {(m, n, json.dumps(dict(lab), sort_keys=True, separators=(",", ":"))): v
                                for m in j.markets for (n, lab), v in j.counters(m).items()}
            books = j.guard.books
            assert histograms == {m: ([list(b) for b in books[m].histogram_cumulative()], sum(books[m].histogram))
                                  for m in j.markets}
        assert sum(histograms[m][1] for m in j.markets) > 0 and ("m", "orders_blocked") in {k[:2] for k in counters}


def test_an_invalid_event_writes_nothing(tmp_path):
    with Journal.open(tmp_path / "g.sqlite", CONFIG) as j:
        j.apply(ev(t=1, type="snapshot", size="10"))
        with pytest.raises(InvalidEvent):
            j.apply(ev(t=2, type="snapshot", size="-1"))
        assert j._db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_a_second_writer_is_refused(tmp_path):
    with Journal.open(tmp_path / "g.sqlite", CONFIG), pytest.raises(JournalError, match="in use by another process"):
        Journal.open(tmp_path / "g.sqlite", CONFIG)


def test_a_closed_journal_refuses_events_before_anything_changes(tmp_path):
    j = Journal.open(tmp_path / "g.sqlite", CONFIG)
    j.apply(ev(t=1, type="snapshot", size="3"))
    j.close()
    for write in (lambda: j.apply(ev(t=2, type="snapshot", size="4")), j.checkpoint):
        with pytest.raises(JournalError, match="journal closed"):
            write()
    assert (j.seq, j.state("m").confirmed) == (1, D(3))
    j.close()  # still a no-op


def test_a_corrupt_database_is_a_clear_error_and_is_left_untouched(tmp_path):
    path = tmp_path / "g.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalCorrupt, match="not a readable SQLite database"):
        Journal.open(path, CONFIG)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_a_market_dropped_from_the_config_is_a_clear_error(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        j.apply(ev(t=1, type="snapshot", market="other", size="1"))
    strict = parse_config({"markets": {"m": {"max_position": "1"}}})
    with pytest.raises(JournalError, match="market the config does not know"):
        Journal.open(path, strict)


CHILD = textwrap.dedent("""
    import sys
    from inventory_guard.config import parse_config
    from inventory_guard.events import parse_event
    from inventory_guard.journal import Journal
    j = Journal.open(sys.argv[1], parse_config({"max_position": "1000000"}), checkpoint_every=int(sys.argv[2]))
    for i in range(1, 100000):
        j.apply(parse_event({"t": i / 1000, "type": "fill", "market": "m", "side": "buy", "size": "1",
                             "trade_id": f"T{i}"}))
        print(i, flush=True)  # acknowledged: apply returned
""")


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_a_random_point_loses_no_acknowledged_event(tmp_path, seed):
    rnd = random.Random(seed)
    path = tmp_path / "g.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(rnd.choice([7, 50, 10**6]))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout
    target, acknowledged = rnd.randint(20, 400), 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= target:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with Journal.open(path, parse_config({"max_position": "1000000"})) as j:
        assert j.seq >= acknowledged  # an event may have been committed but not yet acknowledged
        assert j.state("m").pending_fill_buys == D(j.seq)
        assert j.state("m").pending_fills == j.seq


def test_an_event_the_journal_could_not_read_back_is_refused_up_front(tmp_path):
    from decimal import Decimal

    from inventory_guard.events import Fill

    with Journal.open(tmp_path / "g.sqlite", CONFIG) as j:
        with pytest.raises(InvalidEvent, match="trade_id: must not be empty"):
            j.apply(Fill(Decimal(1), "m", "buy", Decimal(1), trade_id=" "))
        with pytest.raises(InvalidEvent, match="longer than 256"):
            j.apply(Fill(Decimal(1), "m", "buy", Decimal(1), order_id="x" * 300))
        j.apply(Fill(Decimal(1), "m", "buy", Decimal(1), trade_id="ok", fee_base=Decimal("-0.01")))
    with Journal.open(tmp_path / "g.sqlite", CONFIG) as j:  # reopens: everything journaled reads back
        assert j.state("m").pending_fill_buys == Decimal("1.01")


def test_state_tables_are_batched_during_a_burst_and_written_by_flush_and_close(tmp_path):
    path = tmp_path / "g.sqlite"

    def confirmed_in_table():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT confirmed FROM market_state WHERE market='m'").fetchone()[0]

    with Journal.open(path, CONFIG, state_write_interval_s=3600) as j:
        j.apply(ev(t=1, type="snapshot", size="1"))  # the first event after a quiet spell writes at once
        assert confirmed_in_table() == "1.00"
        j.apply(ev(t=2, type="snapshot", size="2"))  # inside the interval: the event is committed, its state waits
        assert confirmed_in_table() == "1.00"
        j.flush()
        assert confirmed_in_table() == "2.00"
        j.apply(ev(t=3, type="snapshot", size="3"))
    assert confirmed_in_table() == "3.00"  # close writes what lags


def test_a_tick_rewrites_quiet_markets_so_readers_see_the_guard_is_alive(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG, state_write_interval_s=0) as j:
        j.apply(ev(t=1, type="snapshot", size="1"))
        j.apply(parse_event({"t": 100, "type": "tick"}))
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            assert conn.execute("SELECT clock, last_seq FROM market_state WHERE market='m'").fetchone() == (100.0, 2)
