"""Rate limits as token buckets: pure, with the clock passed in, so tests need no sleeping.

Written by hand: a token bucket is a few lines, and the limits here are per process and in memory (a
frame flood on one socket, a message flood in one chat, a contact center's request budget). Limits that
must hold across processes live in the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``burst`` actions at once and ``rate`` per second after that."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def allow(self, cost: float = 1.0) -> bool:
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` would be allowed."""
        self._refill()
        return max(0.0, (cost - self._tokens) / self.rate)

    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.burst


class KeyedLimiter:
    """One token bucket per key (a chat, an IP), forgetting keys that have been idle long enough to be
    full again, so memory stays proportional to the keys active lately."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._next_sweep = clock() + self._full_after

    @property
    def _full_after(self) -> float:
        return self.burst / self.rate

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
        return bucket.allow(cost)

    def would_allow(self, key: str, cost: float = 1.0) -> bool:
        """Whether ``allow`` would succeed now, without spending anything."""
        return self.retry_after(key, cost) == 0.0

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``allow(key, cost)`` would succeed."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.retry_after(cost)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._full_after
        full = [key for key, bucket in self._buckets.items() if bucket.full()]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class RequestBudget:
    """An awaitable token bucket shared by everything that calls one contact-center account: HelpCrunch
    allows 120 requests a minute for the whole account, however many chats poll it. ``acquire`` waits
    (in FIFO order) until a request may go; ``pause`` holds everyone back after a 429."""

    def __init__(
        self, per_minute: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bucket = TokenBucket(
            per_minute / 60, burst if burst is not None else max(1.0, per_minute / 6), clock
        )
        self._clock = clock
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()  # created in the running loop
        async with self._lock:  # one waiter at a time: the others queue behind it, in order
            while True:
                pause = self._paused_until - self._clock()
                if pause > 0:
                    await asyncio.sleep(pause)
                    continue
                if self._bucket.allow():
                    return
                await asyncio.sleep(self._bucket.retry_after())

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
