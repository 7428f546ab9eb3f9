"""The bus contract: every Bus implementation passes this suite.

What only a bus with a transport has (a Redis subscription count, a connection that breaks and resyncs,
a prefix) is in tests/test_bus_redis.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from widget_server.bus import Bus, Message, open_bus


@dataclass
class Transport:
    """One bus implementation as the suite sees it."""

    url: str
    #: A bus of another process sharing this one's transport. The in-process bus is the only one in its
    #: process, so its "other process" is itself.
    other_process: Callable[[Bus], Awaitable[Bus]]


async def _same(bus: Bus) -> Bus:
    return bus


@pytest.fixture(params=["memory", "redis"])
def transport(request: pytest.FixtureRequest) -> Transport:
    if request.param == "memory":
        return Transport("memory:", _same)
    url = request.getfixturevalue("redis_url")
    return Transport(url, lambda bus: open_bus(url))


@pytest.fixture
async def bus(transport: Transport) -> AsyncIterator[Bus]:
    bus = await open_bus(transport.url)
    yield bus
    await bus.close()


@pytest.fixture
async def other(transport: Transport, bus: Bus) -> AsyncIterator[Bus]:
    """Another process's bus."""
    other = await transport.other_process(bus)
    yield other
    await other.close()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_working_bus_has_no_problem(bus: Bus) -> None:
    assert await bus.problem() is None


async def test_subscribers_get_messages_in_order(bus: Bus) -> None:
    got: list[Message] = []
    await bus.subscribe("chat:1", got.append)
    for n in range(50):
        await bus.publish("chat:1", {"n": n})
    await until(lambda: len(got) == 50)
    assert [m["n"] for m in got] == list(range(50))


async def test_another_process_gets_them_in_order_per_publisher(bus: Bus, other: Bus) -> None:
    got: list[Message] = []
    await other.subscribe("chat:1", got.append)

    async def publisher(name: str) -> None:
        for n in range(50):
            await bus.publish("chat:1", {"from": name, "n": n})

    await asyncio.gather(publisher("a"), publisher("b"))
    await until(lambda: len(got) == 100)
    for name in "ab":
        assert [m["n"] for m in got if m["from"] == name] == list(range(50))


async def test_a_message_published_after_subscribe_returned_is_received(bus: Bus, other: Bus) -> None:
    # Many rounds, each on a new channel: a subscription that returned before it took effect would
    # miss the message published right after it, at least sometimes.
    for n in range(30):
        got: list[Message] = []
        await bus.subscribe(f"chat:{n}", got.append)
        await other.publish(f"chat:{n}", {"n": n})
        await until(lambda: got)  # noqa: B023 - awaited within the round
        assert got == [{"n": n}]


async def test_json_round_trip(bus: Bus, other: Bus) -> None:
    message = {"t": "event", "e": {"text": 'Grüße, 你好 \u2028 "quoted"', "n": 1.5, "ok": None, "l": [1, {}]}}
    got: list[Message] = []
    await bus.subscribe("chat:1", got.append)
    await other.publish("chat:1", message)
    await until(lambda: got)
    assert got == [message]


async def test_channels_are_separate_and_unsubscribe_stops_delivery(bus: Bus) -> None:
    one: list[Message] = []
    two: list[Message] = []
    unsubscribe = await bus.subscribe("a", one.append)
    await bus.subscribe("b", two.append)
    await bus.publish("a", {"x": 1})
    await bus.publish("b", {"x": 2})
    await until(lambda: one and two)
    await unsubscribe()
    await bus.publish("a", {"x": 3})
    await bus.publish("b", {"x": 4})
    await until(lambda: len(two) == 2)
    assert one == [{"x": 1}] and two == [{"x": 2}, {"x": 4}]


async def test_subscribers_of_one_channel_are_counted_apart(bus: Bus, other: Bus) -> None:
    first: list[Message] = []
    second: list[Message] = []
    unsubscribe_first = await bus.subscribe("a", first.append)
    await bus.subscribe("a", second.append)
    await other.publish("a", {"x": 1})
    await until(lambda: first and second)
    await unsubscribe_first()
    await unsubscribe_first()  # a second time does nothing, and does not take the other's place
    await other.publish("a", {"x": 2})
    await until(lambda: len(second) == 2)
    assert first == [{"x": 1}] and second == [{"x": 1}, {"x": 2}]


async def test_a_failing_subscriber_does_not_starve_the_others(bus: Bus) -> None:
    got: list[Message] = []

    def broken(message: Message) -> None:
        raise RuntimeError("broken receiver")

    await bus.subscribe("a", broken)
    await bus.subscribe("a", got.append)
    await bus.publish("a", {"x": 1})
    await until(lambda: got)
    assert got == [{"x": 1}]


async def test_publishing_without_subscribers_is_fine(bus: Bus) -> None:
    await bus.publish("nobody", {"x": 1})
