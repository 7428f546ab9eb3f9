"""The poller lease contract: every PollerLeases implementation passes this suite. Two instances stand
for two server processes: on Redis two clients of one prefix, in memory two owners of one table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from widget_server.poller_leases import (
    LeaseError,
    LeaseTable,
    MemoryLeases,
    PollerLeases,
    RedisLeases,
    open_leases,
)

TTL = 0.3  # short, so that expiry is tested by waiting a moment, not seconds

Processes = Callable[[], PollerLeases]


@pytest.fixture(params=["memory", "redis"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """The bus the leases go with; ``redis_url`` (an async fixture) only when Redis is the case."""
    return "memory:" if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def processes(bus_url: str) -> AsyncIterator[Processes]:
    """Makes one more process's leases, all sharing the same leases."""
    made: list[PollerLeases] = []
    table = LeaseTable()  # what the processes share in memory; Redis is shared by its URL

    def make() -> PollerLeases:
        leases = open_leases(bus_url, ttl=TTL)
        if isinstance(leases, MemoryLeases):
            leases = MemoryLeases(ttl=TTL, table=table)
        made.append(leases)
        return leases

    yield make
    for leases in made:
        await leases.close()


async def test_only_one_process_acquires(processes: Processes) -> None:
    one, two = processes(), processes()
    assert one.owner != two.owner
    fence = await one.acquire("c1")
    assert fence is not None and fence >= 1
    assert await two.acquire("c1") is None
    assert await two.held(["c1", "c2"]) == {"c1"}
    assert await one.held(["c1"]) == {"c1"}


async def test_other_chats_are_independent(processes: Processes) -> None:
    one, two = processes(), processes()
    assert await one.acquire("c1") is not None
    assert await two.acquire("c2") is not None
    assert await one.renew(["c1", "c2"]) == {"c1"}
    assert await two.renew(["c1", "c2"]) == {"c2"}


async def test_after_release_another_process_acquires_with_a_higher_fence(processes: Processes) -> None:
    one, two = processes(), processes()
    first = await one.acquire("c1")
    assert first is not None
    await one.release("c1")
    assert await one.held(["c1"]) == set()
    second = await two.acquire("c1")
    assert second is not None and second > first
    assert await one.renew(["c1"]) == set()  # the first owner's renewal fails: it must stop


async def test_after_expiry_another_process_acquires_with_a_higher_fence(processes: Processes) -> None:
    one, two = processes(), processes()
    first = await one.acquire("c1")
    assert first is not None
    await asyncio.sleep(TTL * 1.5)  # no renewal: as if the process had died
    assert await one.held(["c1"]) == set()
    second = await two.acquire("c1")
    assert second is not None and second > first
    assert await one.renew(["c1"]) == set()
    assert await one.acquire("c1") is None


async def test_renewal_keeps_the_lease_past_its_ttl(processes: Processes) -> None:
    one, two = processes(), processes()
    assert await one.acquire("c1") is not None
    for _ in range(4):
        await asyncio.sleep(TTL / 3)
        assert await one.renew(["c1"]) == {"c1"}
    assert await two.acquire("c1") is None


async def test_a_non_owner_can_neither_renew_nor_release(processes: Processes) -> None:
    one, two = processes(), processes()
    assert await one.acquire("c1") is not None
    assert await two.renew(["c1"]) == set()
    await two.release("c1")
    assert await two.acquire("c1") is None
    assert await one.renew(["c1"]) == {"c1"}


async def test_the_owner_acquiring_again_gets_a_newer_fence(processes: Processes) -> None:
    one = processes()
    first = await one.acquire("c1")
    again = await one.acquire("c1")
    assert first is not None and again is not None and again > first


async def test_a_fence_goes_above_one_the_store_has_seen(processes: Processes) -> None:
    """A Redis that lost its keys (or a process that restarted) counts from 1 again; the store's fence
    is the floor."""
    one, two = processes(), processes()
    fence = await one.acquire("c1", above=41)
    assert fence == 42
    await one.release("c1")
    later = await two.acquire("c1")
    assert later is not None and later > 42


async def test_nothing_to_renew_or_ask(processes: Processes) -> None:
    one = processes()
    assert await one.renew([]) == set()
    assert await one.held([]) == set()


# --- Redis only: what an unreachable Redis does ----------------------------------------------------------


async def test_an_unreachable_redis_is_a_lease_error_not_a_hang() -> None:
    leases = RedisLeases("redis://127.0.0.1:1/0?prefix=nowhere:", ttl=TTL)
    try:
        calls: list[Any] = [
            leases.acquire("c1"),
            leases.renew(["c1"]),
            leases.release("c1"),
            leases.held(["c1"]),
        ]
        for call in calls:
            with pytest.raises(LeaseError):
                await asyncio.wait_for(call, 5)
    finally:
        await leases.close()


async def test_the_bus_url_chooses_the_leases() -> None:
    memory, redis = open_leases("memory:"), open_leases("redis://127.0.0.1:6379/0?prefix=x:")
    assert isinstance(memory, MemoryLeases) and isinstance(redis, RedisLeases)
    await memory.close()
    await redis.close()
