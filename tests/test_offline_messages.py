"""Messages left while nobody can answer: stored first, then forwarded to Zendesk Chat through the durable
outbox, against the fake Zendesk over real HTTP. Outages, 429, restarts and lost answers lose nothing
and send nothing twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.zendesk import FakeZendesk
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.contact_centers import eventually
from widget_server import model
from widget_server.config import Config
from widget_server.zendesk import TARGET, Forwarder

TOKEN = "zendesk-oauth-token-for-tests"
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0 Safari/537.36"
)


@pytest.fixture
async def zendesk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeZendesk, str]]:
    monkeypatch.setenv("TEST_ZENDESK_TOKEN", TOKEN)
    fake = FakeZendesk(TOKEN)
    async with serve(fake.app) as url:
        yield fake, url


def config(data_dir: Path, url: str, **zendesk: Any) -> Config:
    site = {
        "name": "ACME",
        "allowed_origins": [HOST_ORIGIN],
        "zendesk": {"base_url": url, "token_env": "TEST_ZENDESK_TOKEN", **zendesk},
    }
    return make_config(data_dir, {"sites": {"acme": site}})


def fast(server: Server) -> Forwarder:
    forwarder = server.runtime.forwarder
    assert forwarder is not None
    forwarder.backoff_base_ms, forwarder.backoff_max_ms, forwarder.idle = 50, 200, 0.05
    return forwarder


async def leave(server: Server, id: str = "o1", message: str = "Please call me back.") -> dict[str, Any]:
    async with Visitor.connected(server, site="acme", user_agent_header=UA) as visitor:
        await visitor.send(
            {"type": "leave_message", "id": id, "name": "Kim", "email": "kim@example.com", "message": message,
             "page": "https://acme.example/contact"}
        )  # fmt: skip
        return await visitor.expect("ack", id=id)


async def test_an_offline_message_is_stored_acknowledged_and_idempotent(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, Visitor.connected(server) as visitor:
        await visitor.send(
            {"type": "leave_message", "id": "o1", "name": "Kim", "email": "kim@x.example", "message": "Hi"}
        )
        ack = await visitor.expect("ack", id="o1")
        await visitor.send(
            {"type": "leave_message", "id": "o1", "name": "Kim", "email": "kim@x.example", "message": "Hi"}
        )
        again = await visitor.expect("ack", id="o1")
        assert again["chat"] == ack["chat"]
        chats = await server.runtime.store.list_chats()
        assert len(chats) == 1 and chats[0].type == "offline_msg" and chats[0].state == "ended"
        assert chats[0].visitor.email == "kim@x.example" and chats[0].meta == {"unread": True}
        events = await server.runtime.store.events_after(chats[0].id, 0)
        assert [(e.kind, e.data.get("text")) for e in events] == [("message", "Hi")]
        await visitor.send(
            {"type": "leave_message", "id": "o2", "name": "Kim", "email": "nope", "message": "Hi"}
        )
        error = await visitor.expect("error")
        assert error == {**error, "code": "invalid_field", "field": "email", "id": "o2"}
        assert len(await server.runtime.store.list_chats()) == 1


async def test_it_reaches_zendesk_as_documented(data_dir: Path, zendesk: tuple[FakeZendesk, str]) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url, department_id=7)) as server:
        fast(server)
        ack = await leave(server)
        await eventually(lambda: fake.created)
        chat = await server.runtime.store.get_chat(ack["chat"])
        item = (await server.runtime.store.list_outbox(ack["chat"]))[0]
        await eventually(lambda: _state(server, ack["chat"], "sent"))
    request = next(r for r in fake.requests if r.method == "POST")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = request.json
    assert chat is not None and item.payload == body
    assert body["type"] == "offline_msg" and body["message"] == "Please call me back."
    assert body["visitor"] == {"name": "Kim", "email": "kim@example.com"}
    assert body["timestamp"] == chat.created_at // 1000 and body["department_id"] == 7
    session = body["session"]
    assert session["ip"] == "127.0.0.1" and session["user_agent"] == UA
    assert (session["browser"], session["platform"]) == ("Chrome", "Mac OS")
    assert session["start_date"].endswith("Z") and session["end_date"].endswith("Z")
    assert fake.created[0]["message"] == "Please call me back."


async def _state(server: Server, chat_id: str, state: str) -> bool:
    items = await server.runtime.store.list_outbox(chat_id)
    return bool(items) and items[0].state == state


async def test_an_outage_and_429_lose_nothing(data_dir: Path, zendesk: tuple[FakeZendesk, str]) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url)) as server:
        fast(server)
        fake.down(True)
        ack = await leave(server)
        await eventually(lambda: _attempts(server, ack["chat"], 3))
        assert fake.created == []
        fake.down(False)
        fake.rate_limit_next(1, retry_after=1)
        recovered = time.monotonic()  # the fake's clock
        await eventually(lambda: fake.created, timeout=5)
        await eventually(lambda: _state(server, ack["chat"], "sent"))
    posts = [r.at for r in fake.requests if r.method == "POST" and r.at >= recovered]
    assert len(posts) == 2 and posts[1] - posts[0] >= 1.0  # a 429, then Retry-After was honoured
    assert len(fake.created) == 1


async def _attempts(server: Server, chat_id: str, n: int) -> bool:
    items = await server.runtime.store.list_outbox(chat_id)
    return bool(items) and items[0].attempts >= n


async def test_a_restart_while_zendesk_is_down_loses_nothing(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    fake.down(True)
    async with running(config(data_dir, url)) as server:
        fast(server)
        ack = await leave(server)
        await eventually(lambda: _attempts(server, ack["chat"], 1))
    fake.down(False)
    async with running(config(data_dir, url)) as server:
        fast(server)
        await eventually(lambda: fake.created)
        await eventually(lambda: _state(server, ack["chat"], "sent"))
    assert len(fake.created) == 1


async def test_an_answer_lost_in_a_timeout_is_not_sent_twice(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url, timeout=0.5)) as server:
        fast(server)
        fake.lose_answers(1)
        ack = await leave(server, message="Only once, please.")
        await eventually(lambda: _state(server, ack["chat"], "sent"), timeout=8)
        item = (await server.runtime.store.list_outbox(ack["chat"]))[0]
    assert len(fake.created) == 1 and item.remote_id == fake.created[0]["id"]
    assert any(r.path.endswith("/search") for r in fake.requests)  # it looked before sending again


async def test_a_request_refused_for_good_is_kept_with_its_reason(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url, department_id=999)) as server:
        fake.departments = {1: "Billing"}  # department 999 does not exist: a validation error
        fast(server)
        ack = await leave(server)
        await eventually(lambda: _state(server, ack["chat"], "failed"))
        item = (await server.runtime.store.list_outbox(ack["chat"]))[0]
        posts = len([r for r in fake.requests if r.method == "POST"])
        await asyncio.sleep(0.3)
    assert item.last_error and item.last_error.startswith("HTTP 400")
    assert posts == 1 and len([r for r in fake.requests if r.method == "POST"]) == 1  # not retried


async def test_two_processes_sharing_the_outbox_send_each_item_once(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url)) as server:
        forwarder = fast(server)
        await forwarder.close()  # hold the server's own forwarder: two others race for the items
        chats = [(await leave(server, id=f"o{n}", message=f"message {n}"))["chat"] for n in range(10)]
        runtime = server.runtime
        settings = lambda site_id: runtime.sites.get(site_id).zendesk  # type: ignore[union-attr]  # noqa: E731
        first = Forwarder(runtime.store, settings, runtime.adapter_context)
        second = Forwarder(runtime.store, settings, runtime.adapter_context)
        handled = await asyncio.gather(first.send_due(), second.send_due())
        assert sum(handled) == 10
        for chat in chats:
            assert await _state(server, chat, "sent")
    assert sorted(c["message"] for c in fake.created) == sorted(f"message {n}" for n in range(10))


async def test_a_forwarder_whose_claim_was_taken_over_leaves_the_item_to_the_new_owner(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    async with running(config(data_dir, url)) as server:
        await fast(server).close()  # hold the server's own forwarder
        runtime = server.runtime
        settings = lambda site_id: runtime.sites.get(site_id).zendesk  # type: ignore[union-attr]  # noqa: E731
        chat = (await leave(server))["chat"]
        slow = Forwarder(runtime.store, settings, runtime.adapter_context, lease_ms=1)
        fake.delay(0.3)
        sending = asyncio.ensure_future(slow.send_due())
        await eventually(lambda: _posted(fake))
        fake.delay(0)
        # Meanwhile its lease ran out and another process claimed the item (that one stalls in turn).
        await asyncio.sleep(0.01)
        assert len(await runtime.store.claim_outbox(TARGET, model.now_ms(), 1, "another")) == 1
        assert await sending == 1
        (item,) = await runtime.store.list_outbox(chat)
        assert item.state == "sending" and item.remote_id is None  # the slow one's outcome was dropped
        # The next owner finds the message that did arrive, and does not send it again.
        await asyncio.sleep(0.01)
        assert await Forwarder(runtime.store, settings, runtime.adapter_context).send_due() == 1
        (item,) = await runtime.store.list_outbox(chat)
        assert item.state == "sent" and item.remote_id is not None
    assert len(fake.created) == 1


async def _posted(fake: FakeZendesk) -> bool:
    return any(r.method == "POST" for r in fake.requests)


async def test_a_stopping_forwarder_finishes_its_send_and_gives_back_the_rest(
    data_dir: Path, zendesk: tuple[FakeZendesk, str]
) -> None:
    """A restart must not leave claimed items waiting for the claim to run out (two minutes)."""
    fake, url = zendesk
    async with running(config(data_dir, url)) as server:
        await fast(server).close()  # hold the server's own forwarder
        runtime = server.runtime
        settings = lambda site_id: runtime.sites.get(site_id).zendesk  # type: ignore[union-attr]  # noqa: E731
        chats = [(await leave(server, id=f"o{n}", message=f"message {n}"))["chat"] for n in range(3)]
        stopping = Forwarder(runtime.store, settings, runtime.adapter_context)
        fake.delay(0.3)
        stopping.start()
        await eventually(lambda: _posted(fake))
        await stopping.close()  # while its first send is in flight
        states = sorted([(await runtime.store.list_outbox(chat))[0].state for chat in chats])
        assert states == ["pending", "pending", "sent"]  # the one in flight finished; the others came back
        fake.delay(0)
        # Another process sends them at once, not once the stopped one's claim has run out.
        assert await Forwarder(runtime.store, settings, runtime.adapter_context).send_due() == 2
    assert sorted(c["message"] for c in fake.created) == [f"message {n}" for n in range(3)]
