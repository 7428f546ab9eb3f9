"""Three server processes on one PostgreSQL database and one Redis, as behind a load balancer without
sticky sessions: whichever process a visitor or an agent reaches, the chat is the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clients import Agent, Visitor
from tests.support.cluster import Cluster, running_cluster


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str, redis_url: str) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, size=3, store=postgres_url, bus=redis_url) as cluster:
        yield cluster


async def test_a_visitor_hops_between_processes_and_keeps_tabs_on_two(cluster: Cluster) -> None:
    async with Agent.connected(cluster[2]) as agent:  # type: ignore[arg-type]
        async with Visitor.connected(cluster[0]) as first:  # type: ignore[arg-type]
            await first.start()
            await first.say("one", id="m1")
            token, chat = first.token, first.chat
        assert chat is not None
        await agent.accept(chat)
        await agent.say(chat, "hello from the agent", id="a1")
        # The visitor comes back through another process, and opens a second tab through a third.
        async with (
            Visitor.connected(cluster[1]) as tab,  # type: ignore[arg-type]
            Visitor.connected(cluster[0]) as other_tab,  # type: ignore[arg-type]
        ):
            await tab.send({"type": "resume", "token": token, "after": 0})
            await tab.expect("welcome")
            missed = await tab.events_until(lambda e: e.get("text") == "hello from the agent")
            assert [e["seq"] for e in missed] == list(range(1, len(missed) + 1))  # gapless, from the start
            last = missed[-1]["seq"]
            await other_tab.send({"type": "resume", "token": token, "after": last})
            await other_tab.expect("welcome")
            ack = await tab.say("two", id="m2")
            assert ack["seq"] == last + 1
            echo = await other_tab.expect("event", kind="message", id="m2")  # the tab on another process
            assert echo["seq"] == last + 1
            question = await agent.expect("event", kind="message", text="two")
            assert question["chat"] == chat
            await agent.say(chat, "three", id="a2")
            for each in (tab, other_tab):
                reply = await each.expect("event", kind="message", text="three")
                assert reply["seq"] == last + 2
