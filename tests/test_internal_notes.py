"""Agents' internal notes: written in the console, stored in the chat's log, seen by every agent, and never
by the visitor, the history API or Zendesk. Real servers, real sockets, the real fake Zendesk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.zendesk import FakeZendesk
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Agent, Frame, Server, Visitor, make_config, running
from tests.support.contact_centers import eventually
from tests.test_agent_console import add_agent
from tests.test_attachments import png, upload
from widget_server import model
from widget_server.model import Actor

SECRET = "Internal: refund approved, do not tell"  # a note's text; no visitor-side byte may hold it
ZENDESK_TOKEN = "zendesk-oauth-token-for-notes"


class Tab:
    """A visitor's tab that keeps every frame it receives, to search them for notes afterwards."""

    def __init__(self, visitor: Visitor) -> None:
        self.visitor = visitor
        self.frames: list[Frame] = []

    async def until(self, predicate: Callable[[Frame], bool]) -> Frame:
        while True:
            frame = await self.visitor.recv()
            self.frames.append(frame)
            if predicate(frame):
                return frame

    async def event(self, **fields: Any) -> Frame:
        return await self.until(
            lambda f: f["type"] == "event" and all(f.get(k) == v for k, v in fields.items())
        )

    async def say(self, text: str, id: str) -> Frame:
        await self.visitor.send({"type": "say", "id": id, "text": text})
        return await self.until(lambda f: f["type"] == "ack" and f["id"] == id)

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if f["type"] == "event"]

    def assert_no_note(self) -> None:
        assert not [f for f in self.frames if f.get("kind") == "note"]
        assert "refund approved" not in json.dumps(self.frames)


async def note(agent: Agent, chat: str, text: str, id: str) -> Frame:
    await agent.send({"type": "note", "chat": chat, "id": id, "text": text})
    return await agent.expect("ack", id=id)


async def note_event(agent: Agent, id: str) -> Frame:
    """The note's event on this console: received already (the author's comes before its ack), or next."""
    for frame in agent.frames:
        if frame["type"] == "event" and frame["kind"] == "note" and frame["id"] == id:
            return frame
    return await agent.expect("event", kind="note", id=id)


async def test_an_agents_note_reaches_every_console_and_the_store(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with (
        Agent.connected(server, "ana", "correct horse") as ana,
        Agent.connected(server, "bo", "correct horse") as bo,
        Visitor.connected(server) as visitor,
    ):
        await visitor.start()
        chat = visitor.chat or ""
        await ana.accept(chat)

        ack = await note(ana, chat, "Asked for a refund last week too.", "n1")
        assert ack == {"type": "ack", "id": "n1", "chat": chat, "seq": ack["seq"]}
        for agent in (ana, bo):
            event = await note_event(agent, "n1")
            assert event == {
                "type": "event",
                "chat": chat,
                "seq": ack["seq"],
                "at": event["at"],
                "kind": "note",
                "name": "Ana",
                "text": "Asked for a refund last week too.",
                "id": "n1",
            }
        # Sent again (the ack was lost): the same ack, one note.
        assert (await note(ana, chat, "Asked for a refund last week too.", "n1"))["seq"] == ack["seq"]
        # A colleague who is not in the chat may leave one too, and it reaches the agent who is.
        reply = await note(bo, chat, "Approved by Bo.", "n2")
        assert (await note_event(ana, "n2"))["seq"] == reply["seq"] == ack["seq"] + 1

        stored = await server.runtime.store.events_after(chat, 0)
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert [(e.kind, e.data) for e in stored if e.kind == "note"] == [
            ("note", {"name": "Ana", "text": "Asked for a refund last week too.", "id": "n1"}),
            ("note", {"name": "Bo", "text": "Approved by Bo.", "id": "n2"}),
        ]
        # The console's history holds the notes, numbered with the rest of the log.
        await bo.send({"type": "history", "chat": chat, "after": 0})
        history = await bo.expect("history", chat=chat)
        assert [e["seq"] for e in history["events"]] == [e.seq for e in stored]
        assert [e["kind"] for e in history["events"]][-2:] == ["note", "note"]


async def test_a_note_is_checked_like_a_message(server: Server) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        for frame, field in [
            ({"id": "e1", "text": ""}, "text"),
            ({"id": "e2", "text": "   \n"}, "text"),
            ({"id": "e3", "text": "x" * 4001}, "text"),
            ({"id": "e4", "text": 42}, "text"),
            ({"id": "", "text": "no id"}, "id"),
            ({"text": "no id"}, "id"),
        ]:
            await agent.send({"type": "note", "chat": chat, **frame})
            error = await agent.expect("error")
            assert error["code"] == "invalid_field" and error["field"] == field, frame
            assert error["message"].startswith(f"The field '{field}'"), error
            assert error.get("id") == frame.get("id"), error  # which frame it was, as sent
        await agent.send({"type": "note", "chat": "nope", "id": "e5", "text": "hello"})
        assert (await agent.expect("error", id="e5"))["code"] == "not_found"
        # Exactly the longest a message may be is fine; a queued chat (nobody accepted it) takes notes.
        assert (await note(agent, chat, "x" * 4000, "ok"))["chat"] == chat
        events = await server.runtime.store.events_after(chat, 0)
        assert [e.kind for e in events] == ["state", "note"]


async def test_no_visitor_tab_history_call_or_transcript_ever_carries_a_note(server: Server) -> None:
    """Live, after a reconnect, in a second tab, in the history API: no note. And the visitor's numbering
    stays gapless across notes: acks, live events and resumes all count without them."""
    async with (
        Agent.connected(server) as agent,
        Visitor.connected(server) as first,
        Visitor.connected(server) as second,
    ):
        tab1, tab2 = Tab(first), Tab(second)
        await first.send({"type": "start", "nickname": "Kim"})
        welcome = await tab1.until(lambda f: f["type"] == "welcome")
        chat, token = welcome["chat"], welcome["token"]
        await tab1.event(seq=1, kind="state")
        await second.send({"type": "resume", "token": token, "after": 0})
        await tab2.until(lambda f: f["type"] == "welcome")
        await tab2.event(seq=1)
        await note(agent, chat, SECRET, "n0")  # log seq 2, while the chat waits
        assert (await tab1.say("Where is my refund?", id="m1"))["seq"] == 2
        await agent.accept(chat)
        await note(agent, chat, SECRET, "n1")  # log seq 6
        await agent.say(chat, "Let me check.", id="a1")  # log seq 7
        for tab in (tab1, tab2):
            reply = await tab.event(kind="message", text="Let me check.")
            assert reply["seq"] == 5  # queued, message, joined, active, reply: no room left for notes
        assert (await tab1.say("Thanks", id="m2"))["seq"] == 6  # log seq 8
        await note(agent, chat, SECRET, "n2")  # log seq 9, the last of the log
        await tab2.event(seq=6, id="m2")  # (the first tab's came before its ack)

        # A reconnect resumes after the last seq the tab has: the log's end is beyond it, the visitor's
        # view is not, and "after 6" is the end of what this visitor can see.
        async with Visitor.connected(server) as third:
            tab3 = Tab(third)
            await third.send({"type": "resume", "token": token, "after": 3})
            await tab3.until(lambda f: f["type"] == "welcome")
            assert [(e["seq"], e.get("text")) for e in [await tab3.event(), await tab3.event()]] == [
                (4, None),
                (5, "Let me check."),
            ]
            await tab3.event(seq=6, text="Thanks")
            await third.send({"type": "resume", "token": token, "after": 7})  # the log has 9
            refused = await tab3.until(lambda f: f["type"] == "error")
            assert refused["code"] == "invalid_field" and refused["field"] == "after"
            assert "(6)" in refused["message"]
            await third.send({"type": "resume", "token": token, "after": 6})
            await tab3.until(lambda f: f["type"] == "welcome")
            # Live after a note: the next event is the next number, on every tab.
            await agent.say(chat, "Refund sent.", id="a2")
            for tab in (tab1, tab2, tab3):
                assert (await tab.event(kind="message", text="Refund sent."))["seq"] == 7
            # From the start, replayed from the store.
            await third.send({"type": "resume", "token": token, "after": 0})
            await tab3.until(lambda f: f["type"] == "welcome")
            replay = [await tab3.event() for _ in range(7)]
            assert [e["seq"] for e in replay] == [1, 2, 3, 4, 5, 6, 7]
            await agent.send({"type": "end", "chat": chat})
            await tab3.event(kind="state", state="ended")
            await note(agent, chat, SECRET, "n3")  # after the end: the wrap-up
            await third.send({"type": "rate", "rating": "good", "id": "r1"})
            assert (await tab3.event(kind="rating"))["seq"] == 10  # left, ended, rating
            await third.no_frame()
            tab3.assert_no_note()
        for tab in (tab1, tab2):
            await tab.event(kind="rating")
            await tab.visitor.no_frame()
            assert tab.seqs() == list(range(1, 11))  # every event once, in order, without a gap
            tab.assert_no_note()

        log = await server.runtime.store.events_after(chat, 0)
        assert [e.kind for e in log].count("note") == 4 and log[-1].seq == 14
        visitors_view = await server.runtime.store.visitor_events_after(chat, 0)
        assert [e.visitor_seq for e in visitors_view] == list(range(1, 11))

    # The history API, every way it shows a chat: one, by ids, a list page, a search.
    async with aiohttp.ClientSession() as http:
        _, api_token = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        authorized = {"Authorization": f"Bearer {api_token}"}
        base = server.url + "/api/v2/chat"
        bodies = []
        for path in [f"/chats/{chat}", f"/chats?ids={chat}", "/chats", "/chats/search?q=refund"]:
            async with http.get(base + path, headers=authorized) as response:
                assert response.status == 200, path
                bodies.append(await response.text())
        assert not [body for body in bodies if "refund approved" in body or '"n1"' in body]
        one = json.loads(bodies[0])
        assert [e["msg"] for e in one["history"] if e["type"] == "chat.msg"] == [
            "Where is my refund?",
            "Let me check.",
            "Thanks",
            "Refund sent.",
        ]
        assert one["count"] == {"agent": 2, "total": 4, "visitor": 2}
        async with http.get(base + "/chats/search", params={"q": "approved"}, headers=authorized) as response:
            assert (await response.json())["count"] == 0  # a note's words do not find its chat


async def test_a_visitors_upload_after_a_note_is_numbered_as_the_visitor_counts(server: Server) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await note(agent, chat, SECRET, "n1")
        status, file, _ = await upload(server, visitor.token, png(), site="demo", id="f1")
        assert status == 201 and file["seq"] == 2  # after the queued state; the note is not counted
        assert (await visitor.expect("event", kind="attachment"))["seq"] == 2
        assert (await agent.expect("event", kind="attachment"))["seq"] == 3  # the console counts it


async def test_a_note_is_not_for_another_contact_centers_chat(data_dir: Path) -> None:
    site = {
        "name": "Remote",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "gws",
        "gws": {"base_url": "http://127.0.0.1:9", "contact_center_id": "cc"},
    }
    async with running(make_config(data_dir, {"sites": {"remote": site}})) as server:
        async with Visitor.connected(server, site="remote") as visitor:
            await visitor.send(
                {"type": "leave_message", "id": "o1", "name": "Kim", "email": "k@x.example", "message": "Hi"}
            )
            chat = (await visitor.expect("ack", id="o1"))["chat"]
        async with Agent.connected(server) as agent:
            await agent.send({"type": "note", "chat": chat, "id": "n1", "text": "Called back."})
            error = await agent.expect("error", id="n1")
            assert error["code"] == "unsupported" and "built-in contact center" in error["message"]
        events = await server.runtime.store.events_after(chat, 0)
        assert [e.kind for e in events] == ["message"]


@pytest.fixture
async def zendesk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeZendesk, str]]:
    monkeypatch.setenv("TEST_ZENDESK_TOKEN", ZENDESK_TOKEN)
    fake = FakeZendesk(ZENDESK_TOKEN)
    async with serve(fake.app) as url:
        yield fake, url


async def test_zendesk_gets_the_offline_message_without_the_note_added_before_it_was_sent(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    site = {
        "name": "ACME",
        "allowed_origins": [HOST_ORIGIN],
        "zendesk": {"base_url": url, "token_env": "TEST_ZENDESK_TOKEN"},
    }
    fake.down()  # the message waits in the outbox while an agent writes a note on it
    async with running(make_config(data_dir, {"sites": {"acme": site}})) as server:
        forwarder = server.runtime.forwarder
        assert forwarder is not None
        forwarder.backoff_base_ms, forwarder.backoff_max_ms, forwarder.idle = 50, 200, 0.05
        async with Visitor.connected(server, site="acme") as visitor:
            await visitor.send(
                {"type": "leave_message", "id": "o1", "name": "Kim", "email": "kim@example.com",
                 "message": "Please call me back."}
            )  # fmt: skip
            chat = (await visitor.expect("ack", id="o1"))["chat"]
        await eventually(lambda: fake.requests)
        async with Agent.connected(server) as agent:
            await note(agent, chat, SECRET, "n1")
        fake.down(False)
        await eventually(lambda: fake.created, timeout=10)
        assert [created["message"] for created in fake.created] == ["Please call me back."]
        assert not [r for r in fake.requests if b"refund approved" in r.body]
        kinds = [e.kind for e in await server.runtime.store.events_after(chat, 0)]
        assert kinds == [model.MESSAGE, model.NOTE]
