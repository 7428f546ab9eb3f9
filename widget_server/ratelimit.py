"""Rate limits as token buckets: pure, with the clock passed in, so tests need no sleeping.

Written by hand: a token bucket is a few lines. The buckets here are in memory, for what one process
limits alone (a frame flood on one socket) and for the embedded shared state. Limits that must hold
across processes (a message flood in one chat, failed logins, a contact center's request budget) are
spent through widget_server/shared_state, which keeps them in Redis on a cluster.
"""

from __future__ import annotations

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
