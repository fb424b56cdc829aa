"""The replay CLI's engine — a public contract: JSON lines in, exactly one JSON line out per line.

The contract is documented in connector_plugin/README.md ("Replay CLI").

Input lines are events (``fill``, ``snapshot``, ``force_reconcile``, ``order_open``, ``order_closed``, ``check``,
``tick``, ``trade_failed``) or ``restart`` (close the journal and reopen it). Output, in order::

    {"line":N,"ok":true,"markets":{"m":STATE}}                      markets whose state the event changed
    {"line":N,"ok":true,"markets":{},"decision":{"allowed":…,"size":"…","reason":…}}   for checks
    {"line":N,"ok":false,"error":"…"}                                a bad line; state unchanged
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from .config import GuardConfig
from .events import REPLAY_TYPES, InvalidEvent, check_fields, event_type, parse_event
from .journal import Journal, JournalError
from .numbers import MAX_LITERAL, InvalidNumber, RejectedLiteral, non_negative


@dataclass
class Summary:
    events: int = 0
    rejected_lines: int = 0
    blocks: int = 0
    resized: int = 0
    aged_out_fills: int = 0
    duplicate_fills: int = 0
    failed_fills: int = 0
    restarts: int = 0
    confirmed_by_identity: int = 0
    confirmed_by_sums: int = 0
    settlement_mismatches: int = 0
    interrupted: bool = False  # stopped by SIGINT (KeyboardInterrupt) before the end of the input

    def line(self) -> str:
        return (
            f"replay: {self.events} events, {self.rejected_lines} rejected lines, {self.blocks} blocks, "
            f"{self.resized} resized, {self.aged_out_fills} aged-out fills, {self.duplicate_fills} duplicate fills, "
            f"{self.failed_fills} failed fills, {self.restarts} restarts, {self.confirmed_by_identity} fills "
            f"confirmed by identity, {self.confirmed_by_sums} by sums, "
            f"{self.settlement_mismatches} settlement mismatches"
        ) + (", interrupted" if self.interrupted else "")


LINE_TYPES = REPLAY_TYPES | {"restart"}
RESTART_FIELDS = frozenset({"t", "type"})


# JSON literals that cannot be a value are kept as RejectedLiteral, so the error names the field they sit in.
def _json_constant(name: str) -> RejectedLiteral:
    return RejectedLiteral(name, f"{name} is not a finite number")


def _json_int(text: str) -> int | RejectedLiteral:
    if len(text) > MAX_LITERAL:
        return RejectedLiteral(text, f"an integer of {len(text)} digits is out of range")
    return int(text)


def _json_float(text: str) -> Decimal | RejectedLiteral:
    if len(text) > MAX_LITERAL:
        return RejectedLiteral(text, f"a number of {len(text)} characters is out of range")
    return Decimal(text)  # exact; to_decimal bounds its digits and exponent before any arithmetic


def _json_object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # last-wins would let {"size":"NaN","size":"1"} pass
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidEvent(f"{key}: given twice (duplicate key)")
            seen.add(key)
    return obj


def parse_line(text: str) -> dict:
    """One trace line -> a JSON object; numbers with a fraction become Decimal (never float). Strict: no duplicate
    keys, a known ``type``, only the fields that type accepts (checked again, with the values, by parse_event)."""
    if not text.strip():
        raise InvalidEvent("empty line")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent("not valid UTF-8") from None
    try:
        obj = json.loads(text, parse_float=_json_float, parse_int=_json_int, parse_constant=_json_constant,
                         object_pairs_hook=_json_object)
    except InvalidEvent:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"each line must be a JSON object, got {type(obj).__name__}")
    if event_type(obj, LINE_TYPES) == "restart":
        check_fields(obj, "restart", RESTART_FIELDS)
        if obj.get("t") is not None:
            try:
                non_negative(obj["t"], "t")
            except InvalidNumber as exc:
                raise InvalidEvent(str(exc)) from None
    return obj


def _dump(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _totals(journal: Journal) -> dict[str, int]:
    totals: dict[str, int] = {}
    for market in journal.markets:
        for (name, labels), n in journal.counters(market).items():
            totals[name] = totals.get(name, 0) + n
            for _label, value in labels:  # e.g. fills_confirmed.identity
                totals[f"{name}.{value}"] = totals.get(f"{name}.{value}", 0) + n
    return totals


class Replayer:
    """Feeds trace lines to a journaled guard; ``restart`` closes and reopens the journal in place."""

    def __init__(self, config: GuardConfig, journal_path: Path) -> None:
        self.config = config
        self.path = journal_path
        self.journal = Journal.open(journal_path, config)
        self.summary = Summary()
        self._counters_at_start = _totals(self.journal)

    def process(self, number: int, text: str) -> dict:
        summary = self.summary
        try:
            obj = parse_line(text)
            if obj["type"] == "restart":
                self.journal.close()
                self.journal = Journal.open(self.path, self.config)
                summary.restarts += 1
                return {"line": number, "ok": True, "markets": {}}
            outcome = self.journal.apply(parse_event(obj))
        except InvalidEvent as exc:
            summary.rejected_lines += 1
            return {"line": number, "ok": False, "error": str(exc)}
        summary.events += 1
        result = {"line": number, "ok": True, "markets": {m: self.journal.state(m).to_state() for m in outcome.changed}}
        if outcome.decision is not None:
            result["decision"] = outcome.decision.to_dict()
            summary.blocks += not outcome.decision.allowed
            summary.resized += outcome.decision.resized
        return result

    def finish(self) -> Summary:
        start, end = self._counters_at_start, _totals(self.journal)
        self.summary.aged_out_fills = end.get("fills_aged_out", 0) - start.get("fills_aged_out", 0)
        self.summary.duplicate_fills = end.get("duplicate_fills", 0) - start.get("duplicate_fills", 0)
        self.summary.failed_fills = end.get("fills_failed", 0) - start.get("fills_failed", 0)
        for field, key in (("confirmed_by_identity", "fills_confirmed.identity"),
                           ("confirmed_by_sums", "fills_confirmed.sums"),
                           ("settlement_mismatches", "settlement_mismatches")):
            setattr(self.summary, field, end.get(key, 0) - start.get(key, 0))
        return self.summary

    def close(self) -> None:
        self.journal.close()


def replay(
    lines: Iterable[str], config: GuardConfig, out: TextIO, *, journal_path: Path | None = None, flush: bool = False,
) -> Summary:
    """Drive a guard from trace lines; write one output line per input line. Raises JournalError if the journal fails
    (the line it failed on gets ``ok:false`` with the journal's error: it was not acknowledged). KeyboardInterrupt
    stops the replay: the journal is closed and the summary, marked ``interrupted``, returned.

    Without ``journal_path`` a temporary journal is used (``restart`` still exercises a real close and reopen).
    """
    with tempfile.TemporaryDirectory(prefix="inventory-guard-replay-") as tmpdir:
        replayer = Replayer(config, journal_path or Path(tmpdir) / "journal.sqlite")
        busy = {"line": False, "stop": False}

        def on_sigint(signum, frame):  # a line being processed is finished and answered first
            if busy["line"]:
                busy["stop"] = True
            else:
                raise KeyboardInterrupt

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            try:
                for number, text in enumerate(lines, start=1):
                    busy["line"] = True
                    try:
                        try:
                            result = replayer.process(number, text)
                        except JournalError as exc:
                            out.write(_dump({"line": number, "ok": False, "error": f"journal: {exc}"}) + "\n")
                            raise
                        out.write(_dump(result) + "\n")
                        if flush:  # live input: the journal's state tables and the output keep up line by line
                            replayer.journal.flush()
                            out.flush()
                    finally:
                        busy["line"] = False
                    if busy["stop"]:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                replayer.summary.interrupted = True
            return replayer.finish()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            replayer.close()
