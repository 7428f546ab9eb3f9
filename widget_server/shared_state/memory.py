"""Shared state of one process: the embedded default, and each Redis process's own share and fallback."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable

from widget_server.ratelimit import KeyedLimiter


class MemoryState:
    spans_processes = False

    def __init__(self, clock: Callable[[], float] = time.monotonic, process_id: str = "local") -> None:
        self.process_id = process_id
        self._clock = clock
        self._counts: dict[str, Counter[str]] = {}
        # Per limit name and its settings: a site's limit changed by an operator starts a fresh bucket.
        self._limiters: dict[tuple[str, float, float], KeyedLimiter] = {}
        self._paused_until: dict[tuple[str, str], float] = {}

    # --- counts ---------------------------------------------------------------------------------------

    async def add(self, counter: str, key: str, delta: int) -> int:
        return self.add_now(counter, key, delta)

    def add_now(self, counter: str, key: str, delta: int) -> int:
        counts = self._counts.setdefault(counter, Counter())
        share = counts[key] + delta
        if share > 0:
            counts[key] = share
        else:
            counts.pop(key, None)  # a key's count never goes below zero: a stray "went" changes nothing
            share = 0
        return share

    async def total(self, counter: str, key: str) -> int:
        return self.share(counter, key)

    def share(self, counter: str, key: str) -> int:
        return self._counts.get(counter, Counter())[key]

    async def totals_of(self, counter: str, keys: Iterable[str]) -> dict[str, int]:
        return {key: self.share(counter, key) for key in keys}

    async def totals(self, counter: str) -> dict[str, int]:
        return self.shares(counter)

    def shares(self, counter: str) -> dict[str, int]:
        return dict(self._counts.get(counter, {}))

    def counters(self) -> list[str]:
        return list(self._counts)

    # --- limits ---------------------------------------------------------------------------------------

    async def rate_limit(
        self, name: str, key: str, rate: float, burst: float, *, cost: float = 1.0, peek: bool = False
    ) -> float:
        return self.rate_limit_now(name, key, rate, burst, cost=cost, peek=peek)

    def rate_limit_now(
        self, name: str, key: str, rate: float, burst: float, *, cost: float = 1.0, peek: bool = False
    ) -> float:
        paused = self._paused_until.get((name, key), 0.0) - self._clock()
        if paused > 0:
            return paused
        self._paused_until.pop((name, key), None)
        limiter = self._limiters.get((name, rate, burst))
        if limiter is None:
            limiter = self._limiters[(name, rate, burst)] = KeyedLimiter(rate, burst, self._clock)
        if not peek and limiter.allow(key, cost):
            return 0.0
        return limiter.retry_after(key, cost)

    async def pause(self, name: str, key: str, seconds: float) -> None:
        self.pause_now(name, key, seconds)

    def pause_now(self, name: str, key: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused_until[(name, key)] = max(self._paused_until.get((name, key), 0.0), until)

    async def close(self) -> None:
        self._counts.clear()
