"""``SimDriver``: run a simulated venue, its connector and any Hummingbot time iterators on one simulated clock.

Each ``step()`` (one clock tick, default 1 simulated second):

1. ``venue.advance(t)``: mid random walk, outside takers, settlements/failures, websocket drops and reconnects;
2. the connector's order book snapshot is refreshed from the venue;
3. Hummingbot's ``Clock`` (BACKTEST mode) ticks every iterator to ``t``: the connector first, then strategies;
4. the event loop runs until the orders the strategies placed have reached the venue (``settle()``);
5. the connector pumps the user stream (fills, order updates, failures, reconnect notices);
6. every ``poll_interval_s`` the connector runs Hummingbot's REST poll (balances, fills and status of tracked orders);
7. ``on_step`` callbacks run (the guard's tick, the demo's display).

No wall-clock sleeps are involved unless ``run(realtime_factor=...)`` asks for them, so tests run as fast as the
CPU allows and a seed reproduces a run.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from hummingbot.core.clock import Clock
from hummingbot.core.clock_mode import ClockMode

from .connector import SimClobExchange
from .exchange import SimExchange


async def settle(rounds: int = 8) -> None:
    """Let tasks scheduled with ``safe_ensure_future`` (order placement, order updates) run to completion."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class SimDriver:
    def __init__(self, venue: SimExchange, connector: SimClobExchange, iterators: Iterable = (),
                 tick_s: float = 1.0, poll_interval_s: float = 5.0, start_time: float | None = None):
        self.venue = venue
        self.connector = connector
        self.tick_s = tick_s
        self.poll_interval_s = poll_interval_s
        self.start_time = float(venue.now if start_time is None else start_time)
        self.now = self.start_time
        self.clock = Clock(ClockMode.BACKTEST, tick_s, self.start_time, self.start_time + 10 * 365 * 86400)
        self._iterators: list = []
        self.on_step: list[Callable[[float], None]] = []
        self._next_poll = self.start_time + poll_interval_s
        self._started = False
        self.steps = 0
        self.add_iterator(connector)
        for it in iterators:
            self.add_iterator(it)

    def add_iterator(self, iterator) -> None:
        self._iterators.append(iterator)
        self.clock.add_iterator(iterator)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.venue.advance(self.now)
        self.clock.backtest_til(self.now)          # sets current_timestamp on the connector (and strategies)
        await self.connector.sim_start()
        await settle()

    async def step(self) -> float:
        if not self._started:
            await self.start()
        t = self.now + self.tick_s
        self.venue.advance(t)
        self.connector.sim_refresh_order_book()
        self.clock.backtest_til(t)
        self.now = t
        await settle()
        await self.connector.sim_pump_user_stream()
        await settle()
        if t >= self._next_poll:
            self._next_poll = t + self.poll_interval_s
            await self.connector.sim_poll()
            await settle()
        for cb in list(self.on_step):
            cb(t)
        self.steps += 1
        return t

    async def run(self, sim_seconds: float, realtime_factor: float | None = None,
                  should_stop: Callable[[], bool] | None = None) -> float:
        """Step for ``sim_seconds`` of simulated time. With ``realtime_factor`` f, pace the steps so one simulated
        second takes 1/f wall seconds (f=10: a 10-minute session in one minute)."""
        end = self.now + sim_seconds
        wall0, sim0 = time.monotonic(), self.now
        while self.now + 1e-9 < end:
            if should_stop is not None and should_stop():
                break
            await self.step()
            if realtime_factor:
                due = wall0 + (self.now - sim0) / realtime_factor
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        return self.now
