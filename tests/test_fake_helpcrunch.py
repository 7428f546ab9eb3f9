"""The fake HelpCrunch REST API and its webhooks, driven over real HTTP the way the adapter will drive them.

If these pass, the fake says what the documentation says (HelpCrunch's REST API documentation), and
the adapter's tests can trust it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.helpcrunch import (
    ALL_EVENTS,
    DEFAULT_API_KEY,
    ControlError,
    FakeHelpCrunch,
    HelpCrunchError,
    SlidingWindowLimit,
    route,
    sign,
)
from tests.support.asgi_server import serve

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
SIGNING_KEY = "whsec-test-signing-key"
INVALID_REQUEST = {"code": "invalid_request", "message": "Invalid request"}
SEED_002_CHAT_KEYS = {
    "id",
    "closedBy",
    "lastCustomerMessageAt",
    "status",
    "closedAt",
    "rating",
    "createdAt",
    "lastMessageAt",
    "snoozedUntil",
    "lastMessageText",
    "lastMessageId",
    "lastCommunicatedAgentId",
    "agents",
    "customer",
    "assignee",
    "department",
}
MESSAGE_KEYS = {"id", "agent", "type", "text", "read", "createdAt", "updatedAt", "edited", "broadcastType"}
MESSAGE_KEYS |= {"chat", "from"}


class Client:
    """The adapter's side of section B over HTTP, no smarter than the tests need."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 5,
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            f"/v1{path}",
            json=body,
            headers=AUTH if headers is None else headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def customer(self, **fields: Any) -> int:
        body = {"name": "John Doe", "email": "john@example.com", "userId": "myusers_4188"} | fields
        status, answer = await self.call("POST", "/customers", body)
        assert status == 201, answer
        return int(answer["id"])

    async def chat(self, **fields: Any) -> dict[str, Any]:
        customer = fields.pop("customer", None) or await self.customer()
        status, answer = await self.call(
            "POST", "/chats", {"customer": customer, "application": 3838} | fields
        )
        assert status == 201, answer
        return dict(answer)

    async def say(self, chat_id: int, text: str, **fields: Any) -> dict[str, Any]:
        status, answer = await self.call("POST", "/messages", {"chat": chat_id, "text": text} | fields)
        assert status == 200, answer
        return dict(answer)

    async def messages(self, chat_id: int, query: str = "") -> dict[str, Any]:
        status, answer = await self.call("GET", f"/chats/{chat_id}/messages{query}")
        assert status == 200, answer
        return dict(answer)


@dataclass
class Receiver:
    """Our webhook route, reduced to what a test needs: it keeps every POST and answers as told."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        status = self.answers.popleft() if self.answers else 200
        return PlainTextResponse("ok" if status < 300 else "no", status_code=status)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    @property
    def names(self) -> list[str]:
        return [event["event"] for event in self.events]


@pytest.fixture
def helpcrunch() -> FakeHelpCrunch:
    return FakeHelpCrunch()


@pytest.fixture
async def client(helpcrunch: FakeHelpCrunch) -> AsyncIterator[Client]:
    async with serve(helpcrunch.app) as base_url, aiohttp.ClientSession(base_url) as session:
        yield Client(session)


@pytest.fixture
async def receiver(helpcrunch: FakeHelpCrunch) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks/helpcrunch/shop", receiver.hook, methods=["POST"])])
    async with serve(app) as base_url:
        helpcrunch.set_webhook(f"{base_url}/hooks/helpcrunch/shop", SIGNING_KEY)
        yield receiver


def codes(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["message"]) for e in answer["errors"]]


# --- the REST API ---------------------------------------------------------------------------------------


async def test_create_chat_answers_like_seed_002(helpcrunch: FakeHelpCrunch, client: Client) -> None:
    customer = await client.customer()
    status, chat = await client.call(
        "POST", "/chats", {"customer": customer, "assignee": 4188, "department": 233048, "application": 3838}
    )

    assert status == 201
    assert SEED_002_CHAT_KEYS <= set(chat) <= SEED_002_CHAT_KEYS | {"applicationId", "createdWith"}
    assert chat["status"] == "empty"
    assert isinstance(chat["createdAt"], int)
    assert chat["customer"] == {"id": customer, "name": "John Doe", "email": "john@example.com"} | {
        "userId": "myusers_4188"
    }
    assert chat["assignee"] == {"id": 4188, "name": "Derek Swanson", "email": "", "role": "admin"}
    assert chat["department"] == {"id": 233048, "name": "Test Department"}
    assert (chat["agents"], chat["lastMessageId"], chat["closedBy"]) == ([], None, None)
    assert (chat["applicationId"], chat["createdWith"]) == (3838, "public_api")
    assert helpcrunch.chats[chat["id"]].customer.id == customer


async def test_create_customer_returns_201_with_the_documented_fields(client: Client) -> None:
    status, customer = await client.call(
        "POST", "/customers", {"name": "Paul", "email": "paul@example.com", "userId": "example_9106"}
    )
    assert status == 201
    assert {"id", "name", "email", "userId", "company", "phone", "firstSeen", "lastSeen", "location"} <= set(
        customer
    )
    assert (customer["name"], customer["userId"]) == ("Paul", "example_9106")
    # B.2: no field is required
    status, anonymous = await client.call("POST", "/customers", {})
    assert (status, anonymous["name"]) == (201, None)
    assert anonymous["id"] != customer["id"]


async def test_every_request_needs_the_bearer_key(helpcrunch: FakeHelpCrunch, client: Client) -> None:
    chat = await client.chat()
    attempts = [
        ("POST", "/customers", {"name": "x"}),
        ("POST", "/chats", {"customer": chat["customer"]["id"], "application": 3838}),
        ("POST", "/messages", {"chat": chat["id"], "text": "hi"}),
        ("GET", f"/chats/{chat['id']}", None),
        ("GET", f"/chats/{chat['id']}/messages", None),
        ("PUT", "/chats/status", {"id": chat["id"], "status": "closed"}),
    ]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": DEFAULT_API_KEY}):
        for method, path, body in attempts:
            assert await client.call(method, path, body, headers=headers) == (
                401,
                {"errors": [{"code": "invalid_token", "message": "Invalid token"}]},
            ), (headers, method, path)
    assert len(helpcrunch.chats) == 1
    assert helpcrunch.chats[chat["id"]].messages == []
    assert helpcrunch.chats[chat["id"]].status == "empty"

    helpcrunch.unauthorized_revision = True  # B.1: the other revision's 401 body
    status, answer = await client.call("GET", f"/chats/{chat['id']}", headers={})
    assert (status, codes(answer)) == (
        401,
        [("invalid_request", "Invalid request"), ("unauthorized", "Unauthorized")],
    )


# (path, body, HTTP status, errors); "{chat}" and "{customer}" are ones that exist.
BLANK = "This value should not be blank."  # B.1's field messages
NUMERIC = "This value should be of type numeric."
NOT_FOUND = "entity_not_found"
BAD_REQUESTS: list[tuple[str, Any, int, list[tuple[str, str]]]] = [
    ("/chats", {"application": 3838}, 400, [("customer", BLANK)]),
    ("/chats", {"customer": "abc", "application": 3838}, 400, [("customer", NUMERIC)]),
    ("/chats", {"customer": "{customer}"}, 400, [("application", BLANK)]),
    ("/chats", {}, 400, [("customer", BLANK), ("application", BLANK)]),
    ("/chats", {"customer": 1, "application": 3838}, 404, [(NOT_FOUND, "Customer not found")]),
    (
        "/chats",
        {"customer": "{customer}", "application": 1, "assignee": 9},
        404,
        [(NOT_FOUND, "Agent not found")],
    ),
    (
        "/chats",
        {"customer": "{customer}", "application": 1, "department": 7},
        404,
        [(NOT_FOUND, "Department not found")],
    ),
    ("/messages", {"text": "hi"}, 400, [("chat", BLANK)]),
    ("/messages", {"chat": "{chat}"}, 400, [("text", BLANK)]),
    ("/messages", {"chat": "{chat}", "text": "   "}, 400, [("text", BLANK)]),
    ("/messages", {"chat": "{chat}", "text": 5}, 400, [("text", "This value should be of type string.")]),
    ("/messages", {"chat": "{chat}", "text": "hi", "agent": 4188}, 400, [("type", BLANK)]),
    (
        "/messages",
        {"chat": "{chat}", "text": "hi", "type": "email"},
        400,
        [("type", "The value you selected is not a valid choice.")],
    ),
    ("/messages", {"chat": "{chat}", "text": "hi", "type": "private"}, 400, [("agent", BLANK)]),
    ("/messages", {"chat": 1, "text": "hi"}, 404, [("chat_not_found", "Chat not found")]),
    (
        "/messages",
        {"chat": "{chat}", "text": "hi", "agent": 9, "type": "message"},
        404,
        [(NOT_FOUND, "Agent not found")],
    ),
    ("/messages", ["chat"], 400, []),
]


async def test_bad_requests_get_the_documented_errors_and_change_nothing(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    chat_id, customer_id = chat["id"], chat["customer"]["id"]
    for path, body, http_status, errors in BAD_REQUESTS:
        sent = json.loads(
            json.dumps(body).replace('"{chat}"', str(chat_id)).replace('"{customer}"', str(customer_id))
        )
        status, answer = await client.call("POST", path, sent)
        expected = [("invalid_request", "Invalid request"), *errors] if http_status == 400 else errors
        assert (status, codes(answer)) == (http_status, expected), (path, body)
    assert list(helpcrunch.chats) == [chat_id]
    assert helpcrunch.chats[chat_id].messages == []
    # numeric strings are numeric (B.1: "This value should be of type numeric.")
    status, _ = await client.call("POST", "/messages", {"chat": str(chat_id), "text": "hi"})
    assert status == 200


async def test_messages_from_the_customer_and_from_an_agent(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    customer_message = await client.say(chat["id"], "Hello?")

    assert set(customer_message) == MESSAGE_KEYS
    assert customer_message["from"] == "customer"
    assert (customer_message["agent"], customer_message["type"], customer_message["chat"]) == (
        None,
        "message",
        chat["id"],
    )
    assert isinstance(customer_message["createdAt"], str) and "." in customer_message["createdAt"]
    assert helpcrunch.chats[chat["id"]].status == "new"  # [I] the first customer message makes it new

    agent_message = await client.say(chat["id"], "Hi, I am **here**", agent=4188, type="message")
    assert (agent_message["from"], agent_message["agent"]["name"]) == ("agent", "Derek Swanson")
    # B.4: the markdown version goes into text; the response has no markdownText
    with_markdown = await client.say(chat["id"], "plain", markdownText="**bold**", agent=4188, type="message")
    assert with_markdown["text"] == "**bold**" and "markdownText" not in with_markdown
    note = await client.say(chat["id"], "VIP customer", agent=4188, type="private")
    assert note["type"] == "private"

    status, answer = await client.call("GET", f"/chats/{chat['id']}")
    assert status == 200
    assert answer["status"] == "opened"  # an agent's reply opens a new chat
    assert answer["assignee"]["id"] == 4188  # and assigns it to them
    assert (answer["lastCommunicatedAgentId"], answer["lastMessageText"]) == (4188, "VIP customer")
    assert [a["id"] for a in answer["agents"]] == [4188]
    assert helpcrunch.chats[chat["id"]].customer_texts == ["Hello?"]
    assert helpcrunch.chats[chat["id"]].agent_texts == ["Hi, I am **here**", "**bold**"]


async def test_chat_messages_come_newest_first_with_offset_limit_and_total(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    for n in range(5):
        await client.say(chat["id"], f"m{n}")
    await helpcrunch.agent_reply(chat["id"], "reply")

    page = await client.messages(chat["id"])
    assert set(page) == {"data", "total"}
    assert page["total"] == 6
    assert [m["text"] for m in page["data"]] == ["reply", "m4", "m3", "m2", "m1", "m0"]
    assert all(set(m) == MESSAGE_KEYS for m in page["data"])
    assert [m["text"] for m in (await client.messages(chat["id"], "?offset=1&limit=2"))["data"]] == [
        "m4",
        "m3",
    ]
    assert (await client.messages(chat["id"], "?offset=6"))["data"] == []
    for query, field_name in [("?limit=101", "limit"), ("?limit=0", "limit"), ("?offset=-1", "offset")]:
        status, answer = await client.call("GET", f"/chats/{chat['id']}/messages{query}")
        assert (status, answer["errors"][0], answer["errors"][1]["code"]) == (
            400,
            INVALID_REQUEST,
            field_name,
        )

    helpcrunch.messages_key = "messages"  # B.4: an older revision's key
    assert set(await client.messages(chat["id"], "?limit=1")) == {"messages", "total"}


async def test_unknown_chats_and_paths(client: Client) -> None:
    assert await client.call("GET", "/chats/5") == (
        404,
        {"errors": [{"code": "chat_not_found", "message": "Chat not found"}]},
    )
    assert await client.call("GET", "/chats/abc/messages") == (
        400,
        {"errors": [{"code": "invalid_chat_value", "message": "Invalid chat ID"}]},
    )
    for method, path in [("GET", "/tickets"), ("DELETE", "/chats/5"), ("POST", "/chats/search")]:
        status, answer = await client.call(method, path, {})
        assert (status, codes(answer)) == (404, [("not_found", "Not found")])
    status, answer = await client.call("POST", "/chats", headers=AUTH | {"Content-Type": "application/json"})
    assert (status, answer) == (400, {"errors": [INVALID_REQUEST]})


async def test_update_chat_status_takes_every_documented_spelling(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    await client.say(chat["id"], "hi")
    for spelling, stored in [
        ("opened", "opened"),
        ("on hold", "onhold"),
        ("on-hold", "onhold"),
        ("open", "opened"),
    ]:
        status, answer = await client.call("PUT", "/chats/status", {"id": chat["id"], "status": spelling})
        assert (status, answer["status"]) == (200, stored), spelling
    status, answer = await client.call("PUT", "/chats/status", {"id": chat["id"], "status": "closed"})
    assert (status, answer["status"], answer["closedBy"]) == (200, "closed", "agent")
    assert isinstance(answer["closedAt"], int)

    assert await client.call("PUT", "/chats/status", {"id": chat["id"], "status": "done"}) == (
        400,
        {"errors": [{"code": "invalid_chat_value", "message": "status value is invalid"}]},
    )
    assert await client.call("PUT", "/chats/status", {"id": 1, "status": "closed"}) == (
        404,
        {"errors": [{"code": "chat_not_found", "message": "Chat is missing"}]},
    )
    # B.4: a status change leaves a "tech" message in the transcript
    types = [(m["type"], m["text"]) for m in (await client.messages(chat["id"]))["data"]]
    assert types[0] == ("tech", "Chat status changed to closed")
    assert types[-1] == ("message", "hi")


async def test_options_for_the_other_documented_revisions(client: Client, helpcrunch: FakeHelpCrunch) -> None:
    helpcrunch.core.require_application = False
    helpcrunch.create_chat_status = 200
    customer = await client.customer()
    status, chat = await client.call("POST", "/chats", {"customer": customer})
    assert (status, chat["applicationId"]) == (200, None)

    helpcrunch.core.reopen_closed_chats = False
    await helpcrunch.close_chat(chat["id"])
    assert await client.call("POST", "/messages", {"chat": chat["id"], "text": "hello again"}) == (
        400,
        {"errors": [{"code": "invalid_chat_value", "message": "Chat is closed"}]},
    )
    helpcrunch.core.reopen_closed_chats = True
    await client.say(chat["id"], "hello again")
    assert helpcrunch.chats[chat["id"]].status == "new"


# --- rate limit and faults ------------------------------------------------------------------------------


def test_the_rate_limit_is_a_sliding_minute() -> None:
    now = [0.0]
    limit = SlidingWindowLimit(120, 60.0, clock=lambda: now[0])
    assert all(limit.allow() for _ in range(120))
    assert not limit.allow()
    now[0] = 59.9
    assert not limit.allow()  # refused requests do not count, and the first 120 are still in the window
    now[0] = 60.0
    assert limit.allow()
    default = FakeHelpCrunch().limit
    assert default is not None and (default.limit, default.window) == (120, 60.0)


async def test_over_the_rate_limit_the_account_gets_the_documented_429() -> None:
    now = [1000.0]
    helpcrunch = FakeHelpCrunch(rate_limit=3, monotonic=lambda: now[0])
    async with serve(helpcrunch.app) as base_url, aiohttp.ClientSession(base_url) as session:
        client = Client(session)
        chat = await client.chat()  # two requests
        await client.say(chat["id"], "one")
        async with session.post(
            "/v1/messages", json={"chat": chat["id"], "text": "two"}, headers=AUTH
        ) as response:
            assert response.status == 429
            assert await response.json() == {
                "errors": [{"code": "too_many_requests", "message": "You have exceeded your requests limit"}]
            }
            assert "Retry-After" not in response.headers  # B.1: none documented
        assert (await client.call("GET", "/chats/1", headers={}))[0] == 401  # auth comes first
        assert helpcrunch.chats[chat["id"]].customer_texts == ["one"]
        now[0] += 60
        assert (await client.say(chat["id"], "two"))["text"] == "two"


async def test_injected_faults_come_in_order_and_change_nothing(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    helpcrunch.fail_next(2, status=503)
    helpcrunch.rate_limit_next(1)
    for expected in (503, 503, 429):
        status, answer = await client.call("POST", "/messages", {"chat": chat["id"], "text": "hi"})
        assert status == expected
        assert set(answer) == {"errors"}
    assert helpcrunch.chats[chat["id"]].messages == []
    await client.say(chat["id"], "hi")
    assert [r.status for r in helpcrunch.requests_for("CreateMessage")] == [503, 503, 429, 200]


async def test_a_delayed_request_that_times_out_has_no_effect(
    helpcrunch: FakeHelpCrunch, client: Client
) -> None:
    chat = await client.chat()
    helpcrunch.delay(0.2)
    started = time.monotonic()
    await client.say(chat["id"], "slow")
    assert time.monotonic() - started >= 0.2

    helpcrunch.delay(30)
    with pytest.raises(TimeoutError):
        await client.call("POST", "/messages", {"chat": chat["id"], "text": "lost"}, timeout=0.1)
    helpcrunch.delay(0)
    await asyncio.sleep(0.05)
    assert helpcrunch.chats[chat["id"]].customer_texts == ["slow"]
    assert time.monotonic() - started < 5


async def test_every_request_is_recorded(helpcrunch: FakeHelpCrunch, client: Client) -> None:
    chat = await client.chat()
    await client.say(chat["id"], "Hello?")
    await client.messages(chat["id"], "?limit=10")

    assert [(r.method, r.operation, r.status) for r in helpcrunch.requests] == [
        ("POST", "CreateCustomer", 201),
        ("POST", "CreateChat", 201),
        ("POST", "CreateMessage", 200),
        ("GET", "GetChatMessages", 200),
    ]
    assert helpcrunch.requests[2].json == {"chat": chat["id"], "text": "Hello?"}
    assert helpcrunch.requests[3].query == {"limit": "10"}
    assert helpcrunch.requests[3].path == f"/v1/chats/{chat['id']}/messages"
    assert all(r.headers["authorization"] == AUTH["Authorization"] for r in helpcrunch.requests)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/customers", ("CreateCustomer", None)),
        ("POST", "/chats", ("CreateChat", None)),
        ("POST", "/chats/", ("CreateChat", None)),
        ("GET", "/chats/12", ("GetChat", "12")),
        ("GET", "/chats/12/messages", ("GetChatMessages", "12")),
        ("PUT", "/chats/status", ("UpdateChatStatus", None)),
        ("POST", "/messages", ("CreateMessage", None)),
        ("GET", "/chats/status", None),
        ("GET", "/chats", None),
        ("POST", "/customers/search", None),
    ],
)
def test_route(method: str, path: str, expected: tuple[str, str | None] | None) -> None:
    if expected is None:
        with pytest.raises(HelpCrunchError, match="not_found"):
            route(method, path)
    else:
        assert route(method, path) == expected


# --- webhooks (HelpCrunch's webhook events) ---------------------------------------------------------


def verify(headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(SIGNING_KEY.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(headers["x-helpcrunch-signature"], expected)


async def test_an_agent_reply_arrives_as_a_signed_message_chat_agent_event(
    helpcrunch: FakeHelpCrunch, client: Client, receiver: Receiver
) -> None:
    chat = await client.chat()
    await client.say(chat["id"], "Hello?")
    await helpcrunch.settle()
    assert receiver.names == ["chat.status_updated"]  # empty -> new; the customer message is not subscribed

    message = await helpcrunch.agent_reply(chat["id"], "How can I help?", agent_name="Sam")

    assert receiver.names == ["chat.status_updated", "message.chat.agent", "chat.status_updated"]
    assert all(verify(headers, body) for headers, body in receiver.received)
    assert all(headers["content-type"] == "application/json" for headers, _ in receiver.received)
    envelope = receiver.events[1]
    assert set(envelope) == {"event", "eventData", "attempts", "lastAttemptAt", "createdAt", "id"}
    assert envelope["attempts"] == 0
    assert isinstance(envelope["createdAt"], int) and isinstance(envelope["id"], str)
    data = envelope["eventData"]
    assert set(data) == {"chat_id", "agent", "customer", "message"}
    assert data["chat_id"] == chat["id"]
    assert data["agent"]["name"] == "Sam"
    assert data["customer"] == chat["customer"]
    assert data["message"] == {
        "applicationId": 3838,
        "broadcastType": None,
        "createdAt": data["message"]["createdAt"],
        "edited": False,
        "id": message.id,
        "read": False,
        "text": "How can I help?",
        "updatedAt": data["message"]["updatedAt"],
    }
    status_event = receiver.events[2]["eventData"]
    assert (status_event["id"], status_event["status"]) == (chat["id"], "opened")
    assert {"communicatedAgents", "customer", "closedBy", "status", "closedAt", "createdAt"} <= set(
        status_event
    )
    assert all(d.delivered for d in helpcrunch.deliveries)


async def test_closing_and_status_changes_are_announced(
    helpcrunch: FakeHelpCrunch, client: Client, receiver: Receiver
) -> None:
    chat = await client.chat()
    await helpcrunch.change_status(chat["id"], "pending")
    await helpcrunch.close_chat(chat["id"])

    assert receiver.names == ["chat.status_updated", "chat.status_updated", "chat.closed"]
    closed = receiver.events[2]["eventData"]
    assert (closed["status"], closed["closedBy"]) == ("closed", "agent")
    assert isinstance(closed["closedAt"], str)
    assert (await client.call("GET", f"/chats/{chat['id']}"))[1]["status"] == "closed"
    with pytest.raises(ControlError):
        await helpcrunch.change_status(chat["id"], "done")
    with pytest.raises(ControlError):
        await helpcrunch.agent_reply(424242, "nobody")


async def test_subscriptions_and_a_missing_key(
    helpcrunch: FakeHelpCrunch, client: Client, receiver: Receiver
) -> None:
    url = helpcrunch.webhook_url
    helpcrunch.set_webhook(url, SIGNING_KEY, events=None)  # everything
    chat = await client.chat()
    await client.say(chat["id"], "Hello?")
    await helpcrunch.agent_note(chat["id"], "internal")
    await helpcrunch.settle()
    assert receiver.names == ["chat.new", "message.chat.customer", "chat.status_updated", "message.private"]
    assert set(receiver.names) <= ALL_EVENTS

    helpcrunch.set_webhook(url, None)  # no signing key configured: nothing is sent
    await helpcrunch.agent_reply(chat["id"], "unsigned?")
    assert len(receiver.received) == 4
    assert [e.event for e in helpcrunch.core.events][-3:] == [
        "message.chat.agent",
        "chat.status_updated",
        "chat.assigned",
    ]


async def test_a_failing_receiver_gets_retries_with_attempts_counted(
    helpcrunch: FakeHelpCrunch, client: Client, receiver: Receiver
) -> None:
    chat = await client.chat()
    receiver.answers.extend([500, 503])
    await helpcrunch.agent_reply(chat["id"], "are you there?")

    first = [e for e in receiver.events if e["event"] == "message.chat.agent"]
    assert [e["attempts"] for e in first] == [0, 1, 2]
    assert len({e["id"] for e in first}) == 1  # the same event each time
    delivery = helpcrunch.deliveries[0]
    assert [a.status for a in delivery.attempts] == [500, 503, 200] and delivery.delivered
    assert all(verify(headers, body) for headers, body in receiver.received)

    helpcrunch.set_webhook("http://127.0.0.1:9/nowhere", SIGNING_KEY)
    helpcrunch.webhook_retry_delay = 0
    await helpcrunch.agent_reply(chat["id"], "lost")
    lost = helpcrunch.deliveries[-1]
    assert not lost.delivered and len(lost.attempts) == 3 and lost.attempts[0].error is not None


def test_the_signature_is_hex_hmac_sha1_of_the_raw_body() -> None:
    body = b'{"event":"message.chat.agent"}'
    assert sign(body, "key") == hmac.new(b"key", body, hashlib.sha1).hexdigest()
    assert len(sign(body, "key")) == 40


async def test_the_control_api_lets_another_process_act_as_the_agent(
    helpcrunch: FakeHelpCrunch, client: Client, receiver: Receiver
) -> None:
    chat = await client.chat()
    session = client.session

    async def control(path: str, **params: Any) -> tuple[int, Any]:
        async with session.post(f"/_fake{path}", json=params) as response:
            return response.status, await response.json()

    status, message = await control(f"/chats/{chat['id']}/reply", text="Hi from afar", agent_name="Anna")
    assert (status, message["text"], message["agent"]["name"]) == (200, "Hi from afar", "Anna")
    assert (await control(f"/chats/{chat['id']}/close"))[1]["status"] == "closed"
    assert (await control("/chats/1/reply", text="x"))[0] == 404
    assert (await control("/faults", kind="rate_limit", n=1))[0] == 200
    assert (await client.call("GET", f"/chats/{chat['id']}"))[0] == 429
    async with session.get("/_fake/state") as response:
        state = await response.json()
    assert state["chats"][str(chat["id"])]["status"] == "closed"
    assert [d["event"] for d in state["deliveries"]] == [
        "message.chat.agent",
        "chat.status_updated",
        "chat.status_updated",
        "chat.closed",
    ]
    assert not any(r.path.startswith("/_fake") for r in helpcrunch.requests)
