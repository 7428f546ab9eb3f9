"""The adapter contract: what a visitor and an agent see, the same for every backend.

Each backend is a parameter of the fixtures below (tests/support/contact_centers.py): the built-in
contact center through the real agent console, the others through their fake servers. Adding a
contact center is one class there and one name here.

A contact center's quirks are attributes of its side class, never an ``if`` in a test: a
test that needs typing takes the ``typing`` fixture, which runs over the sides that carry it, and the
sides that do not are held to that by ``test_a_contact_center_without_typing_hears_none``; the
``fallible`` fixture runs over the contact centers that can be down apart from us. Every chat
here opens as a real one does, with the visitor's first message (some contact centers create their
chat only then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clients import Server, Visitor, make_config, running
from tests.support.contact_centers import (
    FAST_POLLING,
    AgentSide,
    GWSSide,
    HelpCrunchSide,
    LocalSide,
    OmnideskSide,
    eventually,
)

SIDES: dict[str, type[AgentSide]] = {
    "local": LocalSide,
    "gws": GWSSide,
    "helpcrunch": HelpCrunchSide,
    "omnidesk": OmnideskSide,
}
WITH_TYPING = sorted(name for name, side in SIDES.items() if side.carries_typing)
WITHOUT_TYPING = sorted(name for name, side in SIDES.items() if not side.carries_typing)
# The built-in contact center is our own database: it cannot be down while we are up.
CAN_BE_DOWN = sorted(name for name, side in SIDES.items() if side.can_be_down)
OPENING = "Hello!"  # every chat here starts with it


@dataclass
class Setup:
    server: Server
    side: AgentSide


@contextlib.asynccontextmanager
async def set_up(name: str, data_dir: Path) -> AsyncIterator[Setup]:
    side = SIDES[name]()
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(side, GWSSide):
            await stack.enter_async_context(side.serving())
        config = make_config(data_dir, {"poller": FAST_POLLING, "sites": {"contract": side.site()}})
        server = await stack.enter_async_context(running(config))
        await stack.enter_async_context(side.running(server))
        yield Setup(server, side)


@pytest.fixture(params=sorted(SIDES))
async def setup(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Setup]:
    async with set_up(request.param, data_dir) as ready:
        yield ready


@pytest.fixture(params=WITH_TYPING)
async def typing(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Setup]:
    async with set_up(request.param, data_dir) as ready:
        yield ready


@pytest.fixture(params=WITHOUT_TYPING)
async def no_typing(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Setup]:
    async with set_up(request.param, data_dir) as ready:
        yield ready


@pytest.fixture(params=CAN_BE_DOWN)
async def fallible(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Setup]:
    async with set_up(request.param, data_dir) as ready:
        yield ready


def visitor(setup: Setup) -> contextlib.AbstractAsyncContextManager[Visitor]:
    return Visitor.connected(setup.server, site="contract")


async def begin(setup: Setup, v: Visitor, **fields: object) -> str:
    """Start a chat the way a visitor does: the form, then a first message. Returns the chat id."""
    await v.start(**fields)
    await v.say(OPENING, id="opening")
    return v.chat or ""


async def test_start_and_visitor_messages_reach_the_agent_in_order(setup: Setup) -> None:
    async with visitor(setup) as v:
        chat = await begin(setup, v, nickname="Chris", subject="Billing")
        for n in range(3):
            await v.say(f"question {n}", id=f"q{n}")
        texts = await eventually(lambda: _texts_if(setup, chat, 4))
        assert texts == [OPENING, "question 0", "question 1", "question 2"]


async def _texts_if(setup: Setup, chat: str, count: int) -> list[str] | None:
    texts = await setup.side.visitor_texts(chat)
    return texts if len(texts) >= count else None


async def test_the_agent_joins_and_answers(setup: Setup) -> None:
    async with visitor(setup) as v:
        chat = await begin(setup, v)
        await setup.side.agent_join(chat, "Ana")
        joined = await v.expect("event", kind="joined")
        await v.expect("event", kind="state", state="active")
        await setup.side.agent_say(chat, "How can I help?")
        reply = await v.expect("event", kind="message")
        assert (
            reply["from"] == "agent"
            and reply["text"] == "How can I help?"
            and reply["name"] == joined["name"]
        )


async def test_the_agent_typing_reaches_the_visitor(typing: Setup) -> None:
    async with visitor(typing) as v:
        chat = await begin(typing, v)
        await typing.side.agent_join(chat, "Ana")
        joined = await v.expect("event", kind="joined")
        await typing.side.agent_typing(chat, True)
        frame = await v.expect("typing")
        assert frame["active"] is True and frame["name"] == joined["name"]


async def test_visitor_typing_reaches_the_agent(typing: Setup) -> None:
    async with visitor(typing) as v:
        chat = await begin(typing, v)
        await typing.side.agent_join(chat, "Ana")
        await v.send({"type": "typing", "active": True})
        assert await eventually(lambda: typing.side.visitor_typing(chat)) is True
        await v.send({"type": "typing", "active": False})
        await eventually(lambda: _is_false(typing.side.visitor_typing(chat)))


async def test_a_contact_center_without_typing_hears_none(no_typing: Setup) -> None:
    """Typing is best effort: where the contact center has no way to carry it, nothing is sent, and
    the visitor's chat goes on."""
    async with visitor(no_typing) as v:
        chat = await begin(no_typing, v)
        await v.send({"type": "typing", "active": True})
        await v.say("typed and sent", id="typed")
        texts = await eventually(lambda: _texts_if(no_typing, chat, 2))
        assert texts == [OPENING, "typed and sent"]
        assert await no_typing.side.visitor_typing(chat) is None


async def _is_false(value: object) -> bool:
    return await value is False  # type: ignore[misc]


async def test_the_agent_leaving_ends_the_chat(setup: Setup) -> None:
    async with visitor(setup) as v:
        chat = await begin(setup, v)
        await setup.side.agent_join(chat, "Ana")
        await v.expect("event", kind="state", state="active")
        await setup.side.agent_leave(chat)
        left = await v.expect("event", kind="left")
        assert left["name"]
        await v.expect("event", kind="state", state="ended")
        await v.send({"type": "say", "id": "late", "text": "hello?"})
        assert (await v.expect("error"))["code"] == "chat_ended"


async def test_the_visitor_ending_reaches_the_contact_center(setup: Setup) -> None:
    async with visitor(setup) as v:
        chat = await begin(setup, v)
        await v.say("one last thing", id="last")
        await v.send({"type": "end"})
        await v.expect("event", kind="state", state="ended")
        await eventually(lambda: setup.side.ended_there(chat))
        # What was said before the end arrived before the end.
        assert (await setup.side.visitor_texts(chat))[-1] == "one last thing"


async def test_resume_mid_chat_gets_what_was_missed(setup: Setup) -> None:
    async with visitor(setup) as v:
        chat = await begin(setup, v)
        token = v.token
        await setup.side.agent_join(chat, "Ana")
        seen = await v.events_until(lambda e: e["kind"] == "state" and e["state"] == "active")
        last_seq = seen[-1]["seq"]
    # The visitor is away (a reload): the agent writes meanwhile.
    await setup.side.agent_say(chat, "Are you still there?")
    await eventually(lambda: _stored_agent_message(setup, chat))
    async with visitor(setup) as v:
        await v.send({"type": "resume", "token": token, "after": last_seq})
        await v.expect("welcome")
        missed = await v.expect("event", kind="message")
        assert missed["seq"] == last_seq + 1 and missed["text"] == "Are you still there?"


async def _stored_agent_message(setup: Setup, chat: str) -> bool:
    events = await setup.server.runtime.store.events_after(chat, 0)
    return any(e.kind == "message" and e.data["from"] == "agent" for e in events)


async def test_a_backend_outage_delays_but_loses_nothing(fallible: Setup) -> None:
    async with visitor(fallible) as v:
        chat = await begin(fallible, v)
        await fallible.side.agent_join(chat, "Ana")
        await v.expect("event", kind="state", state="active")
        await eventually(lambda: _texts_if(fallible, chat, 1))
        with fallible.side.outage():
            # Stored and acknowledged although the contact center is down.
            await v.say("during the outage 1", id="o1")
            await v.say("during the outage 2", id="o2")
            await asyncio.sleep(0.6)  # several delivery attempts and polls fail meanwhile
            assert await fallible.side.visitor_texts(chat) == [OPENING]
        await fallible.side.agent_say(chat, "Back again")
        reply = await v.expect("event", kind="message", text="Back again")
        assert reply["from"] == "agent"
        texts = await eventually(lambda: _texts_if(fallible, chat, 3))
        assert texts == [OPENING, "during the outage 1", "during the outage 2"]
