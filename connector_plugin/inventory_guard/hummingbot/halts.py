"""The halt latch: fail closed. An exception inside the guard while handling an event for a market (a *guard error*)
halts that market in this process: orders that add exposure are blocked with reason ``guard_error``
(``connector_gate``), an ERROR log line, a best-effort core ``Halt`` with reason ``guard_error`` (so the journal and
the exporter show the market halted). Nothing propagates into Hummingbot. ``resume(market)`` ends the halt; a
restart ends the halt a previous run's guard error wrote into the journal."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from inventory_guard import events as E

log = logging.getLogger("inventory_guard.hummingbot")


class HaltLatch:
    def __init__(self, port):
        self.port = port                      # the CorePort (time, the core, apply)
        self.halted: dict[str, str] = {}      # market -> the guard error that halted it

    def halt(self, market: str | None, what: str, exc: BaseException, markets: Iterable[str] = ()):
        """Halt ``market`` (``markets`` when None) after a guard error while doing ``what``."""
        targets = [market] if market else list(markets)
        for m in targets:
            first = m not in self.halted
            self.halted[m] = f"{what}: {type(exc).__name__}: {exc}"
            if first:
                log.error("inventory-guard: guard error on %s while %s; the market is halted: orders that add "
                          "exposure are BLOCKED until resume(): %r", m, what, exc, exc_info=exc)
                try:
                    self.port.guard.apply(E.Halt(self.port.t(), m, E.BlockReason.GUARD_ERROR))
                except Exception:  # the core itself may be the broken part
                    log.exception("inventory-guard: could not record the halt of %s", m)

    def resume(self, market: str):
        """End the halt, in this process and in the core (also one restored from the journal)."""
        in_process = self.halted.pop(market, None) is not None
        if in_process or self.port.halted_reason(market):
            self.port.apply(E.Resume(self.port.t(), market), market, "resume")
            log.warning("inventory-guard: %s resumed by operator", market)

    def clear_previous_run(self, markets: Iterable[str]):
        """A guard error halts only the process it happened in: a restart (after the cause is fixed) ends the halt
        that guard error wrote into the journal, and says so."""
        for market in markets:
            if self.port.halted_reason(market) == E.BlockReason.GUARD_ERROR:
                log.warning("inventory-guard: %s was halted by a guard error in the previous run; resuming", market)
                self.port.apply(E.Resume(self.port.t(), market), market, "clearing the previous run's halt")
