"""The shared-state contract: every SharedState implementation passes this suite.

Two instances on one URL stand for two processes. Whether they see each other is the implementation's
``spans_processes``: memory: instances are separate processes with nothing in common, Redis instances
with one prefix are one deployment. What only a shared state can do (a share outliving its process) is
in the Redis class alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from widget_server.shared_state import CONSOLES, SOCKETS_PER_IP, VISITORS, SharedState, open_shared_state

TTL = 1.0  # short, so that an expiry is seen within a test


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[SharedState]:
    state = await open_shared_state(url, ttl=TTL)
    try:
        yield state
    finally:
        await state.close()


class SharedStateContract:
    spans_processes: bool

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    async def state(self, url: str) -> AsyncIterator[SharedState]:
        async with opened(url) as state:
            yield state

    @pytest.fixture
    async def other(self, url: str) -> AsyncIterator[SharedState]:
        """A second process of the same deployment."""
        async with opened(url) as state:
            yield state

    async def test_counts_go_up_and_down_and_never_below_zero(self, state: SharedState) -> None:
        assert await state.add(VISITORS, "chat-1", 1) == 1
        assert await state.add(VISITORS, "chat-1", 1) == 2
        assert await state.add(VISITORS, "chat-2", 1) == 1
        assert await state.total(VISITORS, "chat-1") == 2
        assert await state.add(VISITORS, "chat-1", -1) == 1
        assert await state.add(VISITORS, "chat-2", -1) == 0
        assert await state.add(VISITORS, "chat-2", -1) == 0  # a stray "went" changes nothing
        assert await state.totals(VISITORS) == {"chat-1": 1}
        assert await state.totals_of(VISITORS, ["chat-1", "chat-2", "chat-3"]) == {
            "chat-1": 1,
            "chat-2": 0,
            "chat-3": 0,
        }
        assert await state.total(CONSOLES, "") == 0  # counters are separate

    async def test_two_processes_counts_are_summed(self, state: SharedState, other: SharedState) -> None:
        await state.add(VISITORS, "chat-1", 1)
        await other.add(VISITORS, "chat-1", 2)
        await other.add(CONSOLES, "", 1)
        await state.add(SOCKETS_PER_IP, "192.0.2.1", 3)
        await other.add(SOCKETS_PER_IP, "192.0.2.1", 1)
        both = self.spans_processes
        assert await state.total(VISITORS, "chat-1") == (3 if both else 1)
        assert await state.total(CONSOLES, "") == (1 if both else 0)
        assert await other.totals(SOCKETS_PER_IP) == {"192.0.2.1": 4 if both else 1}
        await other.add(VISITORS, "chat-1", -2)
        assert await state.total(VISITORS, "chat-1") == 1

    async def test_a_closed_process_share_is_gone(self, url: str, state: SharedState) -> None:
        async with opened(url) as leaving:
            await leaving.add(CONSOLES, "", 1)
        await state.add(CONSOLES, "", 1)
        assert await state.total(CONSOLES, "") == 1

    async def test_a_limit_allows_its_burst_then_says_how_long_to_wait(self, state: SharedState) -> None:
        rate = 1 / 60  # one a minute: no refill within the test
        assert [await state.rate_limit("messages", "chat-1", rate, 3) for _ in range(3)] == [0.0] * 3
        wait = await state.rate_limit("messages", "chat-1", rate, 3)
        assert 55 < wait <= 60
        assert await state.rate_limit("messages", "chat-2", rate, 3) == 0.0  # keys are separate
        assert await state.rate_limit("logins", "chat-1", rate, 3) == 0.0  # and so are names

    async def test_peeking_spends_nothing(self, state: SharedState) -> None:
        for _ in range(5):
            assert await state.rate_limit("login", "203.0.113.9", 1 / 60, 1, peek=True) == 0.0
        assert await state.rate_limit("login", "203.0.113.9", 1 / 60, 1) == 0.0
        assert await state.rate_limit("login", "203.0.113.9", 1 / 60, 1, peek=True) > 0

    async def test_a_limit_refills_at_its_rate(self, state: SharedState) -> None:
        assert await state.rate_limit("budget", "acct", 20, 1) == 0.0  # one every 50 ms
        wait = await state.rate_limit("budget", "acct", 20, 1)
        assert 0 < wait <= 0.05
        await asyncio.sleep(wait + 0.01)
        assert await state.rate_limit("budget", "acct", 20, 1) == 0.0

    async def test_a_pause_shuts_the_bucket_until_it_ends(self, state: SharedState) -> None:
        await state.pause("budget", "acct", 0.2)
        await state.pause("budget", "acct", 0.05)  # a shorter one does not cut it short
        wait = await state.rate_limit("budget", "acct", 1000, 10)
        assert 0.1 < wait <= 0.2
        assert await state.rate_limit("budget", "other", 1000, 10) == 0.0
        await asyncio.sleep(wait + 0.01)
        assert await state.rate_limit("budget", "acct", 1000, 10) == 0.0

    async def test_limits_and_pauses_hold_across_processes(
        self, state: SharedState, other: SharedState
    ) -> None:
        rate = 1 / 60
        assert await state.rate_limit("messages", "chat-1", rate, 2) == 0.0
        assert await other.rate_limit("messages", "chat-1", rate, 2) == 0.0
        # Shared: the two tokens are spent. Separate: each process has one left.
        assert (await other.rate_limit("messages", "chat-1", rate, 2) > 0) is self.spans_processes
        assert (await state.rate_limit("messages", "chat-1", rate, 2) > 0) is self.spans_processes
        await state.pause("budget", "acct", 30)
        assert (await other.rate_limit("budget", "acct", 10, 10) > 0) is self.spans_processes


class TestMemory(SharedStateContract):
    spans_processes = False

    @pytest.fixture
    def url(self) -> str:
        return "memory:"


class TestRedis(SharedStateContract):
    spans_processes = True

    @pytest.fixture
    def url(self, redis_url: str) -> str:
        return redis_url

    async def test_a_dead_process_share_expires(self, url: str, state: SharedState) -> None:
        """A process killed without a clean stop: its sockets count until its heartbeat key expires."""
        script = textwrap.dedent(
            """
            import asyncio, sys
            from widget_server.shared_state import open_shared_state

            async def main():
                state = await open_shared_state(sys.argv[1], ttl=float(sys.argv[2]))
                await state.add("consoles", "", 1)
                await state.add("visitors", "chat-1", 2)
                print("ready", flush=True)
                await asyncio.sleep(60)

            asyncio.run(main())
            """
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, str(TTL), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            assert await process.stdout.readline() == b"ready\n"
            await state.add(VISITORS, "chat-1", 1)
            assert await state.total(CONSOLES, "") == 1
            assert await state.total(VISITORS, "chat-1") == 3
            await asyncio.sleep(TTL)  # alive: its heartbeat renews its share
            assert await state.total(VISITORS, "chat-1") == 3
        finally:
            process.kill()  # SIGKILL: no clean stop
            await process.wait()
        await until(lambda: state.total(CONSOLES, ""), 0, TTL * 3)
        assert await state.total(VISITORS, "chat-1") == 1

    async def test_a_share_redis_lost_is_written_again(self, url: str, state: SharedState) -> None:
        """Redis restarted (or this process stalled past the TTL): the next heartbeat restores its share."""
        import redis.asyncio as redis

        from widget_server.redis_url import split_prefix

        await state.add(CONSOLES, "", 1)
        await state.add(VISITORS, "chat-1", 2)
        base, prefix = split_prefix(url)
        client = redis.Redis.from_url(base)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            await client.delete(*keys)
        finally:
            await client.aclose()
        assert await state.total(CONSOLES, "") == 0
        await until(lambda: state.total(VISITORS, "chat-1"), 2, TTL * 2)
        assert await state.total(CONSOLES, "") == 1


async def until(read: Callable[[], Any], expected: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while await read() != expected:
            await asyncio.sleep(0.05)
