"""Wire protocol v1 over a real websocket: start, say, resume, two tabs, and the chat log's guarantees."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running


async def test_hello_then_start_gives_a_token_and_a_queued_chat(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        hello = {"type": "hello", "available": False, "capabilities": ["attachments"], "name": "Demo"}
        hello["reason"] = "agents"  # the built-in contact center, and nobody logged in to the console
        hello["files"] = {
            "maxBytes": 2 * 1024 * 1024,
            "maxFiles": 5,
            "types": ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"],
        }
        assert visitor.hello == hello
        await visitor.send(
            {"type": "start", "nickname": "Chris", "subject": "Billing", "page": "https://shop.example/p"}
        )
        welcome = await visitor.recv()
        assert welcome["type"] == "welcome" and welcome["chat"] and welcome["token"]
        first = await visitor.recv()
        assert first["type"] == "event" and first["seq"] == 1 and first["kind"] == "state"
        assert first["state"] == "queued" and first["position"] == 1
        assert first["at"].endswith("Z")
        second = await visitor.recv()
        assert second == {**second, "seq": 2, "kind": "visit", "url": "https://shop.example/p"}


async def test_say_is_stored_acked_and_echoed_once_per_id(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        await visitor.send({"type": "say", "id": "m1", "text": "Hello?"})
        event = await visitor.expect("event", kind="message")
        ack = await visitor.expect("ack", id="m1")
        assert event["from"] == "visitor" and event["name"] == "Chris" and event["text"] == "Hello?"
        assert event["id"] == "m1" and ack["seq"] == event["seq"]
        # The same client id again (a retry after a lost ack): the same ack, nothing stored twice.
        await visitor.send({"type": "say", "id": "m1", "text": "Hello?"})
        again = await visitor.expect("ack", id="m1")
        assert again["seq"] == ack["seq"]
        await visitor.no_frame()
        events = await server.runtime.store.events_after(visitor.chat or "", 0)
        assert [e.kind for e in events].count("message") == 1


async def test_resume_replays_exactly_the_missed_events(server: Server) -> None:
    async with Visitor.connected(server) as first:
        await first.start()
        for n in range(1, 6):
            await first.say(f"message {n}", id=f"m{n}")
        token = first.token
    async with Visitor.connected(server) as second:
        await second.send({"type": "resume", "token": token, "after": 3})
        welcome = await second.expect("welcome")
        assert welcome["chat"] == first.chat
        # seq 1 is the queued state, 2..6 the five messages.
        replayed = await second.events_until(lambda e: e["seq"] == 6)
        assert [e["seq"] for e in replayed] == [4, 5, 6]
        assert [e.get("text") for e in replayed] == ["message 3", "message 4", "message 5"]
        # Then the current place in the queue (not stored: it changes whenever anyone leaves the queue).
        assert await second.recv() == {"type": "queue", "position": 1}
        await second.no_frame()


async def test_two_tabs_see_the_same_chat_live(server: Server) -> None:
    async with Visitor.connected(server) as tab1, Visitor.connected(server) as tab2:
        await tab1.start()
        await tab2.send({"type": "resume", "token": tab1.token, "after": 0})
        await tab2.expect("welcome")
        await tab2.events_until(lambda e: e["seq"] == 1)
        await tab1.say("from tab one", id="t1")
        event = await tab2.expect("event", kind="message")
        assert event["text"] == "from tab one"
        await tab2.say("from tab two", id="t2")
        event = await tab1.expect("event", kind="message", id="t2")
        assert event["seq"] == 3


BUSY_SITE = {
    "sites": {
        "busy": {
            "name": "Busy",
            "allowed_origins": [HOST_ORIGIN],
            "limits": {"messages_per_minute": 6000, "frame_burst": 200, "frames_per_second": 100},
        }
    }
}


async def test_many_concurrent_writers_keep_seq_gapless(data_dir: Path) -> None:
    async with running(make_config(data_dir, BUSY_SITE)) as server:
        await _concurrent_writers(server)


async def _concurrent_writers(server: Server) -> None:
    def connected() -> Any:
        return Visitor.connected(server, site="busy")

    async with connected() as visitor, Agent.connected(server) as agent:
        await visitor.start()
        chat = visitor.chat or ""
        await agent.accept(chat)
        tabs = [connected() for _ in range(3)]
        entered = [await tab.__aenter__() for tab in tabs]
        try:
            for tab in entered:
                await tab.send({"type": "resume", "token": visitor.token, "after": 0})
                await tab.expect("welcome")

            async def visitor_burst(tab: Visitor, name: str) -> None:
                for n in range(15):
                    await tab.send({"type": "say", "id": f"{name}-{n}", "text": f"{name} {n}"})

            async def agent_burst() -> None:
                for n in range(15):
                    await agent.send({"type": "say", "chat": chat, "id": f"a{n}", "text": f"agent {n}"})

            await asyncio.gather(*(visitor_burst(t, f"tab{i}") for i, t in enumerate(entered)), agent_burst())
            async with asyncio.timeout(10):
                stored = await server.runtime.store.events_after(chat, 0)
                while len(stored) < 3 + 60:  # queued, joined, active, and the 60 messages
                    await asyncio.sleep(0.05)
                    stored = await server.runtime.store.events_after(chat, 0)
            assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
            # Every tab received every event exactly once, in order.
            for tab in [visitor, *entered]:
                seen = await tab.events_until(lambda e: e["seq"] == len(stored), timeout=10)
                seqs = [e["seq"] for e in seen]
                assert seqs == sorted(set(seqs)) and seqs[-1] == len(stored)
        finally:
            for tab in tabs:
                await tab.__aexit__(None, None, None)


async def test_a_restart_loses_nothing(data_dir: Path) -> None:
    config = make_config(data_dir)
    async with running(config) as server:
        port = server.port
        async with Visitor.connected(server) as visitor, Agent.connected(server) as agent:
            await visitor.start()
            await visitor.say("before the restart", id="b1")
            await agent.accept(visitor.chat or "")
            await agent.say(visitor.chat or "", "an answer", id="r1")
            await visitor.expect("event", kind="message", text="an answer")
            token, chat = visitor.token, visitor.chat
    async with running(config, port=port) as server, Agent.connected(server) as agent:
        mine = [c for c in agent.hello["chats"] if c["id"] == chat]
        assert mine and mine[0]["state"] == "active" and mine[0]["agent"] == "admin"
        async with Visitor.connected(server) as visitor:
            await visitor.send({"type": "resume", "token": token, "after": 0})
            events = await visitor.events_until(lambda e: e.get("text") == "an answer")
            kinds = [(e["kind"], e.get("text") or e.get("state") or e.get("name")) for e in events]
            assert kinds == [
                ("state", "queued"),
                ("message", "before the restart"),
                ("joined", "Admin"),
                ("state", "active"),
                ("message", "an answer"),
            ]
            await visitor.say("after the restart", id="a1")
            event = await agent.expect("event", chat=chat, kind="message")
            assert event["text"] == "after the restart"


async def test_ending_the_chat_then_starting_a_new_one(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        first = visitor.chat
        await visitor.send({"type": "end"})
        ended = await visitor.expect("event", kind="state", state="ended")
        assert ended["seq"] == 2
        await visitor.send({"type": "say", "id": "late", "text": "hello?"})
        error = await visitor.expect("error")
        assert error == {**error, "code": "chat_ended", "id": "late"}
        await visitor.start(nickname="Chris again")
        assert visitor.chat != first


async def test_a_repeated_start_with_the_same_id_gets_the_same_chat(server: Server) -> None:
    # The socket dropped between `start` and `welcome`: the widget sends the same `start` again.
    async with Visitor.connected(server) as first:
        await first.send({"type": "start", "id": "s-1", "nickname": "Chris"})
    async with Visitor.connected(server) as second:
        await second.start(nickname="Chris", id="s-1")
        chats = await server.runtime.store.list_chats()
        assert len(chats) == 1 and chats[0].id == second.chat
        events = await second.events_until(lambda e: e["seq"] == 1)
        assert len(events) == 1  # the chat's log, once: nothing was stored twice
