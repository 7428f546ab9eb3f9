from __future__ import annotations

import random

from widget_server.poll_policy import Backoff, PollSettings, next_interval

S = PollSettings()


def test_intervals_follow_what_the_chat_is_doing() -> None:
    assert next_interval(S, agent_present=False, agent_typing=False, quiet_for=0) == S.idle_interval
    assert next_interval(S, agent_present=True, agent_typing=False, quiet_for=5) == S.active_interval
    assert next_interval(S, agent_present=True, agent_typing=True, quiet_for=5) == S.typing_interval
    assert next_interval(S, agent_present=True, agent_typing=False, quiet_for=S.idle_after) == S.idle_interval


def test_the_defaults_fit_the_request_budget() -> None:
    # docs/gws.md: at most 10 polls a minute while idle, and 20 while active before typing bursts.
    assert 60 / S.idle_interval <= 10
    assert 60 / S.active_interval <= 20


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    backoff = Backoff(PollSettings(backoff_base=1, backoff_max=30), random.Random(1))
    delays = [backoff.failure() for _ in range(8)]
    assert all(1 <= d <= 30 for d in delays)
    ceilings = [min(30, 2 ** (n + 1)) for n in range(8)]
    assert all(d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[5:]) > 4  # it did grow
    assert backoff.failure(retry_after=90) >= 90
    backoff.success()
    assert backoff.failures == 0 and backoff.failure() <= 2


def test_jitter_spreads_pollers_that_failed_together() -> None:
    delays = {
        round(Backoff(S, random.Random(seed)).failure() + Backoff(S, random.Random(seed)).failure(), 3)
        for seed in range(50)
    }
    assert len(delays) > 40
