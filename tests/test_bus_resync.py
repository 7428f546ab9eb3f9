"""The bus's users after a Redis outage: a real server on the Redis bus, a real visitor and agent (or
the fake GWS), and a Redis of the test's own that it stops meanwhile. Whatever the bus lost is repaired
from the store once it resyncs: the visitor catches up by seq, the console reloads, a poller delivers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.fakes.gws import FakeGWS
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Agent, Frame, Server, Visitor, make_config, running
from tests.support.contact_centers import FAST_POLLING, eventually
from tests.support.redis_server import RedisServer


@pytest.fixture
async def server(data_dir: Path, own_redis: RedisServer) -> AsyncIterator[Server]:
    async with running(make_config(data_dir, {"bus": own_redis.url})) as server:
        yield server


def text_is(text: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("text") == text


async def events_and_ack(visitor: Visitor, text: str, ack: str) -> list[Frame]:
    """The events up to the one with this text, and the ack, which may come before or after it."""
    frames: list[Frame] = []
    while not (any(map(text_is(text), frames)) and any(f["type"] == "ack" for f in frames)):
        frames.append(await visitor.recv())
    assert [f["id"] for f in frames if f["type"] == "ack"] == [ack]
    return [f for f in frames if f["type"] == "event"]


async def test_a_visitor_gets_what_was_said_while_redis_was_down_once_and_in_order(
    server: Server, own_redis: RedisServer
) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await visitor.start()
        assert visitor.chat is not None
        await agent.accept(visitor.chat)
        await visitor.send({"type": "say", "id": "v1", "text": "hello?"})
        seen = await events_and_ack(visitor, "hello?", "v1")

        await own_redis.stop()
        await agent.say(visitor.chat, "said while the bus was down", id="a1")  # acked all the same
        await visitor.no_frame(within=0.3)  # nothing reaches the visitor meanwhile: the bus is the way
        await own_redis.start()

        seen += await visitor.events_until(text_is("said while the bus was down"), timeout=15)
        await agent.say(visitor.chat, "and after", id="a2")
        seen += await visitor.events_until(text_is("and after"))

    seqs = [frame["seq"] for frame in seen]
    assert seqs == list(range(1, len(seqs) + 1))  # from the first event on: no gap, no repeat


async def test_the_console_reloads_after_redis_was_down(server: Server, own_redis: RedisServer) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await own_redis.stop()
        await visitor.start()  # a new chat while the bus is down: the console hears nothing of it
        await own_redis.start()
        hello = await agent.expect("hello", timeout=15)
        assert visitor.chat in [chat["id"] for chat in hello["chats"]]


async def test_a_waiting_visitor_learns_the_place_that_moved_while_redis_was_down(
    server: Server, own_redis: RedisServer
) -> None:
    async with (
        Agent.connected(server) as agent,
        Visitor.connected(server) as first,
        Visitor.connected(server) as second,
    ):
        for place, visitor in enumerate((first, second), start=1):
            await visitor.start()
            await visitor.expect("queue", position=place)
        await own_redis.stop()
        await agent.send({"type": "accept", "chat": first.chat})  # the queue moves; the bus is down
        await own_redis.start()
        await second.expect("queue", position=1, timeout=15)  # counted again after the resync


async def test_a_poller_delivers_what_the_visitor_said_while_redis_was_down(
    data_dir: Path, own_redis: RedisServer
) -> None:
    gws = FakeGWS()
    async with serve(gws.app) as url:
        site = {
            "name": "ACME",
            "allowed_origins": [HOST_ORIGIN],
            "backend": "gws",
            "gws": {"base_url": url, "contact_center_id": gws.contact_center_id},
        }
        config = make_config(
            data_dir, {"bus": own_redis.url, "poller": FAST_POLLING, "sites": {"acme": site}}
        )
        async with running(config) as server, Visitor.connected(server, site="acme") as visitor:
            await visitor.start()
            [chat] = gws.chats.values()
            await own_redis.stop()
            await visitor.say("said while the bus was down", id="v1")  # stored; the poller hears nothing
            await own_redis.start()
            await eventually(lambda: chat.customer_texts == ["said while the bus was down"], timeout=15)
