from __future__ import annotations

import asyncio
import time

from widget_server.ratelimit import KeyedLimiter, RequestBudget, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == 0.5
    clock.now += 0.5
    assert bucket.allow() and not bucket.allow()
    clock.now += 100
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_keyed_limiter_keeps_keys_apart_and_forgets_idle_ones() -> None:
    clock = Clock()
    limiter = KeyedLimiter(rate=1, burst=2, clock=clock)
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")
    assert not limiter.would_allow("a") and limiter.would_allow("b") and limiter.would_allow("new")
    clock.now += 10
    limiter.allow("c")  # a sweep happens on the way
    assert len(limiter) == 1


async def test_a_request_budget_is_shared_in_order_and_can_be_paused() -> None:
    budget = RequestBudget(per_minute=600, burst=2)  # ten a second, two at once
    served: list[int] = []

    async def request(n: int) -> None:
        await budget.acquire()
        served.append(n)

    started = time.monotonic()
    await asyncio.gather(*(request(n) for n in range(5)))
    assert served == [0, 1, 2, 3, 4]  # first come, first served
    assert time.monotonic() - started >= 0.25  # two at once, then one every 0.1 s
    budget.pause(0.3)  # a 429: everyone waits
    paused = time.monotonic()
    await request(5)
    assert time.monotonic() - paused >= 0.3
