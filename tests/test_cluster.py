"""Three server processes on one PostgreSQL database and one Redis, as behind a load balancer without
sticky sessions: whichever process a visitor or an agent reaches, the chat is the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clients import Agent, Visitor
from tests.support.cluster import Cluster, Node, running_cluster
from tests.support.contact_centers import eventually
from tests.support.redis_server import RedisServer
from widget_server import model
from widget_server.passwords import hash_password
from widget_server.store import open_store


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str, redis_url: str) -> AsyncIterator[Cluster]:
    # An agent whose console closed is away after `agents.away_after` (60 s by default): short here.
    config = {"agents": {"away_after": 0.5}}
    async with running_cluster(tmp_path, size=3, store=postgres_url, bus=redis_url, config=config) as cluster:
        yield cluster


async def hello_available(node: Node) -> bool:
    async with Visitor.connected(node) as visitor:  # type: ignore[arg-type]
        return bool(visitor.hello["available"])


async def test_an_agent_on_one_process_answers_a_visitor_on_another(cluster: Cluster) -> None:
    assert not await hello_available(cluster[1])  # nobody is online anywhere yet
    async with Agent.connected(cluster[0]) as agent:  # type: ignore[arg-type]
        # Agents online are cluster-wide: every process offers the chat.
        for node in cluster.nodes:
            await eventually(lambda node=node: hello_available(node), timeout=5)
        async with Visitor.connected(cluster[1]) as visitor:  # type: ignore[arg-type]
            await visitor.start(nickname="Chris", subject="Billing")
            chat = visitor.chat
            assert chat is not None
            summary = (await agent.expect("chat"))["chat"]
            assert summary["id"] == chat and summary["state"] == "queued"
            await visitor.say("Do you ship to Norway?", id="q1")
            question = await agent.expect("event", kind="message")
            assert question["chat"] == chat and question["text"] == "Do you ship to Norway?"
            await agent.accept(chat)
            await visitor.expect("event", kind="joined", name="Admin")
            await agent.send({"type": "typing", "chat": chat, "active": True})
            assert await visitor.expect("typing") == {"type": "typing", "name": "Admin", "active": True}
            await agent.say(chat, "Yes, we do.", id="a1")
            reply = await visitor.expect("event", kind="message", **{"from": "agent"})
            assert reply["text"] == "Yes, we do."
    # The last agent left: every process offers the offline form again.
    for node in cluster.nodes:
        await eventually(lambda node=node: not_(hello_available(node)), timeout=5)


async def not_(available: object) -> bool:
    return not await available  # type: ignore[misc]


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


async def test_a_note_on_one_process_reaches_the_consoles_on_the_others_and_no_visitor(
    cluster: Cluster,
) -> None:
    async with (
        Agent.connected(cluster[0]) as writer,  # type: ignore[arg-type]
        Agent.connected(cluster[1]) as reader,  # type: ignore[arg-type]
        Visitor.connected(cluster[2]) as visitor,  # type: ignore[arg-type]
    ):
        await visitor.start()
        chat = visitor.chat or ""
        await writer.accept(chat)
        await writer.send({"type": "note", "chat": chat, "id": "n1", "text": "Knows the product well."})
        ack = await writer.expect("ack", id="n1")
        note = await reader.expect("event", kind="note", id="n1")
        assert note["chat"] == chat and note["seq"] == ack["seq"] == 4  # queued, joined, active, the note
        assert note["name"] == "Admin" and note["text"] == "Knows the product well."
        await writer.say(chat, "Hello!", id="a1")
        seen = await visitor.events_until(lambda e: e.get("text") == "Hello!")
        assert [(e["seq"], e["kind"]) for e in seen] == [
            (1, "state"),
            (2, "joined"),
            (3, "state"),
            (4, "message"),
        ]


async def test_an_agents_status_reaches_every_process(
    cluster: Cluster, postgres_url: str, tmp_path: Path
) -> None:
    store = await open_store(postgres_url, tmp_path)  # a user added while the cluster runs
    try:
        await store.put_user(model.User("ana", model.AGENT_ROLE, hash_password("pw of ana"), "Ana"))
    finally:
        await store.close()
    ana_online = {"name": "ana", "displayName": "Ana", "status": "online"}
    ana_away = {**ana_online, "status": "away"}
    async with Agent.connected(cluster[0]) as colleague:  # type: ignore[arg-type]
        await colleague.send({"type": "status", "status": "away"})
        await colleague.expect("agent", agent={"name": "admin", "displayName": "Admin", "status": "away"})
        await eventually(lambda: not_(hello_available(cluster[2])), timeout=5)
        async with Visitor.connected(cluster[2]) as widget:  # type: ignore[arg-type]
            async with Agent.connected(cluster[1], "ana", "pw of ana") as ana:  # type: ignore[arg-type]
                # Her console opened on one process; her colleague's console on another hears it, and
                # the widget on a third is offered a chat within a second.
                await colleague.expect("agent", agent=ana_online)
                await widget.expect("hello", available=True, timeout=1.0)
                await ana.send({"type": "status", "status": "away"})
                await colleague.expect("agent", agent=ana_away, timeout=1.0)
                await widget.expect("hello", available=False, timeout=1.0)
                await ana.send({"type": "status", "status": "online"})
                await colleague.expect("agent", agent=ana_online, timeout=1.0)
                await widget.expect("hello", available=True, timeout=1.0)
            # Her last console closed: away everywhere once the grace period (0.5 s here) is over.
            await colleague.expect("agent", agent=ana_away)
            await widget.expect("hello", available=False)


async def test_the_queue_moves_for_visitors_on_every_process(cluster: Cluster) -> None:
    async with (
        Agent.connected(cluster[0]) as agent,  # type: ignore[arg-type]
        Visitor.connected(cluster[1]) as first,  # type: ignore[arg-type]
        Visitor.connected(cluster[2]) as second,  # type: ignore[arg-type]
        Visitor.connected(cluster[1]) as third,  # type: ignore[arg-type]
    ):
        for place, visitor in enumerate((first, second, third), start=1):
            await visitor.start()
            await visitor.expect("queue", position=place)
        await agent.send({"type": "accept", "chat": first.chat})
        await second.expect("queue", position=1)
        await third.expect("queue", position=2)


async def test_redis_restarted_mid_chat_loses_nothing(
    tmp_path: Path, postgres_url: str, own_redis: RedisServer
) -> None:
    bus = f"{own_redis.url}?prefix=restart:"
    async with running_cluster(tmp_path, size=2, store=postgres_url, bus=bus) as cluster:
        async with Agent.connected(cluster[0]) as agent:  # type: ignore[arg-type]
            await eventually(lambda: hello_available(cluster[1]), timeout=5)
            async with Visitor.connected(cluster[1]) as visitor:  # type: ignore[arg-type]
                await visitor.start()
                chat = visitor.chat or ""
                await agent.accept(chat)
                await visitor.expect("event", kind="joined")
                await own_redis.stop()
                # Stored and acknowledged on both sides while the processes cannot tell each other.
                await agent.say(chat, "said while Redis was down", id="a1")
                ack = await visitor.say("also while it was down", id="m1")
                await own_redis.start()
                # Back: every process resubscribes and its connections catch up from the store.
                during = "said while Redis was down"
                reply = await visitor.expect("event", timeout=15, kind="message", text=during)
                await agent.expect(
                    "hello", timeout=15
                )  # the console reloads (static/agent/frames.js: onHello)
                await agent.say(chat, "and after", id="a2")
                after = await visitor.expect("event", kind="message", text="and after")
        history = await cluster_history(cluster[0], chat)
    seqs = [e["seq"] for e in history]
    assert seqs == list(range(1, len(seqs) + 1))
    texts = [e.get("text") for e in history if e["kind"] == "message"]
    assert texts == ["said while Redis was down", "also while it was down", "and after"]
    assert reply["seq"] < after["seq"] and ack["seq"] in seqs


async def cluster_history(node: Node, chat: str) -> list[dict[str, object]]:
    async with Agent.connected(node) as agent:  # type: ignore[arg-type]
        await agent.send({"type": "history", "chat": chat, "after": 0})
        events: list[dict[str, object]] = (await agent.expect("history"))["events"]
        return events


async def test_workers_share_one_port(tmp_path: Path, postgres_url: str, redis_url: str) -> None:
    """`serve --workers 2`: two processes behind one port, whichever gets which socket."""
    async with running_cluster(tmp_path, size=1, store=postgres_url, bus=redis_url, workers=2) as one:
        node = one[0]
        # uvicorn's supervisor started two workers (the first to answer made the node ready).
        await eventually(lambda: len(set(re.findall(r"Started server process \[(\d+)\]", node.log()))) == 2)
        async with Agent.connected(node) as agent:  # type: ignore[arg-type]
            await eventually(lambda: hello_available(node), timeout=5)
            visitors = [Visitor.connected(node) for _ in range(4)]  # type: ignore[arg-type]
            async with visitors[0] as a, visitors[1] as b, visitors[2] as c, visitors[3] as d:
                for n, visitor in enumerate((a, b, c, d)):
                    await visitor.start(nickname=f"V{n}")
                    await agent.accept(visitor.chat or "")
                    await agent.say(visitor.chat or "", f"hello {n}", id=f"a{n}")
                    reply = await visitor.expect("event", kind="message", **{"from": "agent"})
                    assert reply["text"] == f"hello {n}"


async def test_read_receipts_reach_the_visitor_on_another_process_and_come_again_on_resume(
    cluster: Cluster,
) -> None:
    async with (
        Agent.connected(cluster[0]) as agent,  # type: ignore[arg-type]
        Visitor.connected(cluster[1]) as visitor,  # type: ignore[arg-type]
    ):
        await visitor.start()
        chat = visitor.chat or ""
        await agent.accept(chat)
        await agent.send({"type": "note", "chat": chat, "id": "n1", "text": "Between the two numberings."})
        await agent.expect("ack", id="n1")
        ack = await visitor.say("Is it waterproof?", id="m1")
        question = await agent.expect("event", kind="message", id="m1")
        assert (question["seq"], ack["seq"]) == (5, 4)  # queued, joined, active, the note, the question
        for bad in (0, -1, True, "5", 1.5):
            await agent.send({"type": "read", "chat": chat, "seq": bad, "id": "r0"})
            assert (await agent.expect("error", id="r0"))["field"] == "seq"
        await agent.send({"type": "read", "chat": "nope", "seq": 1, "id": "r1"})
        assert (await agent.expect("error", id="r1"))["code"] == "not_found"
        await agent.send({"type": "read", "chat": chat, "seq": question["seq"], "id": "r2"})
        assert await visitor.expect("read") == {"type": "read", "seq": ack["seq"]}  # the visitor's numbering
        token = visitor.token
    async with Visitor.connected(cluster[2]) as tab:  # type: ignore[arg-type]
        await tab.send({"type": "resume", "token": token, "after": 0})
        await tab.expect("welcome")
        frames = [await tab.recv() for _ in range(5)]  # the four events, then how far the agent read
        assert [f["type"] for f in frames] == ["event"] * 4 + ["read"] and frames[-1]["seq"] == 4
