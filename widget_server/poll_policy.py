"""When to poll a contact center next, and how long to back off after a failure. Pure: no clock, no I/O.

The interval follows what the chat is doing, because agent messages are what visitors wait for and
polls are what contact centers count (docs/gws.md has the arithmetic):

- the agent is typing: their message is seconds away, so poll fast (``typing_interval``, 1 s);
- an agent is in the chat and something happened lately: ``active_interval`` (3 s);
- no agent yet, or nothing for ``idle_after`` seconds: ``idle_interval`` (7 s).

Failures back off exponentially with full jitter (so that the pollers of a thousand chats that failed
together do not retry together), and never sooner than a ``Retry-After`` the server asked for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PollSettings:
    typing_interval: float = 1.0
    active_interval: float = 3.0
    idle_interval: float = 7.0
    idle_after: float = 60.0
    #: How long polling goes on after the visitor's last socket closed (a reload, a phone waking up).
    grace: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    #: Requests to contact centers in flight at once, from all chats of the process. Measured
    #: (bench/http_clients.py): without a bound, a stall piles requests up inside the HTTP client's pool,
    #: where they time out waiting; with one, they wait their turn and nothing times out.
    max_in_flight: int = 100
    #: Several processes: a chat's poller holds a lease this long, renewed every quarter of it; a dead
    #: process's chats are adopted by another within ``lease_ttl`` + ``sweep_interval``.
    lease_ttl: float = 6.0
    #: How often each process looks for open chats whose poller's process died (and adopts them).
    sweep_interval: float = 2.0


def next_interval(
    settings: PollSettings, *, agent_present: bool, agent_typing: bool, quiet_for: float
) -> float:
    """Seconds until the next poll, given what the last polls showed."""
    if agent_typing:
        return settings.typing_interval
    if agent_present and quiet_for < settings.idle_after:
        return settings.active_interval
    return settings.idle_interval


class Backoff:
    """Exponential backoff with jitter: after the n-th failure in a row (n = 1, 2, ...), a delay drawn
    uniformly from [base, min(max, base * 2**n)], and at least what the server asked for. Even the first
    retry is spread over [base, 2 base], so pollers that failed together do not retry together."""

    def __init__(self, settings: PollSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.failures = 0
        self._rng = rng or random.Random()

    def failure(self, retry_after: float | None = None) -> float:
        self.failures += 1
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**self.failures)
        delay = self._rng.uniform(self.settings.backoff_base, max(self.settings.backoff_base, ceiling))
        if retry_after is not None:
            delay = max(delay, min(retry_after, 3600.0))
        return delay

    def success(self) -> None:
        self.failures = 0
