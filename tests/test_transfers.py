"""Handing a chat to a colleague: real servers, real consoles and visitors over websockets."""

from __future__ import annotations

import pytest

from tests.support.clients import Agent, Server, Visitor
from tests.test_agent_console import add_agent
from widget_server import model
from widget_server.model import Chat, User
from widget_server.model import Visitor as ChatVisitor
from widget_server.transfers import refusal

PASSWORD = "correct horse"


async def accept(agent: Agent, chat: str) -> None:
    """Accept, and wait until the chat is the agent's (``Agent.accept`` returns on any ``chat`` frame)."""
    await agent.send({"type": "accept", "chat": chat})
    await agent.expect("event", chat=chat, kind="joined")


async def test_a_transfer_hands_the_chat_over_and_the_visitor_sees_who_joined(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with (
        Agent.connected(server, "ana", PASSWORD) as ana,
        Agent.connected(server, "bo", PASSWORD) as bo,
        Visitor.connected(server) as visitor,
    ):
        await visitor.start()
        chat = visitor.chat or ""
        await accept(ana, chat)
        await ana.say(chat, "Hello, let me look.", "m1")
        await visitor.events_until(lambda f: f["kind"] == "message" and f.get("from") == "agent")

        note = "Wants a refund; order 1234."
        await ana.send({"type": "transfer", "chat": chat, "to": "bo", "note": note, "id": "t1"})
        assert await ana.expect("transferred", id="t1") == {
            "type": "transferred",
            "chat": chat,
            "to": "bo",
            "id": "t1",
        }
        summary = await bo.expect("chat", timeout=5)
        while summary["chat"]["id"] != chat or summary["chat"]["agent"] != "bo":
            summary = await bo.expect("chat", timeout=5)
        assert summary["chat"]["agentName"] == "Bo" and summary["chat"]["state"] == "active"

        # The visitor sees Ana leave and Bo join, never the note; the conversation goes on with Bo.
        seen = await visitor.events_until(lambda f: f["kind"] == "joined")
        assert [(f["kind"], f.get("name")) for f in seen][-2:] == [("left", "Ana"), ("joined", "Bo")]
        assert not [f for f in seen if f["kind"] == "note"] and note not in str(seen)
        await bo.say(chat, "Hi, Bo here.", "m2")
        reply = await visitor.events_until(lambda f: f["kind"] == "message" and f.get("from") == "agent")
        assert reply[-1]["name"] == "Bo"

        # Ana is no longer in the chat.
        await ana.send({"type": "say", "chat": chat, "id": "m3", "text": "Still me?"})
        assert (await ana.expect("error", id="m3"))["code"] == "not_yours"

        # One append: the note, left and joined, consecutive in the log.
        stored = await server.runtime.store.events_after(chat, 0)
        kinds = [(e.kind, e.data.get("name")) for e in stored]
        at = kinds.index(("note", "Ana"))
        assert kinds[at : at + 3] == [("note", "Ana"), ("left", "Ana"), ("joined", "Bo")]
        assert stored[at].data["text"] == note
        chat_now = await server.runtime.store.get_chat(chat)
        assert chat_now is not None and (chat_now.agent, chat_now.agent_name) == ("bo", "Bo")


async def test_without_a_note_only_left_and_joined_are_added(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with Agent.connected(server, "ana", PASSWORD) as ana, Visitor.connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await accept(ana, chat)
        before = (await server.runtime.store.get_chat(chat)).last_seq  # type: ignore[union-attr]
        await ana.send({"type": "transfer", "chat": chat, "to": "bo", "note": ""})
        assert "id" not in await ana.expect("transferred", chat=chat)
        added = await server.runtime.store.events_after(chat, before)
        assert [e.kind for e in added] == ["left", "joined"]


async def test_each_refusal_has_its_code(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with (
        Agent.connected(server, "ana", PASSWORD) as ana,
        Agent.connected(server, "bo", PASSWORD) as bo,
        Visitor.connected(server) as visitor,
    ):
        await visitor.start()
        chat = visitor.chat or ""

        async def refused(agent: Agent, frame: dict[str, object]) -> str:
            await agent.send({"type": "transfer", "chat": chat, "id": "x", **frame})
            error = await agent.expect("error", id="x")
            assert error["message"], error
            return str(error["code"])

        assert await refused(ana, {"to": "bo"}) == "not_active"  # still queued
        await accept(ana, chat)
        assert await refused(bo, {"to": "bo"}) == "not_yours"
        assert await refused(ana, {"to": "nobody"}) == "unknown_agent"
        assert await refused(ana, {"to": "ana"}) == "same_agent"
        assert await refused(ana, {"to": ""}) == "invalid_field"
        assert await refused(ana, {"to": "bo", "note": 7}) == "invalid_field"
        assert await refused(ana, {"chat": "no-such-chat", "to": "bo"}) == "not_found"
        chat_now = await server.runtime.store.get_chat(chat)
        assert chat_now is not None and chat_now.agent == "ana"

        await visitor.send({"type": "end"})
        await ana.expect("chat", timeout=5)
        ended = await server.runtime.store.get_chat(chat)
        assert ended is not None
        if ended.state != "ended":  # the end is stored before the console hears it; never mind a race
            await ana.expect("chat", timeout=5)
        assert await refused(ana, {"to": "bo"}) == "chat_ended"


async def test_an_operator_may_transfer_another_agents_chat(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with (
        Agent.connected(server, "ana", PASSWORD) as ana,
        Agent.connected(server) as admin,
        Visitor.connected(server) as visitor,
    ):
        assert admin.hello["me"]["role"] == model.OPERATOR_ROLE
        await visitor.start()
        chat = visitor.chat or ""
        await accept(ana, chat)
        await admin.send({"type": "transfer", "chat": chat, "to": "bo", "note": "Bo knows billing."})
        await admin.expect("transferred", chat=chat)
        stored = await server.runtime.store.events_after(chat, 0)
        assert [(e.kind, e.data["name"]) for e in stored if e.kind in ("note", "left", "joined")][-3:] == [
            ("note", admin.hello["me"]["displayName"]),
            ("left", "Ana"),
            ("joined", "Bo"),
        ]


def _chat(state: str = model.ACTIVE, agent: str | None = "ana", backend: str = "local") -> Chat:
    return Chat("c", "demo", backend, state, ChatVisitor(nickname="V"), 0, agent=agent, agent_name="Ana")


ANA = User("ana", model.AGENT_ROLE, "", "Ana")
BO = User("bo", model.AGENT_ROLE, "", "Bo")
OPERATOR = User("op", model.OPERATOR_ROLE, "", "Op")


@pytest.mark.parametrize(
    ("chat", "by", "target", "code"),
    [
        (_chat(), ANA, BO, None),
        (_chat(), OPERATOR, BO, None),
        (_chat(), BO, ANA, "not_yours"),
        (_chat(), ANA, None, "unknown_agent"),
        (_chat(), ANA, ANA, "same_agent"),
        (_chat(), OPERATOR, ANA, "same_agent"),
        (_chat(state=model.QUEUED, agent=None), ANA, BO, "not_active"),
        (_chat(state=model.ENDED), ANA, BO, "chat_ended"),
        (_chat(backend="gws"), ANA, BO, "unsupported"),
    ],
)
def test_the_rules(chat: Chat, by: User, target: User | None, code: str | None) -> None:
    refused = refusal(chat, by, target, "someone")
    assert (refused.code if refused else None) == code
