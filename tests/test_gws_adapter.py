"""The GWS bridge against the fake GWS server, over real HTTP: what the contract suite does not cover."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.gws import FakeGWS
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.contact_centers import FAST_POLLING, eventually
from widget_server.config import Config


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeGWS, str]]:
    gws = FakeGWS()
    async with serve(gws.app) as url:
        yield gws, url


def gws_config(
    data_dir: Path, url: str, fake: FakeGWS, poller: dict[str, Any] | None = None, **gws: Any
) -> Config:
    site = {
        "name": "ACME",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "gws",
        "gws": {"base_url": url, "contact_center_id": fake.contact_center_id, **gws},
    }
    return make_config(data_dir, {"poller": {**FAST_POLLING, **(poller or {})}, "sites": {"acme": site}})


def chat_of(fake: FakeGWS) -> Any:
    assert len(fake.chats) == 1
    return next(iter(fake.chats.values()))


async def test_requests_are_exactly_as_documented(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws, endpoint="support")) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start(
            nickname="Chris",
            subject="Billing",
            email="c@example.com",
            userData={"plan": "pro"},
            page="https://acme.example/pricing",
        )
        await visitor.say("Hello?", id="m1")
        await visitor.send({"type": "typing", "active": True})
        await eventually(lambda: chat_of(gws).customer_texts)
        await eventually(lambda: any(r.operation == "SendStartTypingNotification" for r in gws.requests))
        await visitor.send({"type": "end"})
        await eventually(lambda: chat_of(gws).completed)
    chat = chat_of(gws)
    assert (chat.nickname, chat.subject, chat.endpoint) == ("Chris", "Billing", "support")
    assert chat.user_data == {
        "plan": "pro",
        "EmailAddress": "c@example.com",
        "PageURL": "https://acme.example/pricing",
    }
    assert chat.customer_texts == ["Hello?"]
    for request in gws.requests:
        assert request.headers.get("ContactCenterId") == gws.contact_center_id
        assert "Authorization" not in request.headers
    request_chat = gws.requests[0]
    assert (request_chat.method, request_chat.path) == ("POST", "/api/v2/chats/")
    assert request_chat.json["operationName"] == "RequestChat"
    polls = [r for r in gws.requests if r.method == "GET"]
    assert polls and all(r.path == f"/api/v2/chats/{chat.id}/messages" for r in polls)
    assert all(int(r.query["index"]) >= 1 for r in polls)
    assert chat.requests_after_complete == 0  # "no further requests should be sent"


async def test_the_host_pages_attributes_go_as_user_data_strings(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        # As widget.js sends what the page gave WidgetServer("set", {attributes}).
        await visitor.start(email="c@example.com", userData={"plan": "pro", "seats": 12, "trial": False})
        await eventually(lambda: gws.chats)
    # GWS takes string values only (the fake refuses others, as documented).
    expected = {"plan": "pro", "seats": "12", "trial": "false", "EmailAddress": "c@example.com"}
    assert chat_of(gws).user_data == expected


async def test_the_general_pages_path_form(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws, poll_path="me")) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        gws.agent_join(chat_of(gws).id, "Kristi")
        await visitor.expect("event", kind="joined")
    polls = [r.path for r in gws.requests if r.method == "GET"]
    assert polls and all(p == f"/api/v2/me/chat/{chat_of(gws).id}/messages" for p in polls)


async def test_the_visitors_own_messages_are_not_shown_twice(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        gws.agent_join(chat_of(gws).id, "Kristi")
        await visitor.say("mine", id="m1")
        await eventually(lambda: chat_of(gws).customer_texts)
        gws.agent_say(chat_of(gws).id, "theirs")
        later = await visitor.events_until(lambda e: e.get("text") == "theirs")
        assert [e.get("text") for e in later if e["kind"] == "message"] == ["theirs"]  # no second "mine"
        stored = await server.runtime.store.events_after(visitor.chat or "", 0)
        assert [e.data["text"] for e in stored if e.kind == "message"] == ["mine", "theirs"]


async def test_a_restart_resumes_polling_at_the_stored_cursor(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    config = gws_config(data_dir, url, gws, poller={"grace": 30})
    async with running(config) as server, Visitor.connected(server, site="acme") as visitor:
        await visitor.start()
        token = visitor.token
        gws_id = chat_of(gws).id
        gws.agent_join(gws_id, "Kristi")
        gws.agent_say(gws_id, "before")
        await visitor.expect("event", kind="message", text="before")
    # While we are down, the agent writes.
    gws.agent_say(gws_id, "while you were down")
    async with running(config) as server:
        await eventually(lambda: _texts(server, visitor.chat or "", 2))
        async with Visitor.connected(server, site="acme") as again:
            await again.send({"type": "resume", "token": token, "after": 0})
            events = await again.events_until(lambda e: e.get("text") == "while you were down")
            texts = [e["text"] for e in events if e["kind"] == "message"]
            assert texts == ["before", "while you were down"]
            await again.no_frame(0.5)


async def _texts(server: Server, chat: str, count: int) -> bool:
    events = await server.runtime.store.events_after(chat, 0)
    return len([e for e in events if e.kind == "message"]) >= count


async def test_polling_goes_on_for_the_grace_period_then_completes(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    async with running(gws_config(data_dir, url, gws, poller={"grace": 1.0})) as server:
        async with Visitor.connected(server, site="acme") as visitor:
            await visitor.start()
            gws_id = chat_of(gws).id
            gws.agent_join(gws_id, "Kristi")
            await visitor.expect("event", kind="joined")
            token, chat = visitor.token, visitor.chat or ""
        # The visitor's phone is locked: the agent's reply is fetched anyway.
        gws.agent_say(gws_id, "still there?")
        await eventually(lambda: _texts(server, chat, 1), timeout=0.9)
        assert not chat_of(gws).completed
        await eventually(lambda: chat_of(gws).completed, timeout=3)
        stored = await server.runtime.store.get_chat(chat)
        assert stored is not None and stored.state == "ended"
        async with Visitor.connected(server, site="acme") as back:
            await back.send({"type": "resume", "token": token, "after": 0})
            events = await back.events_until(lambda e: e.get("state") == "ended")
            assert [e.get("text") for e in events if e["kind"] == "message"] == [
                "still there?",
                "The visitor left the chat.",
            ]


async def test_a_dropped_chat_ends_for_the_visitor(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        gws.drop_chat(chat_of(gws).id)  # statusCode 6 from now on
        await visitor.expect("event", kind="state", state="ended")


async def test_429_retry_after_is_honoured(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        await asyncio.sleep(0.3)
        gws.rate_limit_next(1, retry_after=1)
        limited = await eventually(lambda: [r for r in gws.requests if r.answered == [429]])
        await asyncio.sleep(1.3)
        after = [r.at for r in gws.requests if r.at > limited[0].at]
        assert after and min(after) - limited[0].at >= 1.0


async def test_requestchat_failing_leaves_nothing_and_can_be_retried(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        gws.refuse_next(1, status_code=4)
        await visitor.send({"type": "start", "nickname": "Chris"})
        error = await visitor.expect("error")
        assert error["code"] == "backend_unavailable"
        gws.fail_next(1, status=503)
        await visitor.send({"type": "start", "nickname": "Chris"})
        assert (await visitor.expect("error"))["code"] == "backend_unavailable"
        assert await server.runtime.store.count_chats() == 0 and gws.chats == {}
        await visitor.start()
        assert await server.runtime.store.count_chats() == 1 and len(gws.chats) == 1


@pytest.mark.parametrize("empty_index_zero", [False, True], ids=["index-0-is-all", "index-0-is-empty"])
async def test_an_answer_lost_in_a_timeout_does_not_send_twice(
    data_dir: Path, fake: tuple[FakeGWS, str], empty_index_zero: bool
) -> None:
    """Whether the send arrived is read from the transcript, also from a GWS server that answers
    index=0 with nothing (the check reads from index 1, the first message)."""
    gws, url = fake
    gws.empty_index_zero = empty_index_zero
    async with (
        running(gws_config(data_dir, url, gws, timeout=0.3)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        gws_id = chat_of(gws).id
        gws.agent_join(gws_id, "Kristi")
        gws.lose_answers(1)
        await visitor.say("only once", id="m1")
        await visitor.say("and then this", id="m2")
        await eventually(lambda: len(chat_of(gws).customer_texts) >= 2, timeout=5)
        await asyncio.sleep(0.5)
        assert chat_of(gws).customer_texts == ["only once", "and then this"]


async def test_a_message_refused_for_good_is_reported(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with running(gws_config(data_dir, url, gws, poller={"grace": 30})) as server:
        async with Visitor.connected(server, site="acme") as visitor:
            await visitor.start()
            await asyncio.sleep(0.3)  # let the first polls pass
            gws.delay(0.2)
            await visitor.say("refused", id="bad")
            gws.refuse_next(1, status_code=10)
            gws.delay(0)
            error = await visitor.expect("error")
            assert error == {**error, "code": "not_delivered", "id": "bad"}
            await visitor.say("accepted", id="good")
            await eventually(lambda: chat_of(gws).customer_texts == ["accepted"])
            token = visitor.token
        async with Visitor.connected(server, site="acme") as back:
            await back.send({"type": "resume", "token": token, "after": 0})
            assert (await back.expect("error"))["id"] == "bad"


async def test_shutdown_stops_polling(data_dir: Path, fake: tuple[FakeGWS, str]) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        await asyncio.sleep(0.3)
    count = len(gws.requests)
    await asyncio.sleep(0.5)
    assert len(gws.requests) == count
    with contextlib.suppress(Exception):
        assert server.runtime.service.pollers.get(visitor.chat or "") is None


async def test_visitors_are_told_when_their_messages_wait_for_a_long_outage(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    gws, url = fake
    async with (
        running(gws_config(data_dir, url, gws)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        gws.fail_next(1000, status=503)
        await visitor.say("anyone?", id="m1")
        notice = await visitor.expect("error", timeout=5)
        assert notice["code"] == "backend_unavailable" and "saved" in notice["message"]
        gws.clear_faults()
        await eventually(lambda: chat_of(gws).customer_texts == ["anyone?"])


async def test_an_agent_who_left_before_the_next_poll_is_still_seen_leaving(
    data_dir: Path, fake: tuple[FakeGWS, str]
) -> None:
    """The agent joins and leaves between two polls, and the visitor writes: GWS refuses the message
    (the chat is Idle). A last poll still shows the visitor who was there and that they left."""
    gws, url = fake
    slow = {"active_interval": 30, "idle_interval": 30}
    async with (
        running(gws_config(data_dir, url, gws, poller=slow)) as server,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        await eventually(
            lambda: any(r.method == "GET" for r in gws.requests)
        )  # the first poll; the next in 30 s
        chat = chat_of(gws)
        gws.agent_join(chat.id, "Ana")
        gws.agent_leave(chat.id)
        await visitor.send({"type": "say", "id": "m1", "text": "Anyone there?"})
        left = await visitor.expect("event", kind="left")
        assert left["name"] == "Ana"
        await visitor.expect("event", kind="state", state="ended")
