from __future__ import annotations

from widget_server.ratelimit import KeyedLimiter, TokenBucket


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
