"""The adapter's one door to the core: a ``Guard`` (in memory) or a ``Journal`` (the same, persisted) behind the
typed ``Core`` interface, and its clock. Every event the adapter produces goes through ``CorePort.apply``; nothing
else touches the core. An exception inside the guard (a guard error) halts the market (``halts.HaltLatch``) and never
propagates into Hummingbot.

Time: every core event gets ``now()`` (the ``clock`` callable), clamped to be non-decreasing, as Decimal seconds.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from inventory_guard import events as E
from inventory_guard.config import GuardConfig
from inventory_guard.core import Decision, Guard
from inventory_guard.events import InvalidEvent

from .halts import HaltLatch

log = logging.getLogger("inventory_guard.hummingbot")

__all__ = ["Core", "CorePort"]


class Core(Protocol):
    """What the adapter needs of the core (``inventory_guard.core.Guard`` and ``inventory_guard.journal.Journal``)."""
    @property
    def markets(self) -> list[str]: ...

    def apply(self, event: E.Event): ...
    def state(self, market: str): ...
    def counters(self, market: str) -> dict: ...


class CorePort:
    def __init__(self, config: GuardConfig, journal_path: Path | None, clock: Callable[[], float]):
        self.config = config
        self._clock = clock
        self._last_t = 0.0
        self.journal_path = journal_path
        if journal_path is not None:
            from .logging_setup import open_journal
            journal_path.parent.mkdir(parents=True, exist_ok=True)
            self.guard: Core = open_journal(journal_path, config)  # quiet replay, then one summary line
        else:
            self.guard = Guard(config)
        self.latch = HaltLatch(self)
        self.closed = False

    # ------------------------------------------------------------------ time
    def now(self, ts: float | None = None) -> float:
        t = float(ts) if ts is not None else float(self._clock())
        if not math.isfinite(t) or t <= 0:        # e.g. a TimeIterator's NaN timestamp before its clock starts
            t = time.time()
        if t < self._last_t:
            t = self._last_t
        self._last_t = t
        return t

    def t(self, ts: float | None = None) -> Decimal:
        """Event time for the core (Decimal seconds, microsecond precision)."""
        return Decimal(repr(round(self.now(ts), 6)))

    # ------------------------------------------------------------------ reading
    @property
    def markets(self) -> list[str]:
        return list(self.guard.markets)

    def state(self, market: str):
        return self.guard.state(market)

    def view(self, market: str):
        """The market's state, or None before its first event."""
        try:
            return self.guard.state(market)
        except KeyError:
            return None

    def counters(self, market: str) -> dict:
        fn = getattr(self.guard, "counters", None)
        try:
            return fn(market) if fn else {}
        except KeyError:
            return {}

    def halted_reason(self, market: str) -> str | None:
        view = self.view(market)
        return None if view is None else view.halted_reason

    def open_orders(self) -> dict:
        """order id -> the core's open order (market, side, remaining)."""
        core = getattr(self.guard, "guard", self.guard)       # a Journal wraps a Guard
        return getattr(core, "orders", None) or {}

    # ------------------------------------------------------------------ writing
    def apply(self, event, market: str | None, what: str, invalid_ok: bool = False):
        """Apply one event; an exception halts ``market`` (every market when None). ``invalid_ok``: bad input
        (an ``InvalidEvent``, e.g. a size below size_increment) is logged and ignored instead."""
        if self.closed:
            log.warning("inventory-guard: %s on %s after the guard was closed: ignored", what, market)
            return None
        try:
            return self.guard.apply(event)
        except InvalidEvent as exc:
            if invalid_ok:
                log.warning("inventory-guard: %s on %s ignored: %s", what, market, exc)
                return None
            self.halt(market, what, exc)
            return None
        except Exception as exc:
            self.halt(market, what, exc)
            return None

    def check(self, market: str, side: E.Side, amount: Decimal) -> Decision:
        """The core's gate decision; raises what the core raises (the caller fails closed)."""
        out = self.guard.apply(E.Check(self.t(), market, side, amount))
        if out is None or out.decision is None:
            raise RuntimeError("the core returned no decision")
        return out.decision

    def blocked(self, market: str, side: E.Side, reason: E.BlockReason):
        """Count a block the adapter made without the gate (``OrderBlocked``). Never raises: a failure halts the
        market, unless it is halted already (a broken core fails again; the first guard error keeps its cause)."""
        if self.closed:
            return
        try:
            self.guard.apply(E.OrderBlocked(self.t(), market, side, reason))
        except InvalidEvent as exc:
            log.warning("inventory-guard: could not count a %s block on %s: %s", reason, market, exc)
        except Exception as exc:
            if market in self.halted:
                log.debug("inventory-guard: could not count a %s block on halted %s: %r", reason, market, exc)
            else:
                self.halt(market, f"counting a {reason} block", exc)

    # ------------------------------------------------------------------ the halt latch (halts.HaltLatch)
    @property
    def halted(self) -> dict[str, str]:
        return self.latch.halted

    def halt(self, market: str | None, what: str, exc: BaseException, markets: Iterable[str] = ()):
        self.latch.halt(market, what, exc, markets or list(self.config.markets))

    def resume(self, market: str):
        self.latch.resume(market)

    def clear_previous_run_halts(self, markets: Iterable[str]):
        self.latch.clear_previous_run(markets)

    def close(self):
        if self.closed:
            return
        self.closed = True
        close = getattr(self.guard, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("inventory-guard: closing the journal failed")
