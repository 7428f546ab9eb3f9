"""What the Redis bus adds to pub/sub, beyond the contract (tests/test_bus_contract.py): one Redis
subscription per channel per process, a resync after every reconnect, and a prefix that keeps
deployments apart. Against a real Redis: the shared test one, or one of the test's own where the test
breaks it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from tests.support.redis_server import RedisServer, free_port
from tests.support.tcp_link import Link
from widget_server.bus import RESYNC, BusError, Message
from widget_server.bus.redis import RedisBus
from widget_server.redis_url import split_prefix


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def opened(url: str, **options: float) -> AsyncIterator[RedisBus]:
    bus = await RedisBus.open(url, **options)
    try:
        yield bus
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def client_of(url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(split_prefix(url)[0])
    try:
        yield client
    finally:
        await client.aclose()


async def numsub(client: redis.Redis, channel: str) -> int:
    [(_, count)] = await client.pubsub_numsub(channel)
    return int(count)


async def test_one_redis_subscription_per_channel_per_process(redis_url: str) -> None:
    prefix = split_prefix(redis_url)[1]
    async with opened(redis_url) as bus, opened(redis_url) as other, client_of(redis_url) as client:
        callbacks: list[list[Message]] = [[], [], []]
        unsubscribes = await asyncio.gather(*(bus.subscribe("chat:X", got.append) for got in callbacks))
        assert await numsub(client, f"{prefix}chat:X") == 1
        unsubscribe_other = await other.subscribe("chat:X", lambda message: None)
        assert await numsub(client, f"{prefix}chat:X") == 2  # a second process: a second subscription

        await unsubscribes[0]()
        await unsubscribes[1]()
        assert await numsub(client, f"{prefix}chat:X") == 2
        await other.publish("chat:X", {"n": 1})
        await until(lambda: callbacks[2])
        assert callbacks == [[], [], [{"n": 1}]]

        await unsubscribes[2]()  # the last one of this process: returns once Redis confirmed
        assert await numsub(client, f"{prefix}chat:X") == 1
        await unsubscribe_other()
        assert await numsub(client, f"{prefix}chat:X") == 0

        # Subscribed again after all that: a new SUBSCRIBE, confirmed before subscribe returns.
        await bus.subscribe("chat:X", callbacks[0].append)
        assert await numsub(client, f"{prefix}chat:X") == 1


async def test_no_message_of_another_prefix_leaks_in(redis_url: str) -> None:
    prefix = split_prefix(redis_url)[1]
    got: list[Message] = []
    async with opened(redis_url) as bus, client_of(redis_url) as client:
        await bus.subscribe("chat:1", got.append)
        # One client publishing in order: by the time the last one arrives, a leak would have too.
        await client.publish(f"other-{prefix}chat:1", '{"leak": 1}')
        await client.publish("chat:1", '{"leak": 2}')
        await client.publish(f"{prefix}chat:1x", '{"leak": 3}')
        await client.publish(f"{prefix}chat:1", '"not an object"')
        await client.publish(f"{prefix}chat:1", "not JSON")
        await client.publish(f"{prefix}chat:1", '{"mine": 1}')
        await until(lambda: {"mine": 1} in got)
    assert got == [{"mine": 1}]  # nor what is not a JSON object


async def test_resync_after_the_subscription_connection_is_killed(own_redis: RedisServer) -> None:
    async with (
        opened(own_redis.url) as bus,
        opened(own_redis.url) as other,
        client_of(own_redis.url) as client,
    ):
        first: list[Message] = []
        second: list[Message] = []
        await bus.subscribe("chat:1", first.append)
        await bus.subscribe("chat:2", second.append)
        await other.subscribe("chat:3", lambda message: None)

        await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")

        await until(lambda: RESYNC in first and RESYNC in second)
        assert first == [RESYNC] and second == [RESYNC]
        # Resynced means subscribed again: what is published now arrives.
        await other.publish("chat:1", {"n": 1})
        await other.publish("chat:2", {"n": 2})
        await until(lambda: len(first) == 2 and len(second) == 2)
        assert first == [RESYNC, {"n": 1}] and second == [RESYNC, {"n": 2}]
        assert await numsub(client, "widget:chat:1") == 1


async def test_resync_after_redis_restarts(own_redis: RedisServer) -> None:
    async with opened(own_redis.url) as bus, opened(own_redis.url) as other:
        got: list[Message] = []
        await bus.subscribe("chat:1", got.append)
        await own_redis.stop()

        # Redis is down: a publish is dropped (the store holds what matters), never raised;
        # a subscribe returns, and its subscriber is resynced with the others once Redis is back.
        await other.publish("chat:1", {"lost": True})
        late: list[Message] = []
        await bus.subscribe("chat:2", late.append)

        await own_redis.start()
        await until(lambda: RESYNC in got and RESYNC in late)
        await other.publish("chat:1", {"n": 1})
        await other.publish("chat:2", {"n": 2})
        await until(lambda: len(got) == 2 and len(late) == 2)
        assert got == [RESYNC, {"n": 1}] and late == [RESYNC, {"n": 2}]


async def test_a_silent_connection_is_noticed_by_the_heartbeat(own_redis: RedisServer) -> None:
    async with Link(own_redis.port) as hole:
        url = f"redis://127.0.0.1:{hole.port}/0"
        async with opened(url, heartbeat=0.2) as bus:
            got: list[Message] = []
            await bus.subscribe("chat:1", got.append)
            hole.deafen()
            await until(lambda: RESYNC in got)
            async with opened(own_redis.url) as other:
                await other.publish("chat:1", {"n": 1})
                await until(lambda: {"n": 1} in got)


async def test_opening_without_a_redis_says_where_it_looked() -> None:
    port = free_port()
    with pytest.raises(BusError, match=f"127.0.0.1:{port}"):
        await RedisBus.open(f"redis://127.0.0.1:{port}/0")


async def test_subscribe_and_unsubscribe_return_once_redis_confirmed_even_on_a_slow_link(
    own_redis: RedisServer,
) -> None:
    async with (
        Link(own_redis.port, delay=0.1) as slow,
        opened(f"redis://127.0.0.1:{slow.port}/0") as bus,
        opened(own_redis.url) as other,
        client_of(own_redis.url) as client,
    ):
        got: list[Message] = []
        unsubscribe = await bus.subscribe("chat:1", got.append)
        await other.publish("chat:1", {"n": 1})  # on a fast link: ahead of a SUBSCRIBE still on its way
        await until(lambda: got)
        assert got == [{"n": 1}]
        await unsubscribe()
        assert await numsub(client, "widget:chat:1") == 0


async def test_a_quiet_subscription_is_kept_without_resyncs(redis_url: str) -> None:
    """Minutes without a message are normal: the subscription connection must not end (and make every
    subscriber resync) for want of traffic; the heartbeat alone judges it."""
    async with opened(redis_url) as bus, opened(redis_url) as other:
        got: list[Message] = []
        await bus.subscribe("chat:1", got.append)
        await asyncio.sleep(6.5)  # longer than redis-py's default read timeout of 5 s
        await other.publish("chat:1", {"n": 1})
        await until(lambda: got)
        assert got == [{"n": 1}]
