"""The guard's log lines inside Hummingbot: they survive Hummingbot's logging setup, and a journal replay is quiet.

* ``keep_guard_loggers_enabled()``: Hummingbot (re)configures logging with ``logging.config.dictConfig``
  (``hummingbot.init_logging``) at boot, again in headless mode *after* the strategy was built, and on every
  ``start``. ``dictConfig`` disables every existing logger that ``conf/hummingbot_logs.yml`` does not name, so the
  guard's loggers (``inventory_guard`` and its children) would go silent. After this call their ``disabled`` flag
  always reads False; they propagate to the root logger, whose handlers (console and log file) Hummingbot sets.
  Idempotent; the bridge calls it when it opens its journal and when it attaches.
* ``open_journal(path, config)``: opens a ``Journal`` while the core's log lines are muted (its replay re-applies
  historical events, whose blocks and halts were logged when they happened) and logs one summary line instead.

No hummingbot import here.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

GUARD_LOGGER = "inventory_guard"
# created up front so that they are pinned even before the modules that use them are imported
_KNOWN = (GUARD_LOGGER, "inventory_guard.hummingbot", "inventory_guard.demo")

log = logging.getLogger("inventory_guard.hummingbot")


class _AlwaysEnabled:
    """Logger mixin: ``disabled`` always reads False and ignores writes (``dictConfig`` writes True)."""

    @property
    def disabled(self) -> bool:
        return False

    @disabled.setter
    def disabled(self, value) -> None:
        pass


_PINNED_CLASSES: dict[type, type] = {}


def _pinned_class(cls: type) -> type:
    if issubclass(cls, _AlwaysEnabled):
        return cls
    if cls not in _PINNED_CLASSES:
        _PINNED_CLASSES[cls] = type(f"GuardPinned{cls.__name__}", (_AlwaysEnabled, cls), {})
    return _PINNED_CLASSES[cls]


def is_guard_logger(name: str) -> bool:
    return name == GUARD_LOGGER or name.startswith(GUARD_LOGGER + ".")


def keep_guard_loggers_enabled() -> None:
    """Make every existing ``inventory_guard*`` logger immune to ``dictConfig(disable_existing_loggers=True)``."""
    for name in _KNOWN:
        logging.getLogger(name)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if is_guard_logger(name) and isinstance(logger, logging.Logger) and not isinstance(logger, _AlwaysEnabled):
            logger.__dict__.pop("disabled", None)
            logger.__class__ = _pinned_class(type(logger))
    # isEnabledFor caches answers given while a logger was disabled (private: not in typeshed's logging stubs)
    logging.root.manager._clear_cache()  # type: ignore[attr-defined]


class _DropThisThread(logging.Filter):
    """Drops (and counts) the records created by this thread: other threads keep logging."""

    def __init__(self):
        super().__init__()
        self.thread = threading.get_ident()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self.thread:
            self.dropped += 1
            return False
        return True


@contextlib.contextmanager
def muted(name: str = GUARD_LOGGER) -> Iterator[_DropThisThread]:
    """Drop this thread's records of logger ``name`` itself (not its children) while the block runs."""
    logger = logging.getLogger(name)
    drop = _DropThisThread()
    logger.addFilter(drop)
    try:
        yield drop
    finally:
        logger.removeFilter(drop)


def open_journal(path, config, **kwargs):
    """``Journal.open(path, config, **kwargs)`` with a quiet replay, then one INFO line: events in the journal, log
    lines not repeated, and each market's confirmed position / exposure / halt as restored."""
    from inventory_guard.journal import Journal
    keep_guard_loggers_enabled()
    with muted() as drop:
        journal = Journal.open(path, config, **kwargs)
    markets = []
    for market in journal.markets:
        try:
            st = journal.state(market)
        except KeyError:
            continue
        text = f"{market} confirmed {st.confirmed} exposure {st.conservative_exposure}"
        if st.halted_reason:
            text += f" HALTED ({st.halted_reason})"
        markets.append(text)
    log.info("inventory-guard: journal %s restored at event %d (%d log lines of the replay not repeated)%s",
             Path(path), journal.seq, drop.dropped, ": " + "; ".join(markets) if markets else "")
    return journal


__all__ = ["keep_guard_loggers_enabled", "open_journal", "muted", "is_guard_logger", "GUARD_LOGGER"]
