"""The fault latch: fail closed. An exception inside the guard while handling an event for a market latches that
market as *faulted*: orders that add exposure are refused with reason ``guard_error`` (``connector_gate``), an ERROR
log line, a best-effort core ``Halt`` (so the journal and the exporter show it). Nothing propagates into Hummingbot.
``resume(market)`` clears the latch; a restart clears the halt a previous run's fault wrote into the journal."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from inventory_guard import events as E

log = logging.getLogger("inventory_guard.hummingbot")

GUARD_ERROR = "guard_error"


class FaultLatch:
    def __init__(self, port):
        self.port = port                      # the CorePort (time, the core, apply)
        self.faulted: dict[str, str] = {}     # market -> what failed

    def fault(self, market: str | None, what: str, exc: BaseException, markets: Iterable[str] = ()):
        """Latch ``market`` (``markets`` when None)."""
        targets = [market] if market else list(markets)
        for m in targets:
            first = m not in self.faulted
            self.faulted[m] = f"{what}: {type(exc).__name__}: {exc}"
            if first:
                log.error("inventory-guard fault on %s while %s; orders that add exposure on this market are BLOCKED "
                          "until resume(): %r", m, what, exc, exc_info=exc)
                try:
                    self.port.guard.apply(E.Halt(self.port.t(), m, GUARD_ERROR))
                except Exception:  # the core itself may be the broken part
                    log.exception("inventory-guard: could not record the halt of %s", m)

    def resume(self, market: str):
        """Clear the latch and the core's halt (also one restored from the journal)."""
        latched = self.faulted.pop(market, None) is not None
        if latched or self.port.halted_reason(market):
            self.port.apply(E.Resume(self.port.t(), market), market, "resume")
            log.warning("inventory-guard: %s resumed by operator", market)

    def clear_previous_run(self, markets: Iterable[str]):
        """A guard fault latches only the process it happened in: a restart (after the cause is fixed) clears the
        halt that fault wrote into the journal, and says so."""
        for market in markets:
            if self.port.halted_reason(market) == GUARD_ERROR:
                log.warning("inventory-guard: %s was halted by a guard fault in the previous run; resuming", market)
                self.port.apply(E.Resume(self.port.t(), market), market, "clearing the previous run's halt")
