"""A contact-center account's request budget: one rate limit for every process that calls it, spent
through the shared state (widget_server/shared_state: in memory alone, in Redis on a cluster)."""

from __future__ import annotations

import asyncio
import time

from widget_server import metrics
from widget_server.shared_state import SharedState
from widget_server.shared_state.memory import MemoryState


class RequestBudget:
    """An awaitable rate limit shared by everything that calls one contact-center account, in every
    process: HelpCrunch allows 120 requests a minute for the whole account, however many chats and
    processes poll it. ``acquire`` waits (in FIFO order within the process) until a request may go;
    ``pause`` holds everyone back after a 429, in every process."""

    def __init__(
        self,
        per_minute: float,
        burst: float | None = None,
        *,
        state: SharedState | None = None,
        account: str = "",
    ) -> None:
        state = state if state is not None else MemoryState()
        self.rate = per_minute / 60
        self.burst = burst if burst is not None else max(1.0, per_minute / 6)
        self.account = account
        self._state = state
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()  # created in the running loop
        started = time.perf_counter()
        async with self._lock:  # one waiter at a time: the others queue behind it, in order
            while True:
                wait = await self._state.rate_limit("budget", self.account, self.rate, self.burst)
                if wait == 0.0:
                    metrics.BUDGET_WAIT_SECONDS.observe(time.perf_counter() - started)
                    return
                await asyncio.sleep(wait)

    async def pause(self, seconds: float) -> None:
        await self._state.pause("budget", self.account, seconds)
