"""The journal under abuse: one writer whatever name reaches the file, nothing changed in a file that is not an intact
journal, damage found on open, a full disk is a clean error (not damage), unusable paths and SIGINT in the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from inventory_guard.config import parse_config
from inventory_guard.events import Event, parse_event
from inventory_guard.journal import Journal, JournalCorrupt, JournalError
from inventory_guard.schema import SCHEMA_VERSION

CONFIG = parse_config({"bot_name": "b1", "max_position": "1000000"})
CONFIG_YAML = "max_position: '1000000'\n"


def fill(i: int, **kw) -> Event:
    return parse_event({"t": i, "type": "fill", "market": "m", "side": "buy", "size": "1", "trade_id": f"T{i}", **kw})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


# --- one writer -------------------------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sqlite3, sys
    from inventory_guard.config import parse_config
    from inventory_guard.events import parse_event
    from inventory_guard.journal import Journal
    j = Journal.open(sys.argv[1], parse_config({"max_position": "1000000"}))
    j.apply(parse_event({"t": 1, "type": "fill", "market": "m", "side": "buy", "size": "1", "trade_id": "A"}))
    # SQLite closing descriptors of the file (another connection here) must not release the lock (flock, not POSIX)
    sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events").fetchone()
    print("ready", flush=True)
    sys.stdin.readline()
    j.apply(parse_event({"t": 2, "type": "fill", "market": "m", "side": "buy", "size": "1", "trade_id": "B"}))
    j.close()
    print("done", flush=True)
""")


@contextmanager
def running_writer(path: Path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        yield proc
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done", proc.stderr.read()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


def test_a_second_name_for_the_file_does_not_admit_a_second_writer(tmp_path):
    path = tmp_path / "g.sqlite"
    with running_writer(path):
        os.link(path, tmp_path / "hard.sqlite")
        os.symlink(path, tmp_path / "soft.sqlite")
        for name in ("g.sqlite", "hard.sqlite", "soft.sqlite"):
            with pytest.raises(JournalError, match="in use by another process"):
                Journal.open(tmp_path / name, CONFIG)
        (tmp_path / "hard.sqlite").unlink()
    with Journal.open(tmp_path / "soft.sqlite", CONFIG) as j:  # the writer's two events, nothing lost
        assert j.seq == 2 and j.state("m").pending_fills == 2
    assert not any(name.endswith(".lock") for name in siblings(path))  # the lock is on the file, not beside it


def test_a_deleted_lock_file_does_not_admit_a_second_writer(tmp_path):
    path = tmp_path / "g.sqlite"
    legacy_lock = tmp_path / "g.sqlite.lock"  # what earlier versions locked
    legacy_lock.write_text("")
    with running_writer(path):
        legacy_lock.unlink()
        with pytest.raises(JournalError, match="in use by another process"):
            Journal.open(path, CONFIG)


def test_a_journal_with_a_hard_link_is_refused_and_left_untouched(tmp_path):
    """SQLite finds the WAL by name: a run through another name would not see the first name's WAL (the issue's
    rollback that lost 3 acknowledged events), so a second name is refused even when no writer runs."""
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        j.apply(fill(1))
    os.link(path, tmp_path / "copy.sqlite")
    before = digest(path)
    for name in ("g.sqlite", "copy.sqlite"):
        with pytest.raises(JournalError, match="2 names \\(hard links\\)"):
            Journal.open(tmp_path / name, CONFIG)
    assert digest(path) == before
    (tmp_path / "copy.sqlite").unlink()
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 1


def test_a_symlinked_journal_keeps_its_wal_beside_the_real_file(tmp_path):
    (tmp_path / "real").mkdir()
    path = tmp_path / "real" / "g.sqlite"
    os.symlink(path, tmp_path / "link.sqlite")  # dangling: the journal is created at the target
    j = Journal.open(tmp_path / "link.sqlite", CONFIG)
    j.apply(fill(1))
    assert "g.sqlite-wal" in siblings(path) and "link.sqlite-wal" not in siblings(tmp_path / "link.sqlite")
    j.close()
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 1


# --- foreign files and damage: refused before anything is changed --------------------------------------------------

def foreign_database(path: Path, wal: bool = False, application_id: int = 0) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    if application_id:
        conn.execute(f"PRAGMA application_id={application_id}")
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.execute("INSERT INTO customers VALUES (1)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("wal, application_id, message", [
    (False, 0, "not an inventory-guard journal \\(tables: customers\\)"),
    (True, 0, "not an inventory-guard journal"),
    (False, 0x12345678, "another application \\(application_id 0x12345678\\)"),
    (True, 0x12345678, "another application \\(application_id 0x12345678\\)"),
])
def test_a_foreign_sqlite_file_is_refused_with_its_bytes_unchanged(tmp_path, wal, application_id, message):
    path = tmp_path / "other.sqlite"
    foreign_database(path, wal, application_id)
    before, mode_byte = digest(path), path.read_bytes()[18]
    with pytest.raises(JournalCorrupt, match=message):
        Journal.open(path, CONFIG)
    assert digest(path) == before and path.read_bytes()[18] == mode_byte  # not switched to WAL
    assert siblings(path) == {"other.sqlite"}  # and no -wal/-shm files were created beside it


def test_an_empty_file_is_damage_and_stays_empty(tmp_path):
    path = tmp_path / "g.sqlite"
    path.touch()
    with pytest.raises(JournalCorrupt, match="the file is empty"):
        Journal.open(path, CONFIG)
    assert path.stat().st_size == 0 and siblings(path) == {"g.sqlite"}


def test_a_new_journal_is_never_an_empty_file(tmp_path):
    path = tmp_path / "new" / "g.sqlite"
    with Journal.open(path, CONFIG):
        assert path.stat().st_size > 0
        assert sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("PRAGMA application_id").fetchone() == (
            0x49475244,)
    assert not [n for n in siblings(path) if ".new-" in n]  # the temporary build is gone


def journal_with_events(path: Path, n: int = 50) -> None:
    with Journal.open(path, CONFIG, state_write_interval_s=0) as j:
        for i in range(1, n + 1):
            j.apply(fill(i))


def journal_without_a_closing_checkpoint(path: Path) -> None:
    """15 events, a checkpoint after event 10 and none at close: a restore replays events 11..15 onto it."""
    with Journal.open(path, CONFIG, checkpoint_every=10) as j:
        for i in range(1, 16):
            j.apply(fill(i))
        j._checkpoint_seq = j.seq


def damaged(path: Path, *statements: str) -> None:
    """Apply SQL to a closed journal as some other tool would."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def checkpoint_body(path: Path) -> dict:
    """The (only) checkpoint of a closed journal, as JSON."""
    conn = sqlite3.connect(path)
    body = json.loads(conn.execute("SELECT body FROM checkpoints").fetchone()[0])
    conn.close()
    return body


def refused_untouched(path: Path, message: str) -> None:
    """Opening the journal is JournalCorrupt matching ``message``, and leaves the file's bytes as they were."""
    before = digest(path)
    with pytest.raises(JournalCorrupt, match=message):
        Journal.open(path, CONFIG)
    assert digest(path) == before


def test_a_damaged_event_log_is_a_clear_error(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        j.apply(parse_event({"t": 1, "type": "snapshot", "market": "m", "size": "10"}))
        j._checkpoint_seq = j.seq
    damaged(path, "UPDATE events SET body = '{\"type\":\"fill\"}'", "DELETE FROM checkpoints")
    refused_untouched(path, "event 1 in the journal is damaged")


def _set_confirmed(body):
    body["markets"]["m"]["confirmed"] = "@@"


def _set_open_buy_reservations(body):
    body["markets"]["m"]["open_buy_reservations"] = "@@"


def _set_histogram_sum(body):
    body["markets"]["m"]["histogram_sum"] = "@@"


def _set_pending_fill_amount(body):
    body["markets"]["m"]["pending"]["fills"][0][3] = "@@"  # inside a pending fill (a slots object once restored)


@pytest.mark.parametrize("place, value", [(_set_confirmed, '"NaN"'), (_set_open_buy_reservations, '"-Infinity"'),
                                          (_set_histogram_sum, "1e999"),  # a JSON number a float cannot hold
                                          (_set_pending_fill_amount, '"NaN"')])
def test_a_nan_in_the_checkpoint_is_refused_on_load(tmp_path, place, value):
    path = tmp_path / "g.sqlite"
    journal_with_events(path)
    body = checkpoint_body(path)
    place(body)
    text = json.dumps(body).replace('"@@"', value)
    damaged(path, f"UPDATE checkpoints SET body = '{text}'")
    refused_untouched(path, "checkpoint after event 50 is damaged \\(a number that is not finite")


def test_ids_that_read_as_nan_are_not_mistaken_for_damage(tmp_path):
    path = tmp_path / "g.sqlite"
    with Journal.open(path, CONFIG) as j:
        j.apply(parse_event({"t": 1, "type": "fill", "market": "m", "side": "buy", "size": "1", "trade_id": "NaN",
                             "order_id": "Infinity"}))
        j.apply(parse_event({"t": 2, "type": "order_open", "market": "m", "order_id": "inf", "side": "buy",
                             "size": "1"}))
        before = j.guard.to_dict()
    with Journal.open(path, CONFIG) as j:
        assert j.guard.to_dict() == before


@pytest.mark.parametrize("statement, message", [
    ("DROP TABLE market_state", "market_state table is missing"),
    ("UPDATE checkpoints SET body = '{\"clock\": \"1\"}'", "checkpoint after event 50 is damaged \\(KeyError"),
    ("UPDATE checkpoints SET body = 'null'", "checkpoint after event 50 is damaged"),
    ("UPDATE checkpoints SET seq = 99", "checkpoint after event 99 is damaged \\(it is after the last event"),
    ("UPDATE market_state SET confirmed = 'NaN'", "market_state row of 'm' is damaged \\(confirmed = 'NaN'\\)"),
    ("UPDATE market_state SET clock = 'x'", "market_state row of 'm' is damaged \\(clock = 'x'\\)"),
    ("UPDATE market_counters SET value = -1", "market_counters row 'm'/"),
    ("DELETE FROM meta", "schema version missing"),
    ("ALTER TABLE events DROP COLUMN decision", "events table has columns"),
])
def test_damaged_checkpoints_and_state_rows_are_reported_and_left_untouched(tmp_path, statement, message):
    path = tmp_path / "g.sqlite"
    journal_with_events(path)
    damaged(path, statement)
    refused_untouched(path, message)


def test_a_gap_in_the_event_log_after_the_checkpoint_is_damage(tmp_path):
    path = tmp_path / "g.sqlite"
    journal_without_a_closing_checkpoint(path)
    damaged(path, "DELETE FROM events WHERE seq = 13")
    refused_untouched(path, "events 13 to 13 are missing")


def test_damage_in_pages_a_restore_does_not_read_is_found_and_left_untouched(tmp_path):
    """The closing checkpoint covers every event, so the restore reads none of them; quick_check still reads
    every page. Each of several event pages is damaged in turn (a leaf page header overwritten)."""
    path = tmp_path / "g.sqlite"
    journal_with_events(path, 3000)
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    leaves = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' "
                                         "ORDER BY pageno")]
    conn.close()
    assert len(leaves) > 20 and not (tmp_path / "g.sqlite-wal").exists()
    good = path.read_bytes()
    for page in leaves[5:-5:len(leaves) // 4]:
        data = bytearray(good)
        start = (page - 1) * page_size
        data[start:start + 12] = b"\xff" * 12  # the b-tree page header: type, free block, cell count, content
        path.write_bytes(bytes(data))
        with pytest.raises(JournalCorrupt, match="quick_check finds damage|damaged"):
            Journal.open(path, CONFIG)
        assert path.read_bytes() == bytes(data), f"page {page}: the damaged file was changed"
    path.write_bytes(good)
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 3000


def test_a_file_that_is_not_sqlite_at_all_is_left_untouched(tmp_path):
    path = tmp_path / "g.sqlite"
    journal_with_events(path)
    data = bytearray(path.read_bytes())
    data[0:16] = b"\0" * 16
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="not a readable SQLite database"):
        Journal.open(path, CONFIG)
    assert path.read_bytes() == bytes(data)


# --- unusable paths ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, message", [
    ("/dev/null", "is a character device"),
    ("DIR", "is a directory"),
    ("/proc/inventory-guard-test.sqlite", "could not create a new journal in /proc"),
    ("/proc/no-such-dir/j.sqlite", "could not create the journal's folder"),
])
def test_an_unusable_journal_path_is_a_clear_error(tmp_path, target, message):
    target = str(tmp_path) if target == "DIR" else target
    before = set(os.listdir(Path(target).parent)) if Path(target).parent.exists() else None
    with pytest.raises(JournalError, match=message):
        Journal.open(target, CONFIG)
    if before is not None:
        assert set(os.listdir(Path(target).parent)) == before  # no lock or temporary file left beside it


# --- a full disk -------------------------------------------------------------------------------------------------

@contextmanager
def small_filesystem(tmp_path: Path, size: str = "1m"):
    """A real tmpfs of ``size`` (root); resizable to give the space back."""
    mount = tmp_path / "fs"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def give_space_back(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)


def run_cli(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    config = cwd / "guard.yaml"
    config.write_text(CONFIG_YAML)
    return subprocess.run([sys.executable, "-m", "inventory_guard", "replay", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd)


def fill_lines(n: int, pad: int = 200) -> str:
    return "".join(
        json.dumps({"t": i, "type": "fill", "market": "m", "side": "buy", "size": "1", "trade_id": f"T{i:06d}",
                    "order_id": "x" * pad}) + "\n" for i in range(1, n + 1))


@pytest.mark.parametrize("mode", ["stdin", "file"])
def test_a_full_disk_is_a_clean_error_and_the_journal_opens_once_space_is_back(tmp_path, mode):
    with small_filesystem(tmp_path) as mount:
        if mount is None:
            pytest.fail("could not mount a 1 MiB tmpfs (needs root); "
                        "test_a_full_disk_is_reported_as_such_not_as_damage covers the error path by simulation")
        journal = mount / "g.sqlite"
        trace = fill_lines(4000)
        if mode == "stdin":
            result = run_cli("-", "--journal", str(journal), stdin=trace, cwd=tmp_path)
        else:
            (tmp_path / "trace.jsonl").write_text(trace)
            result = run_cli(str(tmp_path / "trace.jsonl"), "--journal", str(journal), cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "disk is full" in result.stderr and "move it aside" not in result.stderr, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        acknowledged = [line for line in lines if line["ok"]]
        assert 10 < len(acknowledged) < 4000
        assert lines[-1]["ok"] or "disk is full" in lines[-1]["error"]
        # still full: a reopen may fail, but never with advice to discard the journal
        again = run_cli("-", "--journal", str(journal), stdin=fill_lines(1), cwd=tmp_path)
        assert "Traceback" not in again.stderr and "move it aside" not in again.stderr, again.stderr
        if again.returncode != 0:
            assert again.returncode == 1 and ("disk is full" in again.stderr or "I/O error" in again.stderr)
        give_space_back(mount)
        with Journal.open(journal, CONFIG) as j:  # every acknowledged event, in order
            assert j.seq >= len(acknowledged)
            seen = [json.loads(b)["trade_id"] for (b,) in j._db.execute("SELECT body FROM events ORDER BY seq")]
            assert seen[:len(acknowledged)] == [f"T{line['line']:06d}" for line in acknowledged]
            assert j._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


class FullDisk:
    """A connection whose writes fail as SQLite's do on a full disk (SQLITE_FULL)."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "DELETE", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)


def test_a_full_disk_is_reported_as_such_not_as_damage(tmp_path, monkeypatch):
    path = tmp_path / "g.sqlite"
    j = Journal.open(path, CONFIG)
    j.apply(fill(1))
    monkeypatch.setattr(j, "_conn", FullDisk(j._conn))
    with pytest.raises(JournalError, match="disk is full") as info:
        j.apply(fill(2))
    assert not isinstance(info.value, JournalCorrupt) and "move it aside" not in str(info.value)
    with pytest.raises(JournalError, match="unusable after an earlier failure"):
        j.apply(fill(3))
    monkeypatch.undo()  # the real connection again
    j.close()  # no checkpoint of the in-memory state that ran ahead of the log
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 1 and j.state("m").pending_fills == 1


# --- the CLI ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("journal, message", [
    ("/dev/null", "is a character device"),
    ("DIR", "is a directory"),
    ("/proc/x", "could not create a new journal in /proc"),
])
def test_the_cli_reports_an_unusable_journal_path_with_exit_1(tmp_path, journal, message):
    journal = str(tmp_path) if journal == "DIR" else journal
    result = run_cli("-", "--journal", journal, stdin=fill_lines(1), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr and result.stderr.startswith("inventory-guard: journal error:"), result.stderr
    assert not os.path.exists("/dev/null.lock")


def test_the_cli_reports_an_out_file_it_cannot_write_with_exit_2(tmp_path):
    result = run_cli("-", "--out", str(tmp_path / "missing" / "out.jsonl"), stdin=fill_lines(1), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write output" in result.stderr and "No such file or directory" in result.stderr


def test_sigint_prints_the_summary_and_closes_the_journal(tmp_path):
    journal, out = tmp_path / "g.sqlite", tmp_path / "out.jsonl"
    (tmp_path / "trace.jsonl").write_text(fill_lines(100_000, pad=1))
    config = tmp_path / "guard.yaml"
    config.write_text(CONFIG_YAML)
    proc = subprocess.Popen([sys.executable, "-m", "inventory_guard", "replay", str(tmp_path / "trace.jsonl"),
                             "--config", str(config), "--journal", str(journal), "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "INVENTORY_GUARD_LOG_LEVEL": "ERROR"})
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size < 50_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "settlement mismatches, interrupted" in stderr, stderr
    events = int(stderr.split("replay: ")[1].split(" events")[0])
    lines = out.read_text().splitlines()
    assert 0 < events < 100_000 and len([line for line in lines if '"ok":true' in line]) == events
    assert not (tmp_path / "g.sqlite-wal").exists()  # closed cleanly: SQLite removes the WAL on the last close
    with Journal.open(journal, CONFIG) as j:
        assert events <= j.seq <= events + 1  # the interrupted line may have been committed, never acknowledged


def test_journals_created_concurrently_stay_separate_and_whole(tmp_path):
    """Three processes create two journals in one folder at once: each journal is whole, and an opener that meets
    another one gets "in use" (never a half-built file or a spurious second name)."""
    child = textwrap.dedent("""
        import sys
        from inventory_guard.config import parse_config
        from inventory_guard.journal import Journal
        Journal.open(sys.argv[1], parse_config({"max_position": "1"})).close()
    """)
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", child, str(folder / name)], stderr=subprocess.PIPE, text=True)
                 for name in ("a.sqlite", "b.sqlite", "a.sqlite", "a.sqlite")]
        results = [(p.wait(timeout=60), p.communicate()[1]) for p in procs]
        assert results[1][0] == 0, results[1][1]
        for code, stderr in results:
            assert code == 0 or "in use by another process" in stderr, stderr
        assert {n for n in siblings(folder / "a.sqlite") if not n.endswith(("-wal", "-shm"))} == {"a.sqlite",
                                                                                                   "b.sqlite"}
        for name in ("a.sqlite", "b.sqlite"):
            with Journal.open(folder / name, parse_config({"max_position": "1"})):
                pass


def test_a_journal_from_before_the_header_ids_opens_and_gets_them(tmp_path):
    path = tmp_path / "g.sqlite"
    journal_with_events(path, 5)
    damaged(path, "PRAGMA application_id=0", "PRAGMA user_version=0")  # as earlier versions wrote it
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 5
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA application_id").fetchone() == (0x49475244,)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_a_journal_on_a_read_only_filesystem_is_a_clear_error(tmp_path):
    with small_filesystem(tmp_path, "4m") as mount:
        if mount is None:
            pytest.fail("could not mount a tmpfs (needs root)")
        journal_with_events(mount / "g.sqlite", 3)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(JournalError, match="could not open the journal for writing: Read-only file system"):
            Journal.open(mount / "g.sqlite", CONFIG)
        with pytest.raises(JournalError, match="could not create a new journal in .*Read-only file system"):
            Journal.open(mount / "new.sqlite", CONFIG)


def test_sigint_while_waiting_on_standard_input_prints_the_summary(tmp_path):
    config = tmp_path / "guard.yaml"
    config.write_text(CONFIG_YAML)
    proc = subprocess.Popen([sys.executable, "-m", "inventory_guard", "replay", "-", "--config", str(config),
                             "--journal", str(tmp_path / "g.sqlite")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    proc.stdin.write(fill_lines(3, pad=1))
    proc.stdin.flush()
    answers = [json.loads(proc.stdout.readline()) for _ in range(3)]  # answered: now blocked reading stdin
    assert [a["ok"] for a in answers] == [True] * 3
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)  # before communicate(), which would close stdin: an end of input, not an interrupt
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and stdout == "" and "Traceback" not in stderr, stderr
    assert "replay: 3 events" in stderr and stderr.rstrip().endswith("interrupted")
    with Journal.open(tmp_path / "g.sqlite", CONFIG) as j:
        assert j.seq == 3


def test_a_checkpoint_of_the_wrong_shape_is_found_when_the_events_after_it_are_replayed(tmp_path):
    path = tmp_path / "g.sqlite"
    journal_without_a_closing_checkpoint(path)
    body = checkpoint_body(path)
    body["markets"]["m"]["pending"]["next_seq"] = "11"  # a number written as text: the core trips over it later
    damaged(path, f"UPDATE checkpoints SET body = '{json.dumps(body)}'")
    refused_untouched(path, "checkpoint.*\\(TypeError")


def test_output_on_a_full_disk_is_a_clean_error(tmp_path):
    with small_filesystem(tmp_path, "64k") as mount:
        if mount is None:
            pytest.fail("could not mount a tmpfs (needs root)")
        (tmp_path / "trace.jsonl").write_text(fill_lines(2000))
        result = run_cli(str(tmp_path / "trace.jsonl"), "--out", str(mount / "out.jsonl"), "--journal",
                         str(tmp_path / "g.sqlite"), cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "replay stopped: No space left on device" in result.stderr, result.stderr
        with Journal.open(tmp_path / "g.sqlite", CONFIG) as j:  # the journal is closed cleanly and whole
            assert j.seq > 0


def test_random_damage_is_refused_untouched_or_is_invisible_to_sqlite_too(tmp_path):
    """Seeded damage (a random block, bit flips, a truncation, a zeroed page) to a 3,000-event journal: each file
    is refused as JournalCorrupt with its bytes unchanged, or opens and then passes SQLite's full integrity_check
    (damage inside a record's payload that SQLite cannot see either). Never another exception."""
    import random

    base = tmp_path / "base.sqlite"
    with Journal.open(base, CONFIG, checkpoint_every=500) as j:
        for i in range(1, 3001):
            fill = {"type": "fill", "side": "buy", "trade_id": f"T{i}"} if i % 3 else {"type": "snapshot"}
            j.apply(parse_event({"t": i / 10, "market": f"m{i % 4}", "size": str(i % 7 + 1), **fill}))
    good, rnd, refused = base.read_bytes(), random.Random(7), 0
    for case in range(80):
        data = bytearray(good)
        kind = ("block", "bits", "truncate", "zero-page")[case % 4]
        if kind == "block":
            offset = rnd.randrange(len(data) - 512)
            data[offset:offset + 512] = rnd.randbytes(512)
        elif kind == "bits":
            for _ in range(rnd.randint(1, 20)):
                data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        elif kind == "truncate":
            data = data[:rnd.randrange(len(data))]
        else:
            page = rnd.randrange(len(data) // 4096)
            data[page * 4096:(page + 1) * 4096] = bytes(4096)
        path = tmp_path / f"case{case}.sqlite"
        path.write_bytes(bytes(data))
        try:
            with Journal.open(path, CONFIG) as j:
                assert j._db.execute("PRAGMA integrity_check").fetchone() == ("ok",), f"case {case} ({kind})"
        except JournalCorrupt:
            refused += 1
            assert path.read_bytes() == bytes(data), f"case {case} ({kind}): changed after the refusal"
    assert refused >= 60  # most damage is found (measured: 71 of 80 with this seed)


def test_an_apply_stopped_midway_leaves_the_journal_refusing_writes_and_the_log_as_the_record(tmp_path, monkeypatch):
    path = tmp_path / "g.sqlite"
    j = Journal.open(path, CONFIG)
    j.apply(fill(1))
    real_apply = j.guard.apply

    def half_applied(event):  # the in-memory state moves, then the apply is interrupted (SIGINT, a bug)
        real_apply(event)
        raise KeyboardInterrupt

    monkeypatch.setattr(j.guard, "apply", half_applied)
    with pytest.raises(KeyboardInterrupt):
        j.apply(fill(2))
    with pytest.raises(JournalError, match="unusable after an earlier failure: applying a fill event stopped midway"):
        j.apply(fill(3))
    j.close()  # no closing checkpoint of a state that ran ahead of the log
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 1 and j.state("m").pending_fills == 1


def test_an_older_journal_whose_tables_are_still_only_in_its_wal_opens(tmp_path):
    """Earlier versions created a journal in place, in WAL mode: killed before SQLite's first checkpoint, its main
    file holds no table yet. The quiet foreign-file check must not mistake it for an empty foreign database."""
    path = tmp_path / "g.sqlite"
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, sqlite3
        from inventory_guard.schema import DDL
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript("BEGIN;" + DDL + "INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;")
        conn.execute("INSERT INTO events VALUES (1, 1.0, 'tick', '{{\\"t\\":\\"1\\",\\"type\\":\\"tick\\"}}', NULL)")
        os._exit(0)  # killed: no checkpoint into the main file
    """)], check=True)
    assert (tmp_path / "g.sqlite-wal").stat().st_size > 0
    immutable = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    assert immutable.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    immutable.close()
    with Journal.open(path, CONFIG) as j:
        assert j.seq == 1
