"""The Omnidesk bridge against the fake Omnidesk, over real HTTP: what the contract suite does not cover.

The fake follows Omnidesk's API documentation (tests/fakes/omnidesk.py); our server runs on a port held
before it starts, so that its ``chat_server`` (the hookpoint base the fake POSTs agent replies to) is
known in its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.omnidesk import FakeOmnidesk
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.contact_centers import FAST_POLLING, eventually
from widget_server import model
from widget_server.adapters import AdapterContext
from widget_server.adapters.omnidesk import OmnideskAdapter, customer_fields, message_fields, read_queue
from widget_server.config import ConfigError
from widget_server.model import Chat, Event
from widget_server.model import Visitor as VisitorInfo
from widget_server.web.hooks_omnidesk import (
    HookCall,
    HookPayloadError,
    agent_activity,
    agents_present,
    read_hook,
)

KEY_ENV = "TEST_OMNIDESK_API_KEY"
SECRET = "hookpoint-secret-0123456789abcdef"
SESSION_PATTERN = re.compile(r"\+?[a-zA-Z0-9\-]{10,65}")


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeOmnidesk, str]]:
    omnidesk = FakeOmnidesk()
    monkeypatch.setenv(KEY_ENV, omnidesk.api_key)
    async with serve(omnidesk.app) as url:
        yield omnidesk, url


def held_port() -> socket.socket:
    """A port bound (SO_REUSEADDR, not listening) so that our server can take it and nobody else."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    return holder


def site_table(url: str, port: int, **settings: Any) -> dict[str, Any]:
    return {
        "name": "Desk",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "omnidesk",
        "limits": {"messages_per_minute": 10_000, "frames_per_second": 1000, "frame_burst": 1000},
        "omnidesk": {
            "base_url": url,
            "api_key_env": KEY_ENV,
            "chat_account_token": "a1b2c3d4e5f6a7b8",
            "chat_server": f"http://127.0.0.1:{port}/hooks/omnidesk/desk/{SECRET}",
            "timeout": 2,
            **settings,
        },
    }


@contextlib.asynccontextmanager
async def desk(data_dir: Path, url: str, **settings: Any) -> AsyncIterator[Server]:
    holder = held_port()
    port = holder.getsockname()[1]
    config = make_config(
        data_dir, {"poller": FAST_POLLING, "sites": {"desk": site_table(url, port, **settings)}}
    )
    try:
        async with running(config, port=port) as server:
            holder.close()
            yield server
    finally:
        holder.close()


def connected(server: Server) -> contextlib.AbstractAsyncContextManager[Visitor]:
    return Visitor.connected(server, site="desk")


async def post_hook(
    server: Server, body: Any, *, secret: str = SECRET, site: str = "desk"
) -> tuple[int, str]:
    """POST to the hookpoint as Omnidesk would: a dict is sent as JSON, a str as urlencoded."""
    url = f"{server.url}/hooks/omnidesk/{site}/{secret}/messageForCustomer"
    async with aiohttp.ClientSession() as http:
        if isinstance(body, str):
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            response = await http.post(url, data=body, headers=headers)
        else:
            response = await http.post(url, json=body)
        async with response:
            return response.status, await response.text()


async def stored(server: Server, chat: str) -> list[Any]:
    return await server.runtime.store.events_after(chat, 0)


# --- outbound -------------------------------------------------------------------------------------------


async def test_every_request_is_multipart_with_the_api_key_and_the_documented_fields(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start(
            nickname="Chris",
            subject="Billing",
            email="chris@example.com",
            userData={"plan": "pro", "phone": "+31 6 1234 5678"},
            page="https://acme.example/pricing",
        )
        chat = visitor.chat or ""
        await visitor.say("Hello?", id="m1")
        await visitor.say("Anyone?", id="m2")
        await eventually(lambda: len(omnidesk.requests_for("notifyUserNewChatMessage")) == 2)
        await visitor.send({"type": "typing", "active": True})
        await visitor.send({"type": "typing", "active": False})
        await visitor.send({"type": "visit", "url": "https://acme.example/checkout"})
        await eventually(lambda: omnidesk.sessions[chat].visits)
        await visitor.send({"type": "end"})
        await eventually(lambda: omnidesk.sessions[chat].ended)
    for request in omnidesk.requests:
        assert request.headers.get("apiKey") == omnidesk.api_key
        assert "apiKey" not in request.query  # never in the URL, where logs keep it
        if request.method == "POST":
            assert request.headers["content-type"].startswith("multipart/form-data")
        assert request.status == 200, request
    session = omnidesk.sessions[chat]
    assert SESSION_PATTERN.fullmatch(chat) and session.texts == ["Hello?", "Anyone?"]
    first, second = (m.fields for m in session.messages)
    assert first["chatServer"] == f"{server.url}/hooks/omnidesk/desk/{SECRET}"
    assert (first["chatSessionID"], first["chatAccountToken"], first["channelID"]) == (
        chat,
        "a1b2c3d4e5f6a7b8",
        8,
    )
    assert (first["messageNumber"], second["messageNumber"]) == (1, 2)
    assert (first["customerName"], first["emailAddress"], first["phoneNumber"]) == (
        "Chris",
        "chris@example.com",
        "+31612345678",
    )
    assert first["url"] == "https://acme.example/pricing"
    assert json.loads(first["additionalData"]) == {
        "plan": "pro",
        "phone": "+31 6 1234 5678",
        "subject": "Billing",
    }
    assert second["customerName"] is None and second["additionalData"] is None  # the ticket has them
    assert len({m.ticket_id for m in session.messages}) == 1
    assert session.events == ["startedtyping", "stoppedtyping"]
    assert session.visits == ["https://acme.example/checkout"]
    assert session.ends == 1


async def test_values_outside_the_documented_patterns_are_left_out_not_refused(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start(
            nickname="José O'Brien", email="josé@exämple.com", userData={"phone": "0612345678"}
        )
        await visitor.say("Hallo", id="m1")
        session = await eventually(lambda: _with_messages(omnidesk, visitor.chat or "", 1))
    sent = omnidesk.requests_for("notifyUserNewChatMessage")[0].form
    assert not {"customerName", "emailAddress", "phoneNumber"} & set(sent)
    assert session.texts == ["Hallo"]


def test_customer_fields_table() -> None:
    def fields(nickname: str, email: str | None = None, **user_data: str) -> dict[str, str]:
        return customer_fields(VisitorInfo(nickname=nickname, email=email, user_data=user_data))

    assert fields("Chris 2")["customerName"] == "Chris 2"
    assert "customerName" not in fields("Zoë")
    assert "customerName" not in fields("a_b")
    assert fields("x", "a@b.example")["emailAddress"] == "a@b.example"
    assert "emailAddress" not in fields("x", "a@localhost")
    assert fields("x", phoneNumber="+1 (555) 010-9999")["phoneNumber"] == "+15550109999"
    assert fields("x", Phone_Number="+44.20.7946.0000")["phoneNumber"] == "+442079460000"
    assert "phoneNumber" not in fields("x", phone="00441234")
    assert "additionalData" not in fields("x")


async def test_message_numbers_stay_within_1_to_50_then_are_left_out(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        for n in range(52):
            await visitor.send({"type": "say", "id": f"m{n}", "text": f"message {n}"})
        session = await eventually(lambda: _with_messages(omnidesk, visitor.chat or "", 52), timeout=10)
    assert session.message_numbers == [*range(1, 51), None, None]
    assert session.texts == [f"message {n}" for n in range(52)]  # in order, each once


def _with_messages(omnidesk: FakeOmnidesk, chat: str, count: int) -> Any:
    session = omnidesk.sessions.get(chat)
    return session if session is not None and len(session.messages) >= count else None


async def test_request_chat_config_when_the_site_is_configured_and_on_start(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server:
        await eventually(lambda: omnidesk.requests_for("requestChatConfig"))  # before any visitor
        assert server.runtime.adapter_context.health["desk"].healthy
        before = len(omnidesk.requests_for("requestChatConfig"))
        async with connected(server) as visitor:
            await visitor.start()
        configs = omnidesk.requests_for("requestChatConfig")
        assert len(configs) == before + 1
        assert configs[-1].form == {
            "chatServer": f"{server.url}/hooks/omnidesk/desk/{SECRET}",
            "chatAccountToken": "a1b2c3d4e5f6a7b8",
        }
        assert not omnidesk.sessions  # the ticket waits for the first message


async def test_a_start_while_omnidesk_is_down_is_refused(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        omnidesk.down()
        await visitor.send({"type": "start", "nickname": "Chris"})
        assert (await visitor.expect("error"))["code"] == "backend_unavailable"


async def test_a_refused_api_key_marks_the_site_unhealthy_and_keeps_the_messages(
    data_dir: Path, fake: tuple[FakeOmnidesk, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        monkeypatch.setenv(KEY_ENV, "not-the-key")
        await visitor.say("kept", id="m1")
        health = await eventually(lambda: _unhealthy(server))
        assert "API key" in health.detail
        monkeypatch.setenv(KEY_ENV, omnidesk.api_key)  # the operator fixes it: what waited is delivered
        await eventually(lambda: _with_messages(omnidesk, visitor.chat or "", 1))
        assert server.runtime.adapter_context.health["desk"].healthy


def _unhealthy(server: Server) -> Any:
    health = server.runtime.adapter_context.health.get("desk")
    return health if health is not None and not health.healthy else None


async def test_a_message_omnidesk_refuses_is_reported_not_delivered(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        omnidesk.fail_next(1, status=400)  # {"status": "error", ...}: not to be repeated unchanged
        await visitor.say("refused", id="m1")
        assert (await visitor.expect("error"))["code"] == "not_delivered"
        await visitor.say("next", id="m2")
        session = await eventually(lambda: _with_messages(omnidesk, visitor.chat or "", 1))
        assert session.texts == ["next"]


# --- the hookpoint --------------------------------------------------------------------------------------


async def test_agent_replies_arrive_at_the_hookpoint(data_dir: Path, fake: tuple[FakeOmnidesk, str]) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        await visitor.say("Hello?", id="m1")
        chat = visitor.chat or ""
        await eventually(lambda: omnidesk.sessions.get(chat))
        call = await omnidesk.agent_reply(chat, "Hi, I am Ana.", "Ana")  # multipart, as the fake sends
        assert call.ok and call.status == 200 and call.answer == "ok"
        joined = await visitor.expect("event", kind="joined")
        await visitor.expect("event", kind="state", state="active")
        reply = await visitor.expect("event", kind="message", **{"from": "agent"})
        assert (joined["name"], reply["name"], reply["text"]) == ("Ana", "Ana", "Hi, I am Ana.")
        # JSON and urlencoded bodies too; the same agent does not join twice.
        assert await post_hook(server, {"chatSessionID": chat, "message": "JSON", "agentName": "Ana"}) == (
            200,
            "ok",
        )
        assert await post_hook(server, f"chatSessionID={chat}&message=form+data&agentName=Ana") == (200, "ok")
        texts = [e.data["text"] for e in await stored(server, chat) if e.kind == "message"]
        assert texts == ["Hello?", "Hi, I am Ana.", "JSON", "form data"]
        assert [e.kind for e in await stored(server, chat)].count("joined") == 1


async def test_a_wrong_secret_gets_404_and_changes_nothing(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    _, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        await visitor.expect("event", kind="state", state="queued")
        chat = visitor.chat or ""
        before = await stored(server, chat)
        body = {"chatSessionID": chat, "message": "forged", "agentName": "Mallory"}
        assert (await post_hook(server, body, secret=SECRET[:-1] + "x"))[0] == 404
        assert (await post_hook(server, body, secret=SECRET + "x"))[0] == 404
        assert (await post_hook(server, body, site="elsewhere"))[0] == 404
        assert (await post_hook(server, {**body, "chatSessionID": str(uuid.uuid4())}))[0] == 404
        assert await stored(server, chat) == before
        await visitor.no_frame()


async def test_the_field_names_are_settings_and_a_message_id_counts_once(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    _, url = fake
    names = {
        "chat_session_id": "session",
        "message": "reply.text",
        "agent_name": "reply.agent",
        "message_id": "id",
    }
    async with desk(data_dir, url, hook_fields=names) as server, connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        body = {"session": chat, "id": "r-1", "reply": {"text": "Nested", "agent": "Ana"}}
        assert await post_hook(server, body) == (200, "ok")
        assert await post_hook(server, body) == (200, "ok")  # delivered again: stored once
        assert (await post_hook(server, {"chatSessionID": chat, "message": "default names"}))[0] == 400
        messages = [e for e in await stored(server, chat) if e.kind == "message"]
        assert [(m.data["name"], m.data["text"]) for m in messages] == [("Ana", "Nested")]


def test_read_hook_and_agent_activity() -> None:
    fields = {
        "chat_session_id": "chatSessionID",
        "message": "message",
        "agent_name": "agentName",
        "event": "event",
        "message_id": "messageID",
    }
    call = read_hook({"chatSessionID": "s", "message": " Hi ", "event": "bogus"}, fields)
    assert call == HookCall("s", "Hi", "Agent", None, None)
    with pytest.raises(HookPayloadError):
        read_hook({"message": "Hi"}, fields)
    with pytest.raises(HookPayloadError):
        read_hook({"chatSessionID": "s"}, fields)
    first = agent_activity(HookCall("s", "Hi", "Ana", None, None), set())
    assert [e.kind for e in first.events] == ["joined", "state", "message"]
    second = agent_activity(HookCall("s", "", "Bo", "joinedchat", None), {"Ana"})
    assert [e.kind for e in second.events] == ["joined"]  # the chat is already active
    typing = agent_activity(HookCall("s", "", "Ana", "startedtyping", None), {"Ana"})
    assert typing.typing == [("Ana", True)] and not typing.events
    closing = agent_activity(HookCall("s", "Bye", "Ana", "endedchat", None), {"Ana"})
    assert [e.kind for e in closing.events] == ["message", "left"] and closing.ended


# --- the queue, files, the widget's state ---------------------------------------------------------------


async def test_the_place_in_the_queue_reaches_the_visitor_until_an_agent_answers(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url, queue_interval=0.1) as server, connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await visitor.say("Hello?", id="m1")
        # Places are told, not stored (as for the built-in contact center): they change for everyone.
        await visitor.expect("queue", position=1)
        omnidesk.queue_position(chat, 3)
        await visitor.expect("queue", position=3)
        await omnidesk.agent_reply(chat, "Here now", "Ana")
        await visitor.expect("event", kind="state", state="active")
        await visitor.expect("event", kind="message", text="Here now")
        # Omnidesk still says 3 (a pinned place outlives the answer in the fake): the answer decides.
        asked = len(omnidesk.requests_for("requestChatQueue"))
        await visitor.no_frame(within=0.5)  # the place is not asked for again, nor shown
        assert len(omnidesk.requests_for("requestChatQueue")) == asked
        states = [e.data for e in await stored(server, chat) if e.kind == "state"]
        assert states == [{"state": "queued"}, {"state": "active"}]


def test_read_queue_shapes() -> None:
    assert read_queue({"queue": [{"chatSessionID": "a", "position": 2}, {"chatSessionID": "b"}]}) == {
        "a": 2,
        "b": 2,
    }
    assert read_queue({"data": {"queue": ["x", "y"]}}) == {"x": 1, "y": 2}
    assert read_queue({"type": "result", "message": "Chat queue."}) == {}


def a_chat(**backend_state: Any) -> Chat:
    visitor = VisitorInfo(nickname="Chris", user_data={"phone": "+3161234"})
    return Chat(str(uuid.uuid4()), "desk", "omnidesk", model.QUEUED, visitor, 0, backend_state=backend_state)


def an_adapter(url: str) -> OmnideskAdapter:
    settings = {
        "base_url": url,
        "api_key_env": KEY_ENV,
        "chat_account_token": "a1b2c3d4e5f6a7b8",
        "chat_server": f"https://chat.example/hooks/omnidesk/desk/{SECRET}",
    }
    return OmnideskAdapter(settings, AdapterContext(), "desk")


async def test_files_go_to_add_attachment(fake: tuple[FakeOmnidesk, str]) -> None:
    omnidesk, url = fake
    adapter = an_adapter(url)
    chat = a_chat()
    file = {"id": "f1", "name": "screen.png", "type": "image/png", "size": 4}
    event = Event(chat.id, 2, 0, model.ATTACHMENT, {"from": "visitor", "name": "Chris", "file": file})
    try:
        await adapter.send_attachment(chat, event, b"\x89PNG")  # before any message: opens the ticket
        await adapter.send_attachment(a_chat_like(chat, delivered_count=1), event, b"\x89PNG")
        await adapter.widget_expanded(chat, True)
        await adapter.widget_expanded(chat, False)
    finally:
        await adapter.context.close()
    session = omnidesk.sessions[chat.id]
    assert session.texts == ["(sent a file: screen.png)"]
    assert [(a.filename, a.content, a.content_type, a.message_number) for a in session.attachments] == [
        ("screen.png", b"\x89PNG", "image/png", None),
        ("screen.png", b"\x89PNG", "image/png", 2),
    ]
    upload = omnidesk.requests_for("addAttachment")[0]
    assert upload.query["chatSessionID"] == chat.id and upload.query["phoneNumber"] == "+3161234"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert session.events == ["expandedchat", "minimizedchat"]


def a_chat_like(chat: Chat, **backend_state: Any) -> Chat:
    return Chat(chat.id, chat.site, chat.backend, chat.state, chat.visitor, 0, backend_state=backend_state)


def test_message_fields_for_later_messages() -> None:
    chat = a_chat()
    assert message_fields(chat, "x", 49)["messageNumber"] == "50"
    assert "messageNumber" not in message_fields(chat, "x", 50)
    assert "customerName" not in message_fields(chat, "x", 1)


# --- settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat_server", "problem"),
    [
        (f"https://chat.example/hooks/omnidesk/my_site/{SECRET}", "'_'"),
        ("https://chat.example/hooks/omnidesk/desk/SECRET", "unguessable"),
        (f"https://chat.example/omnidesk/desk/{SECRET}", "/hooks/omnidesk/SITE/SECRET"),
        (f"https://chat.example/hooks/omnidesk/desk/{SECRET}?x=1", "'_'"),
    ],
)
def test_chat_server_must_fit_omnidesks_pattern_and_carry_a_secret(
    data_dir: Path, chat_server: str, problem: str
) -> None:
    site = site_table("https://account.omnidesk.com", 1, chat_server=chat_server)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        make_config(data_dir, {"sites": {"desk": site}})


async def test_omnidesk_hears_the_widget_opened_and_minimised(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await visitor.say("Hello?", id="m1")
        await eventually(lambda: omnidesk.sessions.get(chat) and omnidesk.sessions[chat].texts == ["Hello?"])
        await visitor.send({"type": "widget", "expanded": False})
        await visitor.send({"type": "widget", "expanded": True})
        await eventually(lambda: omnidesk.sessions[chat].events[-2:] == ["minimizedchat", "expandedchat"])


async def test_delivery_never_passes_a_file_it_cannot_read(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    """A file whose bytes this process cannot read yet (a shared directory not mounted, a database
    hiccup) holds back what follows it, until it can be read: nothing is skipped, nothing reordered."""
    omnidesk, url = fake
    async with desk(data_dir, url) as server, connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await visitor.say("first", id="m1")
        await eventually(lambda: _with_messages(omnidesk, chat, 1))
        # An attachment event naming bytes the file store does not have (yet), then a message.
        file_id = "not-there-yet"
        await server.runtime.service.append(
            chat,
            [
                model.NewEvent(
                    model.ATTACHMENT,
                    {
                        "from": "visitor",
                        "name": "Chris",
                        "file": {"id": file_id, "name": "a.png", "type": "image/png", "size": 4},
                    },
                )
            ],
        )
        await visitor.say("after the file", id="m2")
        await asyncio.sleep(1.0)  # several delivery attempts at the fast test intervals
        session = omnidesk.sessions[chat]
        assert session.texts == ["first"] and session.attachments == []
        # The bytes appear where the file store looks: the file goes first, then the message.
        root = data_dir / "attachments" / chat
        root.mkdir(parents=True, exist_ok=True)
        (root / file_id).write_bytes(b"\x89PNG")
        await eventually(lambda: _with_messages(omnidesk, chat, 2), timeout=10)
        assert [a.content for a in session.attachments] == [b"\x89PNG"]
        assert session.texts == ["first", "after the file"]


async def test_two_processes_that_both_saw_a_new_agent_store_their_joining_once(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    """The decision itself, without the timing: both processes read the log before either stored, so
    both decide the agent is new; the database keeps one joining, and both replies after it."""
    _, url = fake
    async with desk(data_dir, url) as one, desk(data_dir, url) as two, connected(one) as visitor:
        await visitor.start()
        chat = await one.runtime.store.get_chat(visitor.chat or "")
        assert chat is not None
        seen = await one.runtime.store.events_after(chat.id, 0)
        calls = [HookCall(chat.id, f"reply {n}", "Kristi", None, f"r{n}") for n in range(2)]
        for server, call in zip((one, two, one), [*calls, calls[0]], strict=True):  # r0 delivered twice
            activity = agent_activity(call, agents_present(seen))
            assert [e.kind for e in activity.events] == [model.JOINED, model.STATE, model.MESSAGE]
            await server.runtime.service.from_contact_center(
                chat, activity, dedupe_key=call.message_id, seen=seen
            )
        events = await stored(two, chat.id)
        assert [e.kind for e in events if e.kind != model.STATE] == [
            model.JOINED,
            model.MESSAGE,
            model.MESSAGE,
        ]
        assert [e.data["state"] for e in events if e.kind == model.STATE] == ["queued", "active"]
        assert [e.data["text"] for e in events if e.kind == model.MESSAGE] == ["reply 0", "reply 1"]
