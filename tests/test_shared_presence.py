"""Two server processes (two apps on one event loop, each with its own runtime) on one SQLite file and one
Redis prefix: who is there and the limits are the deployment's, not one process's.

tests/test_shared_state_contract.py has the state itself; this is it wired in: the gate, `hello`, the
console's presence, the messages-per-minute limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running

SITES = {
    "demo": {
        "name": "Demo",
        "allowed_origins": [HOST_ORIGIN],
        "limits": {"sockets_per_ip": 2, "messages_per_minute": 3},
    }
}


@pytest.fixture
async def pair(data_dir: Path, redis_url: str) -> AsyncIterator[tuple[Server, Server]]:
    config = make_config(data_dir, {"bus": redis_url, "sites": SITES, "agents": {"away_after": 0.2}})
    async with running(config) as a, running(config) as b:
        yield a, b


async def test_an_agent_on_one_process_makes_the_other_say_available(pair: tuple[Server, Server]) -> None:
    a, b = pair
    async with Visitor.connected(b) as waiting:
        assert waiting.hello["available"] is False
        async with Agent.connected(a):
            # The open widget on the other process hears it, and a new one is told at once.
            await waiting.expect("hello", available=True)
            async with Visitor.connected(b) as newcomer:
                assert newcomer.hello["available"] is True
        await waiting.expect("hello", available=False)  # the last agent anywhere left


async def test_the_console_sees_a_visitor_on_another_process(pair: tuple[Server, Server]) -> None:
    a, b = pair
    async with Agent.connected(a) as agent:
        async with Visitor.connected(b) as visitor:
            await visitor.start()
            chat = visitor.chat
            await agent.expect("presence", chat=chat, online=True)
            async with Agent.connected(a) as second:  # a console opened now lists the chat as online
                listed = [c for c in second.hello["chats"] if c["id"] == chat]
                assert listed and listed[0]["online"] is True
        # The visitor closed their only tab, on the other process.
        await agent.expect("presence", chat=chat, online=False)
        async with Agent.connected(a) as third:
            listed = [c for c in third.hello["chats"] if c["id"] == chat]
            assert listed and listed[0]["online"] is False


async def test_sockets_per_address_are_counted_over_processes(pair: tuple[Server, Server]) -> None:
    a, b = pair
    async with Visitor.connected(a), Visitor.connected(b):
        with pytest.raises(InvalidStatus) as refused:
            async with Visitor.connected(a):
                pass
        assert refused.value.response.status_code == 403
    async with Visitor.connected(b):  # the places are free again
        pass


async def test_messages_per_minute_hold_over_processes(pair: tuple[Server, Server]) -> None:
    """A visitor's tabs on two processes share one chat's allowance (burst: a third of 3 a minute)."""
    a, b = pair
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(Visitor.connected(a))
        await first.start()
        second = await stack.enter_async_context(Visitor.connected(b))
        await second.send({"type": "resume", "token": first.token, "after": 0})
        await second.expect("welcome")
        await first.say("one", id="m1")
        await second.send({"type": "say", "id": "m2", "text": "two"})
        refused = await second.expect("error", id="m2")
        assert refused["code"] == "rate_limited"
