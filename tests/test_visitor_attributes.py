"""The visitor's attributes (the widget's `set` command, docs/embedding.md): validated on `start` and
`update`, stored with the chat's visitor, shown to agents (GWS's `userData`: tests/test_gws_adapter.py)."""

from __future__ import annotations

from tests.support.clients import Agent, Server, Visitor

# Numbers and booleans are kept as text: every contact center that takes attributes takes strings.
ATTRIBUTES = {"plan": "pro", "seats": 12, "trial": False, "ratio": 0.5}
AS_TEXT = {"plan": "pro", "seats": "12", "trial": "false", "ratio": "0.5"}

BAD_ATTRIBUTES = [
    {f"k{i}": "v" for i in range(21)},  # too many
    {"k" * 65: "v"},  # a name too long
    {"plan": "p" * 1001},  # a value too long
    {"plan": {"tier": "pro"}},  # not a string, number or boolean
    {"plan": ["pro"]},
    {"plan": None},  # null removes, in an update only
    {"seats": 2**60},  # beyond JavaScript's exact integers
    {"plan": "pro\u0000"},  # control characters
]


async def test_bad_attributes_are_refused_with_the_field_and_nothing_is_stored(server: Server) -> None:
    store = server.runtime.store
    async with Visitor.connected(server) as visitor:
        for attributes in BAD_ATTRIBUTES:
            await visitor.send({"type": "start", "nickname": "Chris", "userData": attributes})
            error = await visitor.expect("error")
            assert (error["code"], error["field"]) == ("invalid_field", "userData"), attributes
        assert await store.count_chats() == 0

        await visitor.start(userData={f"k{i}": "v" for i in range(19)})
        chat = visitor.chat or ""
        # During the chat: the same rules, and no more than 20 once merged; nothing changes.
        for frame in (
            {"type": "update", "userData": {"plan": ["pro"]}},
            {"type": "update", "userData": {"a": "1", "b": "2"}},
            {"type": "update", "userData": {"a": "1"}, "email": "not an address"},
        ):
            await visitor.send(frame)
            error = await visitor.expect("error")
            assert error["code"] == "invalid_field" and error["field"] in ("userData", "email"), frame
        stored = await store.get_chat(chat)
        assert stored is not None
        assert stored.visitor.user_data == {f"k{i}": "v" for i in range(19)} and stored.visitor.email is None


async def test_attributes_reach_the_agent_at_start_and_when_they_change(server: Server) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await visitor.start(userData=ATTRIBUTES)
        summary = (await agent.expect("chat"))["chat"]
        assert summary["visitor"]["userData"] == AS_TEXT

        await visitor.send(
            {"type": "update", "email": "chris@example.com", "userData": {"seats": 13, "trial": None}}
        )
        summary = (await agent.expect("chat"))["chat"]
        changed = {"plan": "pro", "seats": "13", "ratio": "0.5"}
        assert summary["visitor"]["userData"] == changed
        assert summary["visitor"]["email"] == "chris@example.com"
        stored = await server.runtime.store.get_chat(visitor.chat or "")
        assert stored is not None and stored.visitor.user_data == changed
        # A page that says the same again on its next view changes nothing, so tells nobody: the next
        # summary the agent gets is the next real change.
        await visitor.send({"type": "update", "userData": {"seats": 13}})
        await visitor.send({"type": "update", "userData": {"plan": "team"}})
        summary = (await agent.expect("chat"))["chat"]
        assert summary["visitor"]["userData"] == {**changed, "plan": "team"}
