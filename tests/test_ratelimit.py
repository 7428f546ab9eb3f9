from __future__ import annotations

import asyncio
import time

from widget_server.ratelimit import KeyedLimiter, TokenBucket
from widget_server.request_budget import RequestBudget
from widget_server.shared_state import open_shared_state


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
    await budget.pause(0.3)  # a 429: everyone waits
    paused = time.monotonic()
    await request(5)
    assert time.monotonic() - paused >= 0.3


async def test_an_account_budget_and_its_pause_hold_in_every_process(redis_url: str) -> None:
    """Two processes calling one account: they share its budget, and a 429 seen by one pauses both."""
    one, two = await open_shared_state(redis_url), await open_shared_state(redis_url)
    try:
        first = RequestBudget(per_minute=120, burst=2, state=one, account="helpcrunch:abc")
        second = RequestBudget(per_minute=120, burst=2, state=two, account="helpcrunch:abc")
        await first.acquire()
        await second.acquire()  # the burst of two is spent between them
        # A third request waits for the refill (one every half second), whichever process makes it.
        wait = await two.rate_limit("budget", "helpcrunch:abc", first.rate, first.burst, peek=True)
        assert 0.25 < wait <= 0.5
        await asyncio.sleep(wait)  # refilled: now only a pause can hold the next request back
        await first.pause(0.3)
        paused = time.monotonic()
        await second.acquire()
        assert time.monotonic() - paused >= 0.25
    finally:
        await one.close()
        await two.close()
