"""The HelpCrunch bridge against the fake HelpCrunch, over real HTTP: what the contract suite does not cover.

The fake (tests/fakes/helpcrunch.py) follows HelpCrunch's REST API documentation; our server runs for real
and the fake posts its signed webhooks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.helpcrunch import (
    ALL_EVENTS,
    DEFAULT_API_KEY,
    DEFAULT_APPLICATION,
    FakeHelpCrunch,
    sign,
)
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.contact_centers import FAST_POLLING, eventually
from widget_server import model
from widget_server.adapters import AdapterContext, BackendRefused, BackendUnavailable, ChatGone
from widget_server.adapters.helpcrunch import (
    HelpCrunchAdapter,
    classify,
    map_hook,
    map_messages,
    parse_hook,
    signature_valid,
)
from widget_server.config import Config
from widget_server.model import Actor, Chat, Event

KEY_ENV = "TEST_HELPCRUNCH_API_KEY"
SECRET_ENV = "TEST_HELPCRUNCH_WEBHOOK_KEY"
SECRET = "whsec-shop-signing-key"
DEPARTMENT, ASSIGNEE = 233048, 4188  # the fake's defaults, as in HelpCrunch's documentation


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeHelpCrunch, str]]:
    helpcrunch = FakeHelpCrunch()
    async with serve(helpcrunch.app) as url:
        yield helpcrunch, url + "/v1"


def settings(base_url: str, *, webhooks: bool = True, **more: Any) -> dict[str, Any]:
    table = {
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "application": DEFAULT_APPLICATION,
        "rate_limit_pause": 1,
        "status_interval": 0.3,
        "timeout": 2,
        **more,
    }
    if webhooks:
        table["webhook_secret_env"] = SECRET_ENV
    return table


def hc_config(
    data_dir: Path, base_url: str, *, webhooks: bool = True, poller: dict[str, Any] | None = None, **more: Any
) -> Config:
    site = {
        "name": "Shop",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "helpcrunch",
        "helpcrunch": settings(base_url, webhooks=webhooks, **more),
    }
    return make_config(data_dir, {"poller": {**FAST_POLLING, **(poller or {})}, "sites": {"shop": site}})


@contextlib.asynccontextmanager
async def shop(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str], *, webhooks: bool = True, **more: Any
) -> AsyncIterator[Server]:
    helpcrunch, url = fake
    async with running(hc_config(data_dir, url, webhooks=webhooks, **more)) as server:
        if webhooks:
            helpcrunch.set_webhook(hook_url(server), SECRET)
        yield server


def hook_url(server: Server, site: str = "shop") -> str:
    return f"{server.url}/hooks/helpcrunch/{site}"


def chat_of(helpcrunch: FakeHelpCrunch, our_chat: str | None) -> Any:
    found = [c for c in helpcrunch.chats.values() if c.customer.user_id == our_chat]
    return found[-1] if found else None


async def opened(helpcrunch: FakeHelpCrunch, visitor: Visitor, text: str = "Hello?") -> Any:
    """The visitor's first message, and the HelpCrunch chat it created."""
    await visitor.say(text, id="first")
    return await eventually(lambda: chat_of(helpcrunch, visitor.chat))


def message_delivery(helpcrunch: FakeHelpCrunch) -> Any:
    """The webhook delivery of the last agent message (the status change and assignment follow it)."""
    return [d for d in helpcrunch.deliveries if d.event.event == "message.chat.agent"][-1]


async def stored(server: Server, chat: str | None) -> list[Event]:
    return await server.runtime.store.events_after(chat or "", 0)


# --- what goes out --------------------------------------------------------------------------------------


async def test_requests_are_exactly_as_documented(data_dir: Path, fake: tuple[FakeHelpCrunch, str]) -> None:
    helpcrunch, _ = fake
    more = {"department": DEPARTMENT, "assignee": ASSIGNEE}
    async with shop(data_dir, fake, **more) as server, Visitor.connected(server, site="shop") as visitor:
        await visitor.start(
            nickname="Chris",
            subject="Billing",
            email="c@example.com",
            userData={"plan": "pro"},
            page="https://shop.example/cart",
        )
        await asyncio.sleep(0.3)
        assert helpcrunch.requests == []  # nothing is created before the visitor writes
        await visitor.say("Hello?", id="m1")
        await visitor.say("Anyone there?", id="m2")
        hc = await eventually(
            lambda: (c := chat_of(helpcrunch, visitor.chat)) and len(c.customer_texts) == 2 and c
        )
        await visitor.send({"type": "end"})
        await eventually(lambda: hc.status == "closed")
        record = await server.runtime.store.get_chat(visitor.chat or "")
    assert hc.customer_texts == ["Hello?", "Anyone there?"]
    requests = helpcrunch.requests
    assert [(r.method, r.path, r.status) for r in requests] == [
        ("POST", "/v1/customers", 201),
        ("POST", "/v1/chats", 201),
        ("POST", "/v1/messages", 200),
        ("POST", "/v1/messages", 200),
        ("PUT", "/v1/chats/status", 200),
    ]
    assert all(r.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}" for r in requests)
    assert requests[0].json == {
        "name": "Chris",
        "email": "c@example.com",
        "userId": visitor.chat,
        "customData": [
            {"property": "subject", "value": "Billing"},
            {"property": "page", "value": "https://shop.example/cart"},
            {"property": "plan", "value": "pro"},
        ],
    }
    customer = hc.customer.id
    assert requests[1].json == {
        "customer": customer,
        "application": DEFAULT_APPLICATION,
        "department": DEPARTMENT,
        "assignee": ASSIGNEE,
    }
    assert requests[2].json == {
        "chat": hc.id,
        "text": "Hello?",
        "type": "message",
    }  # no agent: the customer's
    assert requests[3].json == {"chat": hc.id, "text": "Anyone there?", "type": "message"}
    assert requests[4].json == {"id": hc.id, "status": "closed"}
    assert record is not None
    assert record.backend_state["customer_id"] == customer and record.backend_state["chat_id"] == hc.id


async def test_a_visitor_who_never_writes_leaves_nothing_there(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with shop(data_dir, fake) as server, Visitor.connected(server, site="shop") as visitor:
        await visitor.start()
        await visitor.send({"type": "typing", "active": True})  # HelpCrunch has no typing: no request
        await visitor.send({"type": "end"})
        await visitor.expect("event", kind="state", state="ended")
        await asyncio.sleep(0.3)
    assert helpcrunch.requests == [] and helpcrunch.customers == {}


# --- what comes back by webhook -------------------------------------------------------------------------


async def test_replies_come_by_webhook_and_closing_there_ends_the_chat(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with shop(data_dir, fake) as server, Visitor.connected(server, site="shop") as visitor:
        helpcrunch.set_webhook(hook_url(server), SECRET, events=ALL_EVENTS)  # we also get what we ignore
        await visitor.start()
        hc = await opened(helpcrunch, visitor)
        await helpcrunch.agent_note(hc.id, "private: check the refund policy")
        await helpcrunch.agent_reply(hc.id, "How can I help?", "Derek Swanson")
        events = await visitor.events_until(lambda e: e["kind"] == "message" and e["from"] == "agent")
        assert [(e["kind"], e.get("name"), e.get("state"), e.get("text")) for e in events[-3:]] == [
            ("joined", "Derek Swanson", None, None),
            ("state", None, "active", None),
            ("message", "Derek Swanson", None, "How can I help?"),
        ]
        await helpcrunch.close_chat(hc.id)
        left = await visitor.expect("event", kind="left")
        assert left["name"] == "Derek Swanson"
        await visitor.expect("event", kind="state", state="ended")
        await visitor.send({"type": "say", "id": "late", "text": "hello?"})
        assert (await visitor.expect("error"))["code"] == "chat_ended"
        log = await stored(server, visitor.chat)
    texts = [e.data["text"] for e in log if e.kind == "message"]
    assert texts == ["Hello?", "How can I help?"]  # no private note, no echo of the visitor's message
    assert all(d.delivered for d in helpcrunch.deliveries)
    assert not [r for r in helpcrunch.requests if r.method == "GET"]  # webhook mode does not poll
    # The poller tells HelpCrunch of the end as always (a webhook cannot tell it the chat was closed
    # there); closing a closed chat changes nothing.
    assert [r.operation for r in helpcrunch.requests].count("UpdateChatStatus") == 1
    assert hc.closed_by == "agent" and hc.status == "closed"


async def test_bad_or_missing_signatures_get_401_and_change_nothing(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with (
        shop(data_dir, fake) as server,
        Visitor.connected(server, site="shop") as visitor,
        aiohttp.ClientSession() as http,
    ):
        await visitor.start()
        hc = await opened(helpcrunch, visitor)
        before = await stored(server, visitor.chat)
        await helpcrunch.settle()
        earlier = len(helpcrunch.deliveries)
        helpcrunch.set_webhook(hook_url(server), "someone-elses-key")
        await helpcrunch.agent_reply(hc.id, "signed with the wrong key")
        assert {a.status for d in helpcrunch.deliveries[earlier:] for a in d.attempts} == {401}
        delivery = message_delivery(helpcrunch)
        body = delivery.attempts[-1].body
        for headers in ({}, {"X-HelpCrunch-Signature": ""}, {"X-HelpCrunch-Signature": sign(body, "nope")}):
            async with http.post(hook_url(server), data=body, headers=headers) as response:
                assert response.status == 401
        tampered = body.replace(b"signed with the wrong key", b"tampered with")
        headers = {"X-HelpCrunch-Signature": sign(body, SECRET)}
        async with http.post(hook_url(server), data=tampered, headers=headers) as response:
            assert response.status == 401
        assert await stored(server, visitor.chat) == before
        await visitor.no_frame(0.2)
        # Other sites, and sites without a webhook secret, have no hook at all.
        async with http.post(hook_url(server, "nosuch"), data=body, headers=headers) as response:
            assert response.status == 404
        # The same body signed with the right key is accepted: it was only the signature.
        async with http.post(hook_url(server), data=body, headers=headers) as response:
            assert response.status == 200 and (await response.json())["stored"] is True
        reply = await visitor.expect("event", kind="message")
        assert reply["text"] == "signed with the wrong key"


async def test_a_delivery_repeated_by_helpcrunch_counts_once(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with (
        shop(data_dir, fake) as server,
        Visitor.connected(server, site="shop") as visitor,
        aiohttp.ClientSession() as http,
    ):
        await visitor.start()
        hc = await opened(helpcrunch, visitor)
        await helpcrunch.agent_reply(hc.id, "only once")
        await visitor.expect("event", kind="message", text="only once")
        delivery = message_delivery(helpcrunch)
        # HelpCrunch retries with attempts and lastAttemptAt changed: the same event id.
        again = json.dumps({**delivery.payload, "attempts": 1, "lastAttemptAt": 1}).encode()
        for body in (delivery.attempts[-1].body, again):
            headers = {"X-HelpCrunch-Signature": sign(body, SECRET)}
            async with http.post(hook_url(server), data=body, headers=headers) as response:
                assert response.status == 200 and (await response.json())["stored"] is False
        await visitor.no_frame(0.3)
        log = await stored(server, visitor.chat)
    assert [e.data["text"] for e in log if e.kind == "message" and e.data["from"] == "agent"] == ["only once"]
    assert [e.kind for e in log].count("joined") == 1


# --- polling when there is no webhook -------------------------------------------------------------------


async def test_without_a_webhook_secret_replies_and_the_close_are_polled(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with (
        shop(data_dir, fake, webhooks=False) as server,
        Visitor.connected(server, site="shop") as visitor,
    ):
        await visitor.start()
        await asyncio.sleep(0.3)
        assert helpcrunch.requests == []  # nothing to poll before the chat exists there
        hc = await opened(helpcrunch, visitor)
        await helpcrunch.agent_note(hc.id, "not for the visitor")
        await helpcrunch.agent_reply(hc.id, "Polled reply", "Derek Swanson")
        await helpcrunch.agent_reply(hc.id, "And another", "Derek Swanson")
        events = await visitor.events_until(lambda e: e.get("text") == "And another")
        assert [(e["kind"], e.get("text")) for e in events if e["kind"] != "visit"][-4:] == [
            ("joined", None),
            ("state", None),
            ("message", "Polled reply"),
            ("message", "And another"),
        ]
        await helpcrunch.close_chat(hc.id)
        assert (await visitor.expect("event", kind="left"))["name"] == "Derek Swanson"
        await visitor.expect("event", kind="state", state="ended")
        await asyncio.sleep(0.3)
    polls = [r for r in helpcrunch.requests if r.method == "GET"]
    paths = {r.path for r in polls}
    assert paths == {f"/v1/chats/{hc.id}/messages", f"/v1/chats/{hc.id}"}
    assert all(r.query.keys() == {"offset", "limit"} for r in polls if r.path.endswith("/messages"))
    assert "UpdateChatStatus" not in [r.operation for r in helpcrunch.requests]  # closed there already
    assert helpcrunch.deliveries == []


# --- the account's request budget -----------------------------------------------------------------------


async def test_all_chats_of_the_account_share_one_request_budget(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    # 120 a minute: a burst of 20, then 2 a second, for every chat together.
    async with shop(data_dir, fake, requests_per_minute=120) as server, contextlib.AsyncExitStack() as stack:
        visitors = [await stack.enter_async_context(Visitor.connected(server, site="shop")) for _ in range(8)]
        for visitor in visitors:
            await visitor.start()
        await asyncio.gather(*(v.say("Hello", id="m1") for v in visitors))
        await eventually(lambda: len(helpcrunch.requests) >= 24, timeout=10)
    times = sorted(r.at for r in helpcrunch.requests)
    assert len(times) == 24 and all(r.status < 300 for r in helpcrunch.requests)
    # Eight chats' own budgets would have let all 24 go at once; the account's lets 20 go, then 2 a second.
    assert times[-1] - times[0] >= 1.4
    assert sum(1 for t in times if t - times[0] < 0.9) <= 22


async def test_a_429_holds_back_every_chat_of_the_account(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with (
        shop(data_dir, fake, rate_limit_pause=1) as server,
        Visitor.connected(server, site="shop") as first,
        Visitor.connected(server, site="shop") as second,
    ):
        for visitor in (first, second):
            await visitor.start()
            await opened(helpcrunch, visitor)
        helpcrunch.rate_limit_next(1)
        await first.say("limited", id="m2")
        limited = await eventually(lambda: [r for r in helpcrunch.requests if r.status == 429])
        await asyncio.sleep(0.1)  # the poller has paused the account meanwhile
        await second.say("held back", id="m2")
        await eventually(lambda: "held back" in chat_of(helpcrunch, second.chat).customer_texts)
        await eventually(lambda: "limited" in chat_of(helpcrunch, first.chat).customer_texts)
        assert chat_of(helpcrunch, first.chat).customer_texts == ["Hello?", "limited"]
    after = [r.at for r in helpcrunch.requests if r.at > limited[0].at]
    assert after and min(after) - limited[0].at >= 0.8  # HelpCrunch sends no Retry-After: rate_limit_pause


# --- errors ---------------------------------------------------------------------------------------------


async def admin_stats(server: Server) -> Any:
    tokens = len(await server.runtime.store.list_tokens())
    _, token = await server.app.state.site_admin.create_token(Actor("test", "cli"), f"tests-{tokens}")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/admin/stats", headers=headers) as response,
    ):
        assert response.status == 200
        return await response.json()


async def healthz(server: Server) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as response:
        status: str = (await response.json())["status"]
        return status


async def test_a_refused_api_key_marks_the_site_unhealthy_and_loses_nothing(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    helpcrunch, _ = fake
    monkeypatch.setenv(KEY_ENV, "revoked-key")
    async with shop(data_dir, fake) as server, Visitor.connected(server, site="shop") as visitor:
        await visitor.start()  # nothing is asked of HelpCrunch yet
        await visitor.say("Is anyone there?", id="m1")
        await eventually(lambda: [r for r in helpcrunch.requests if r.status == 401])
        backends = (await admin_stats(server))["backends"]
        assert backends["shop"]["healthy"] is False and "invalid_token" in backends["shop"]["detail"]
        assert KEY_ENV in backends["shop"]["detail"] and "revoked-key" not in backends["shop"]["detail"]
        assert await healthz(server) == "degraded"
        async with Visitor.connected(server, site="shop") as later:
            await later.send({"type": "start", "nickname": "Sam"})
            assert (await later.expect("error"))["code"] == "backend_unavailable"
        # The operator fixes it (here: HelpCrunch accepts the key again); the waiting message goes out.
        helpcrunch.api_key = "revoked-key"
        hc = await eventually(lambda: chat_of(helpcrunch, visitor.chat), timeout=5)
        await eventually(lambda: hc.customer_texts == ["Is anyone there?"])
        assert (await admin_stats(server))["backends"]["shop"]["healthy"] is True
        assert await healthz(server) == "ok"
        async with Visitor.connected(server, site="shop") as again:
            await again.start()


async def test_a_missing_api_key_is_shown_at_start_and_refuses_chats(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    helpcrunch, _ = fake
    monkeypatch.delenv(KEY_ENV)
    async with shop(data_dir, fake) as server:
        # Unhealthy from the start, before any visitor came (it was silent until the first chat failed).
        backends = (await admin_stats(server))["backends"]
        assert backends["shop"]["healthy"] is False and f"${KEY_ENV}" in backends["shop"]["detail"]
        async with Visitor.connected(server, site="shop") as visitor:
            # Visitors are offered the offline form, not a chat that would fail.
            assert visitor.hello["available"] is False and visitor.hello["reason"] == "backend"
            await visitor.send({"type": "start", "nickname": "Chris"})
            assert (await visitor.expect("error"))["code"] == "backend_unavailable"
    assert helpcrunch.requests == []


async def test_a_chat_helpcrunch_refuses_to_create_is_reported(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with (
        shop(data_dir, fake, department=999) as server,
        Visitor.connected(server, site="shop") as visitor,
    ):
        await visitor.start()
        await visitor.say("Hello?", id="m1")
        error = await visitor.expect("error")
        assert error["code"] == "not_delivered" and error["id"] == "m1"
        health = server.runtime.adapter_context.health["shop"]
        assert not health.healthy and "Department not found" in health.detail
    assert [r.operation for r in helpcrunch.requests] == ["CreateCustomer", "CreateChat"]  # not repeated


async def test_a_message_that_timed_out_is_sent_again_once(
    data_dir: Path, fake: tuple[FakeHelpCrunch, str]
) -> None:
    helpcrunch, _ = fake
    async with shop(data_dir, fake, timeout=0.3) as server, Visitor.connected(server, site="shop") as visitor:
        await visitor.start()
        hc = await opened(helpcrunch, visitor, "one")
        helpcrunch.delay(1)  # HelpCrunch hangs: the request times out and (in the fake) has no effect
        await visitor.say("two", id="m2")
        await eventually(lambda: [r for r in helpcrunch.requests if r.status == 499])
        helpcrunch.delay(0)
        await eventually(lambda: hc.customer_texts == ["one", "two"])
        await asyncio.sleep(0.3)
    assert hc.customer_texts == ["one", "two"]
    # Before sending again, the chat's messages were read to see whether the first attempt had arrived.
    assert "GetChatMessages" in [r.operation for r in helpcrunch.requests]


# --- the adapter on its own, against the fake ------------------------------------------------------------


@contextlib.asynccontextmanager
async def adapter(base_url: str, **more: Any) -> AsyncIterator[HelpCrunchAdapter]:
    context = AdapterContext()
    try:
        yield HelpCrunchAdapter(settings(base_url, webhooks=False, **more), context, "shop")
    finally:
        await context.close()


def a_chat(email: str | None = None) -> Chat:
    visitor = model.Visitor(nickname="Chris", email=email)
    return Chat(id="chat-1", site="shop", backend="helpcrunch", state="queued", visitor=visitor, created_at=0)


def said(chat: Chat, seq: int, text: str) -> Event:
    return Event(
        chat.id, seq, 0, "message", {"from": "visitor", "name": "Chris", "text": text, "id": f"m{seq}"}
    )


async def test_a_retry_does_not_repeat_a_message_that_arrived(fake: tuple[FakeHelpCrunch, str]) -> None:
    helpcrunch, url = fake
    async with adapter(url) as hc:
        chat = a_chat()
        await hc.send_message(chat, said(chat, 2, "one"))
        # The answer to "one" was lost: the state does not know it arrived, and the poller retries.
        lost = dict(chat.backend_state)
        del lost["customer_message_id"]
        retried = replace(chat, backend_state=lost)
        await hc.send_message(retried, said(chat, 2, "one"), retry=True)
        # A retry of a message that did not arrive sends it.
        await hc.send_message(retried, said(chat, 3, "two"), retry=True)
    (only,) = helpcrunch.chats.values()
    assert only.customer_texts == ["one", "two"]


async def test_validation_errors_are_logged_with_the_field_and_not_repeated_unchanged(
    fake: tuple[FakeHelpCrunch, str], caplog: pytest.LogCaptureFixture
) -> None:
    helpcrunch, url = fake
    caplog.set_level(logging.WARNING, logger="widget_server")
    async with adapter(url) as hc:
        # An address HelpCrunch does not take (our own check is looser here, say): the customer is
        # created without it rather than the same request sent again.
        chat = a_chat(email="chris@localhost")
        await hc.send_message(chat, said(chat, 2, "hello"))
        # A request refused for a field is not retried at all when nothing optional can go.
        broken = a_chat()
        broken.backend_state["customer_id"] = "not-a-number"
        with pytest.raises(BackendRefused):
            await hc.send_message(broken, said(broken, 2, "hello"))
    creates = [r.json for r in helpcrunch.requests if r.operation == "CreateCustomer"]
    assert [body.get("email") for body in creates] == ["chris@localhost", None]
    assert [r.status for r in helpcrunch.requests if r.operation == "CreateChat"] == [201, 400]
    assert "email: This value is not a valid email address." in caplog.text
    assert "customer: This value should be of type numeric." in caplog.text


# --- the pure parts -------------------------------------------------------------------------------------


def test_signatures() -> None:
    body = b'{"event":"message.chat.agent"}'
    good = sign(body, SECRET)
    assert signature_valid(body, good, SECRET) and signature_valid(body, good.upper(), SECRET)
    for given in (None, "", "0" * 40, sign(body, "other"), good[:-1]):
        assert not signature_valid(body, given, SECRET)
    assert not signature_valid(body + b" ", good, SECRET)
    assert not signature_valid(body, good, "")


def _hook(event: str, **data: Any) -> Any:
    hook = parse_hook({"event": event, "eventData": data, "id": "e1", "attempts": 0})
    assert hook is not None
    return hook


def test_map_hook() -> None:
    agent = {"id": 4188, "name": "Derek Swanson"}
    message = _hook("message.chat.agent", chat_id=5, agent=agent, message={"id": 1, "text": "Hi"})
    assert [(e.kind, e.data) for e in map_hook(message, {}).events] == [
        ("joined", {"name": "Derek Swanson"}),
        ("state", {"state": "active"}),
        ("message", {"from": "agent", "name": "Derek Swanson", "text": "Hi"}),
    ]
    assert [e.kind for e in map_hook(message, {"Derek Swanson": "Derek Swanson"}).events] == ["message"]
    nameless = _hook("message.chat.agent", chat_id=5, agent=None, message={"id": 2, "text": "Hi"})
    assert map_hook(nameless, {"Agent": "Agent"}).events[0].data["name"] == "Agent"
    closed = map_hook(_hook("chat.status_updated", id=5, status="closed"), {"Ana": "Ana"})
    assert closed.ended and [(e.kind, e.data) for e in closed.events] == [("left", {"name": "Ana"})]
    assert map_hook(_hook("chat.closed", id=5, status="closed"), {}).ended
    opened = map_hook(_hook("chat.status_updated", id=5, status="opened", assignee=agent), {})
    assert [e.kind for e in opened.events] == ["joined", "state"]
    # A chat assigned at creation (the site's assignee setting) does not make anyone join by itself.
    assert map_hook(_hook("chat.status_updated", id=5, status="new", assignee=agent), {}).events == []
    for ignored in ("message.chat.customer", "message.private", "chat.snoozed", "chat.rated"):
        nothing = map_hook(_hook(ignored, chat_id=5, message={"id": 3, "text": "x"}, agent=agent), {})
        assert nothing.events == [] and not nothing.ended
    assert parse_hook({"event": "chat.new"}) is None and parse_hook([]) is None
    hook = _hook("message.chat.agent", chat_id="5", customer={"userId": "our-chat"})
    assert (hook.chat_id, hook.user_id) == (5, "our-chat")
    anonymous = [parse_hook({"event": "chat.closed", "eventData": {"id": 5}, "attempts": n}) for n in (0, 1)]
    assert anonymous[0] is not None and anonymous[1] is not None and anonymous[0].id == anonymous[1].id


def test_map_messages_relays_agent_chat_messages_in_order_after_the_cursor() -> None:
    derek = {"id": 4188, "name": "Derek Swanson"}
    newest_first = [
        {"id": 14, "from": "agent", "type": "message", "text": "second", "agent": derek},
        {"id": 13, "from": "agent", "type": "private", "text": "a note", "agent": derek},
        {"id": 12, "from": "agent", "type": "tech", "text": "Chat status changed to opened", "agent": None},
        {"id": 11, "from": "agent", "type": "message", "text": "first", "agent": derek},
        {"id": 10, "from": "customer", "type": "message", "text": "mine", "agent": None},
    ]
    polled = map_messages(newest_first, {"message_id": 0, "agents": {}})
    assert [e.data.get("text", e.kind) for e in polled.events] == ["joined", "state", "first", "second"]
    assert polled.cursor == {"message_id": 14, "agents": {"Derek Swanson": "Derek Swanson"}}
    assert map_messages(newest_first, polled.cursor).events == []  # the same poll again repeats nothing
    assert map_messages("garbage", {"message_id": 3}).cursor["message_id"] == 3


@pytest.mark.parametrize(
    ("status", "codes", "method", "about_chat", "expected"),
    [
        (429, ["too_many_requests"], "POST", False, BackendUnavailable),
        (401, ["invalid_token"], "GET", True, BackendUnavailable),
        (401, ["invalid_request", "unauthorized"], "POST", False, BackendUnavailable),
        (400, ["invalid_request", "customer"], "POST", False, BackendRefused),
        (404, ["entity_not_found"], "POST", False, BackendRefused),
        (404, ["chat_not_found"], "POST", True, ChatGone),
        (400, ["invalid_chat_value"], "GET", True, ChatGone),
        (500, ["internal_error"], "POST", False, BackendUnavailable),
        (502, [], "GET", True, BackendUnavailable),
    ],
)
def test_classify(status: int, codes: list[str], method: str, about_chat: bool, expected: type) -> None:
    error = classify(status, [(c, "m") for c in codes], method=method, about_chat=about_chat, retry_after=7)
    assert type(error) is expected or (expected is BackendRefused and isinstance(error, BackendRefused))
    assert (error.retry_after == 7) is (status == 429)
    assert error.ambiguous is (status >= 500 and method == "POST")
