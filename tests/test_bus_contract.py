"""The bus contract: every Bus implementation passes this suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from widget_server.bus import Bus, Message, open_bus


@pytest.fixture(params=["memory:"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    bus = await open_bus(request.param)
    yield bus
    await bus.close()


async def until(condition: object, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_subscribers_get_messages_in_order(bus: Bus) -> None:
    got: list[Message] = []
    await bus.subscribe("chat:1", got.append)
    for n in range(50):
        await bus.publish("chat:1", {"n": n})
    await until(lambda: len(got) == 50)
    assert [m["n"] for m in got] == list(range(50))


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
