"""The scrape: read every journal now, export what could be read, and say which files could not.

``StateCollector`` is a prometheus_client custom collector (``describe``/``collect``) and also offers
``families()`` for the fast text renderer. Nothing is read at start-up or between scrapes; a file that is missing,
locked, corrupt or has the wrong schema yields ``inventory_guard_exporter_journal_up 0`` for that file while every
other bot is exported normally. Problems are logged when they start, change and end, not on every scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric

from inventory_guard_exporter import catalogue
from inventory_guard_exporter.families import Family, Labels, Sample, assemble, bot_samples
from inventory_guard_exporter.reader import JournalUnreadable, read_state
from inventory_guard_exporter.render import to_client_metrics
from inventory_guard_exporter.targets import Targets

log = logging.getLogger("inventory_guard_exporter")

UNKNOWN_BOT = "unknown"


class StateCollector:
    def __init__(self, targets: Targets, busy_timeout_s: float = 0.5):
        self._watch = (targets, busy_timeout_s)  # replaced as one value, so a scrape never mixes old and new
        self._lock = threading.Lock()
        self._bot_of_path: dict[str, str] = {}  # last bot name read from a path: its journal_up label when unreadable
        self._problem_of_path: dict[str, str] = {}  # path -> current problem ("" when readable), for logging

    @property
    def targets(self) -> Targets:
        return self._watch[0]

    @property
    def busy_timeout_s(self) -> float:
        return self._watch[1]

    def configure(self, targets: Targets, busy_timeout_s: float) -> None:
        """Watch other files from the next scrape on (a configuration reload); scrapes running keep theirs."""
        self._watch = (targets, busy_timeout_s)

    # prometheus_client collector protocol -------------------------------------------------------------------
    def describe(self) -> Iterator[Metric]:
        """Metric names only: lets the collector be registered without touching any database."""
        for fam in self._empty_families():
            yield Metric(fam.name, fam.help, fam.kind)

    def collect(self) -> Iterator[Metric]:
        yield from to_client_metrics(self.families())

    # the scrape ------------------------------------------------------------------------------------------------
    def families(self) -> list[Family]:
        started = time.perf_counter()
        per_bot: list[dict[str, list]] = []
        up_samples: list[Sample] = []
        served_by: dict[str, str] = {}  # bot name -> path, to refuse two files claiming the same bot
        targets, busy_timeout_s = self._watch
        for path in targets.resolve():
            try:
                state = read_state(path, busy_timeout_s)
                other = served_by.get(state.bot)
                if other is not None:
                    raise JournalUnreadable(f"bot name {state.bot!r} is already exported from {other}")
                samples = bot_samples(state)
            except JournalUnreadable as exc:
                bot = self._note_problem(path, str(exc))
                up = 0
            except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
                bot = self._note_problem(path, f"malformed value in journal: {type(exc).__name__}: {exc}")
                up = 0
            else:
                served_by[state.bot] = path
                per_bot.append(samples)
                bot = self._note_ok(path, state.bot)
                up = 1
            up_samples.append((catalogue.EXPORTER_JOURNAL_UP, Labels({"bot": bot, "path": path}), (), up))
        families = assemble(per_bot)
        families.append(
            Family(catalogue.EXPORTER_JOURNAL_UP, "gauge", catalogue.EXPORTER_JOURNAL_UP_HELP, up_samples)
        )
        elapsed = time.perf_counter() - started
        families.append(
            Family(
                catalogue.EXPORTER_SCRAPE_DURATION,
                "gauge",
                catalogue.EXPORTER_SCRAPE_DURATION_HELP,
                [(catalogue.EXPORTER_SCRAPE_DURATION, None, (), elapsed)],
            )
        )
        return families

    def _empty_families(self) -> list[Family]:
        families = assemble([])
        families.append(Family(catalogue.EXPORTER_JOURNAL_UP, "gauge", catalogue.EXPORTER_JOURNAL_UP_HELP))
        families.append(Family(catalogue.EXPORTER_SCRAPE_DURATION, "gauge", catalogue.EXPORTER_SCRAPE_DURATION_HELP))
        return families

    def _note_problem(self, path: str, problem: str) -> str:
        with self._lock:
            bot = self._bot_of_path.get(path, UNKNOWN_BOT)
            if self._problem_of_path.get(path) != problem:
                self._problem_of_path[path] = problem
                log.warning("journal %s (bot %s) unreadable, exporting journal_up 0: %s", path, bot, problem)
        return bot

    def _note_ok(self, path: str, bot: str) -> str:
        with self._lock:
            self._bot_of_path[path] = bot
            previous = self._problem_of_path.get(path)
            if previous != "":
                self._problem_of_path[path] = ""
                if previous is None:
                    log.info("journal %s (bot %s) readable", path, bot)
                else:
                    log.warning("journal %s (bot %s) readable again", path, bot)
        return bot
