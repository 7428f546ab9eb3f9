"""The fake Omnidesk Chat controller and its hookpoint, driven over real HTTP the way the adapter will.

If these pass, the fake says what the documentation says (Omnidesk's API documentation), and
the adapter's tests can trust it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.omnidesk import (
    DEFAULT_API_KEY,
    DEFAULT_CHAT_ACCOUNT_TOKEN,
    ENDPOINTS,
    ControlError,
    FakeOmnidesk,
    FieldRule,
    OmnideskError,
)
from tests.support.asgi_server import serve

KEY = {"apiKey": DEFAULT_API_KEY}
SESSION_ID = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"  # a uuid: 36 of [a-zA-Z0-9-]
OTHER_SESSION = "visitor-0000000002"
CHAT_SERVER = "https://chat.example.com/hooks/omnidesk/desk/SECRET"
TOKEN = DEFAULT_CHAT_ACCOUNT_TOKEN


class Client:
    """The adapter's side of section D over HTTP: multipart/form-data with the apiKey header."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        endpoint: str,
        fields: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        data: Any = None,
        timeout: float = 5,
    ) -> tuple[int, Any]:
        if data is None and method == "POST":
            data = aiohttp.FormData({k: str(v) for k, v in (fields or {}).items()}, default_to_multipart=True)
        async with self.session.request(
            method,
            f"/api/v2/chat/{endpoint}",
            data=data,
            params=query,
            headers=KEY if headers is None else headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def say(self, text: str, session_id: str = SESSION_ID, **fields: Any) -> dict[str, Any]:
        base = {"chatServer": CHAT_SERVER, "chatSessionID": session_id, "chatAccountToken": TOKEN}
        status, answer = await self.call("notifyUserNewChatMessage", base | {"message": text} | fields)
        assert status == 200, answer
        return dict(answer)

    async def notice(self, endpoint: str, session_id: str = SESSION_ID, **fields: Any) -> tuple[int, Any]:
        return await self.call(endpoint, {"chatServer": CHAT_SERVER, "chatSessionID": session_id} | fields)

    async def attach(
        self, content: bytes, filename: str = "photo.png", session_id: str = SESSION_ID, **query: str
    ) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", content, filename=filename, content_type="image/png")
        params = {"chatServer": CHAT_SERVER, "chatSessionID": session_id, "chatAccountToken": TOKEN} | query
        return await self.call("addAttachment", data=form, query=params)


@pytest.fixture
def omnidesk() -> FakeOmnidesk:
    return FakeOmnidesk()


@pytest.fixture
async def client(omnidesk: FakeOmnidesk) -> AsyncIterator[Client]:
    async with serve(omnidesk.app) as base_url, aiohttp.ClientSession(base_url) as session:
        yield Client(session)


@dataclass
class Hookpoint:
    """Our server's hookpoint, reduced to what a test needs: keeps each POST, answers as told."""

    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (content type, fields)
    answer: tuple[int, str] = (200, "ok")

    async def message_for_customer(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0]
        if content_type == "application/json":
            fields = await request.json()
        else:
            async with request.form() as form:
                fields = {k: str(v) for k, v in form.items()}
        self.received.append((content_type, fields))
        return PlainTextResponse(self.answer[1], status_code=self.answer[0])


@pytest.fixture
async def hookpoint() -> AsyncIterator[tuple[Hookpoint, str]]:
    hook = Hookpoint()
    app = Starlette(
        routes=[
            Route(
                "/hooks/omnidesk/desk/SECRET/messageForCustomer", hook.message_for_customer, methods=["POST"]
            )
        ]
    )
    async with serve(app) as base_url:
        yield hook, f"{base_url}/hooks/omnidesk/desk/SECRET"


def error(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


# --- messages and tickets -------------------------------------------------------------------------------


async def test_the_first_message_opens_a_ticket_and_later_ones_reach_it(
    omnidesk: FakeOmnidesk, client: Client
) -> None:
    assert await client.say("Hello, I need a human", messageNumber=1, customerName="Chris Doe") == {
        "type": "result",
        "message": "Message sent.",
        "ticketID": 12312,  # the integration guide's example
    }
    assert (await client.say("Are you there?", messageNumber=2))["ticketID"] == 12312
    assert (await client.say("Other visitor", session_id=OTHER_SESSION))["ticketID"] == 12313
    assert (await client.say("third", messageNumber=3, channelID=8, url="https://acme.example/p"))[
        "ticketID"
    ] == 12312

    session = omnidesk.sessions[SESSION_ID]
    assert session.texts == ["Hello, I need a human", "Are you there?", "third"]
    assert session.message_numbers == [1, 2, 3]
    assert session.ticket_ids == [12312]
    assert session.chat_server == CHAT_SERVER
    assert [m.channel_id for m in session.messages] == [8, 8, 8]  # the default is 8
    assert session.messages[0].fields["customerName"] == "Chris Doe"
    assert session.messages[2].fields["url"] == "https://acme.example/p"
    assert omnidesk.sessions[OTHER_SESSION].message_numbers == [None]  # not sent: recorded as not sent


async def test_events_visits_and_the_end(omnidesk: FakeOmnidesk, client: Client) -> None:
    await client.say("hi")
    for event in ("startedtyping", "stoppedtyping", "expandedchat", "minimizedchat"):
        assert await client.notice("notifyUserNewChatEvent", event=event) == (
            200,
            {"type": "result", "message": "Event sent."},
        )
    assert (await client.notice("notifyUserVisited", url="https://acme.example/pricing"))[0] == 200
    assert await client.notice("notifyUserEndChat") == (200, {"type": "result", "message": "Chat ended."})

    session = omnidesk.sessions[SESSION_ID]
    assert session.events == ["startedtyping", "stoppedtyping", "expandedchat", "minimizedchat"]
    assert session.visits == ["https://acme.example/pricing"]
    assert (session.ended, session.ends) == (True, 1)
    # [I] after the end, the same chatSessionID opens a new ticket
    assert (await client.say("back again"))["ticketID"] == 12313
    assert (session.ticket_ids, session.ended) == ([12312, 12313], False)


async def test_notices_before_any_message_are_recorded_or_refused(
    omnidesk: FakeOmnidesk, client: Client
) -> None:
    assert (await client.notice("notifyUserNewChatEvent", event="startedtyping"))[0] == 200
    assert omnidesk.sessions[SESSION_ID].events == ["startedtyping"]
    assert omnidesk.sessions[SESSION_ID].ticket_id is None

    omnidesk.core.strict_sessions = True
    assert await client.notice("notifyUserVisited", session_id=OTHER_SESSION, url="http://x.example") == (
        400,
        error("Unknown chatSessionID."),
    )
    assert OTHER_SESSION not in omnidesk.sessions


# --- validation -----------------------------------------------------------------------------------------

MESSAGE = {"chatServer": CHAT_SERVER, "chatSessionID": SESSION_ID, "chatAccountToken": TOKEN, "message": "hi"}
NOTICE = {"chatServer": CHAT_SERVER, "chatSessionID": SESSION_ID}

CHECK = {"chatServer": CHAT_SERVER, "chatAccountToken": TOKEN, "origin": "acme.example", "ip": "192.0.2.1"}
SERVER_PATTERN = r"^[a-zA-Z0-9\.\:\/\-]+$"


def without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != name}


def short(name: str, n: int) -> str:
    return f"{name} must be at least {n} characters long."


def mismatch(name: str, pattern: str) -> str:
    return f"{name} does not match the pattern {pattern}."


# (endpoint, fields, the error message); each is refused with 400 and changes nothing.
BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("notifyUserNewChatMessage", MESSAGE | {"chatServer": "a:b"}, short("chatServer", 5)),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatServer": "https://x.example/a_b"},
        mismatch("chatServer", SERVER_PATTERN),
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatServer": "https://x.example/?k=v"},
        mismatch("chatServer", SERVER_PATTERN),
    ),
    ("notifyUserNewChatMessage", without(MESSAGE, "chatServer"), "chatServer is required."),
    ("notifyUserNewChatMessage", MESSAGE | {"chatSessionID": "short"}, short("chatSessionID", 10)),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatSessionID": "a" * 66},
        "chatSessionID must be at most 65 characters long.",
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatSessionID": "visitor_0000001"},
        mismatch("chatSessionID", r"^\+?[a-zA-Z0-9\-]+$"),
    ),
    ("notifyUserNewChatMessage", MESSAGE | {"chatAccountToken": "short"}, short("chatAccountToken", 10)),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatAccountToken": "a1b2c3d4e5-6"},
        mismatch("chatAccountToken", "^[a-zA-Z0-9]+$"),
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"chatAccountToken": "ffffffffffffffff"},
        "Invalid chatAccountToken.",
    ),
    ("notifyUserNewChatMessage", MESSAGE | {"message": ""}, short("message", 1)),
    ("notifyUserNewChatMessage", without(MESSAGE, "message"), "message is required."),
    ("notifyUserNewChatMessage", MESSAGE | {"messageNumber": 0}, "messageNumber must be between 1 and 50."),
    ("notifyUserNewChatMessage", MESSAGE | {"messageNumber": 51}, "messageNumber must be between 1 and 50."),
    ("notifyUserNewChatMessage", MESSAGE | {"messageNumber": "two"}, "messageNumber must be a number."),
    ("notifyUserNewChatMessage", MESSAGE | {"channelID": 0}, "channelID must be at least 1."),
    ("notifyUserNewChatMessage", MESSAGE | {"url": ""}, short("url", 1)),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"customerName": "José"},
        mismatch("customerName", "^[a-zA-Z 0-9]+$"),
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"customerName": "O'Brien"},
        mismatch("customerName", "^[a-zA-Z 0-9]+$"),
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"emailAddress": "chris@"},
        "emailAddress must be a valid email address.",
    ),
    (
        "notifyUserNewChatMessage",
        MESSAGE | {"phoneNumber": "0612345678"},
        mismatch("phoneNumber", r"^\+[0-9]+$"),
    ),
    (
        "notifyUserNewChatEvent",
        NOTICE | {"event": "typing"},
        "event must be one of: startedtyping, stoppedtyping, expandedchat, minimizedchat.",
    ),
    ("notifyUserNewChatEvent", NOTICE, "event is required."),
    (
        "notifyUserNewChatEvent",
        NOTICE | {"chatSessionID": "+31612345678", "event": "startedtyping"},
        mismatch("chatSessionID", r"^[a-zA-Z0-9\-]+$"),
    ),
    ("notifyUserVisited", NOTICE | {"url": "a.b"}, short("url", 4)),
    ("notifyUserEndChat", {"chatSessionID": SESSION_ID}, "chatServer is required."),
    ("requestChatConfig", {"chatServer": CHAT_SERVER}, "chatAccountToken is required."),
    ("requestChatQueue", {}, "chatAccountToken is required."),
    (
        "checkOriginAndIP",
        CHECK | {"origin": "https://acme.example"},
        mismatch("origin", r"^[a-zA-Z0-9\.\-]+$"),
    ),
    ("checkOriginAndIP", CHECK | {"origin": "acme.example:8443"}, mismatch("origin", r"^[a-zA-Z0-9\.\-]+$")),
    ("checkOriginAndIP", CHECK | {"ip": "::1"}, short("ip", 5)),
    ("checkOriginAndIP", CHECK | {"ip": "not-an-ip"}, "ip is not a valid IP address."),
]


async def test_every_documented_rule_is_enforced(omnidesk: FakeOmnidesk, client: Client) -> None:
    for endpoint, fields, message in BAD_FIELDS:
        assert await client.call(endpoint, fields) == (400, error(message)), (endpoint, fields)
    assert omnidesk.sessions == {}
    assert [r.status for r in omnidesk.requests] == [400] * len(BAD_FIELDS)

    # and the edges that pass: a "+" session id, 10 and 65 characters, messageNumber 50, the patterns
    await client.say("from whatsapp", session_id="+31612345678", phoneNumber="+31612345678")
    await client.say("ten", session_id="a" * 10, messageNumber=50, emailAddress="chris@example.com")
    await client.say(
        "sixty-five", session_id="b" * 65, customerName="Chris 2", usedPredefinedUserInput="true"
    )
    assert len(omnidesk.sessions) == 3


@pytest.mark.parametrize(
    ("rule", "raw", "parsed"),
    [
        (FieldRule("n", number=(1, 50)), "7", 7),
        (FieldRule("n", number=(1, None)), "999", 999),
        (FieldRule("s", min_length=3), "abc", "abc"),
        (FieldRule("s"), None, None),
        (FieldRule("e", email=True), "a@b.example", "a@b.example"),
    ],
)
def test_field_rules_parse(rule: FieldRule, raw: str | None, parsed: Any) -> None:
    assert rule.parse(raw) == parsed


def test_the_endpoints_are_the_nine_of_seed_004() -> None:
    assert sorted(ENDPOINTS) == sorted(
        [
            "requestChatConfig",
            "notifyUserNewChatMessage",
            "notifyUserNewChatEvent",
            "notifyUserVisited",
            "notifyUserEndChat",
            "addAttachment",
            "checkOriginAndIP",
            "whitelistedDomainsAndBlacklistedIPs",
            "requestChatQueue",
        ]
    )
    with pytest.raises(OmnideskError, match="required"):
        FieldRule("x", required=True).parse(None)


# --- transport: auth, content type, paths ---------------------------------------------------------------


async def test_the_api_key_goes_in_a_header_or_the_query(omnidesk: FakeOmnidesk, client: Client) -> None:
    assert (await client.call("requestChatQueue", {"chatAccountToken": TOKEN}))[0] == 200
    status, _ = await client.call(
        "requestChatQueue", {"chatAccountToken": TOKEN}, headers={}, query={"apiKey": DEFAULT_API_KEY}
    )
    assert status == 200
    for headers, query in [({}, None), ({"apiKey": "wrong"}, None), ({}, {"apiKey": "wrong"})]:
        assert await client.call("notifyUserNewChatMessage", MESSAGE, headers=headers, query=query) == (
            401,
            error("Invalid API key."),
        )
    assert omnidesk.sessions == {}

    omnidesk.permissions = frozenset({"CUSTOMER_READ"})
    assert await client.call("requestChatQueue", {"chatAccountToken": TOKEN}) == (
        403,
        error("This API key lacks the API_CHAT permission."),
    )


async def test_bodies_must_be_multipart(omnidesk: FakeOmnidesk, client: Client) -> None:
    urlencoded = aiohttp.FormData(MESSAGE)  # aiohttp's default for text fields: urlencoded
    assert await client.call("notifyUserNewChatMessage", data=urlencoded) == (
        400,
        error("The request body must be multipart/form-data."),
    )
    status, _ = await client.call("notifyUserNewChatMessage", data=json.dumps(MESSAGE), headers=KEY)
    assert status == 400
    assert omnidesk.sessions == {}

    omnidesk.accept_urlencoded = True
    assert (await client.call("notifyUserNewChatMessage", data=aiohttp.FormData(MESSAGE)))[0] == 200


async def test_unknown_endpoints_and_wrong_methods(client: Client) -> None:
    assert await client.call("notifyAgent", {}) == (404, error("Unknown endpoint."))
    assert await client.call("requestChatQueue", method="GET") == (405, error("requestChatQueue takes POST."))
    status, _ = await client.call("whitelistedDomainsAndBlacklistedIPs", {})
    assert status == 405


# --- attachments ----------------------------------------------------------------------------------------


async def test_an_attachment_keeps_its_bytes_and_filename(omnidesk: FakeOmnidesk, client: Client) -> None:
    await client.say("look at this")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert await client.attach(png, messageNumber="2") == (
        200,
        {"type": "result", "message": "Attachment added."},
    )
    # Seed 004's "string · byte": base64 in a text field is accepted too
    form = aiohttp.FormData({"file": base64.b64encode(b"bytes").decode()}, default_to_multipart=True)
    query = {"chatServer": CHAT_SERVER, "chatSessionID": SESSION_ID, "chatAccountToken": TOKEN}
    assert (await client.call("addAttachment", data=form, query=query))[0] == 200

    first, second = omnidesk.sessions[SESSION_ID].attachments
    assert (first.filename, first.content, first.content_type, first.message_number) == (
        "photo.png",
        png,
        "image/png",
        2,
    )
    assert (first.ticket_id, first.sent_as) == (12312, "file")
    assert (second.filename, second.content, second.sent_as) == (None, b"bytes", "base64")
    recorded = omnidesk.requests_for("addAttachment")[0]
    assert (recorded.files["file"].filename, recorded.files["file"].content) == ("photo.png", png)
    assert recorded.query["chatSessionID"] == SESSION_ID


async def test_attachment_refusals(omnidesk: FakeOmnidesk, client: Client) -> None:
    assert await client.attach(b"x", session_id=OTHER_SESSION) == (400, error("Unknown chatSessionID."))
    await client.say("hi")
    assert await client.attach(b"x", phoneNumber="06-123") == (
        400,
        error("phoneNumber does not match the pattern ^\\+?[0-9]+$."),
    )
    assert (await client.attach(b"x", phoneNumber="31612345678"))[0] == 200  # here the "+" is optional
    form = aiohttp.FormData({"other": "x"}, default_to_multipart=True)
    query = {"chatServer": CHAT_SERVER, "chatSessionID": SESSION_ID, "chatAccountToken": TOKEN}
    assert await client.call("addAttachment", data=form, query=query) == (400, error("file is required."))
    # the query carries the fields (Omnidesk's documentation); in the body they do not count
    status, answer = await client.call(
        "addAttachment", data=aiohttp.FormData(query | {"file": "eA=="}, default_to_multipart=True)
    )
    assert (status, answer) == (400, error("chatServer is required."))
    omnidesk.core.max_attachment_bytes = 10
    assert await client.attach(b"x" * 11) == (400, error("file is too large."))
    assert len(omnidesk.sessions[SESSION_ID].attachments) == 1


# --- policy, config, queue ------------------------------------------------------------------------------


async def check(client: Client, origin: str, ip: str) -> Any:
    status, answer = await client.call("checkOriginAndIP", CHECK | {"origin": origin, "ip": ip})
    assert status == 200, answer
    return answer


async def test_the_policy_behind_the_two_security_endpoints(omnidesk: FakeOmnidesk, client: Client) -> None:
    assert (await check(client, "anything.example", "192.0.2.1"))["allowed"] is True  # nothing configured
    omnidesk.set_policy(
        domains=["acme.example", "*.shop.example"], blocked_ips=["198.51.100.0/24", "2001:db8::/32"]
    )

    assert await client.call("whitelistedDomainsAndBlacklistedIPs", method="GET") == (
        200,
        {
            "type": "result",
            "message": "Whitelisted domains and blacklisted IPs.",
            "whitelistedDomains": ["acme.example", "*.shop.example"],
            "blacklistedIPs": ["198.51.100.0/24", "2001:db8::/32"],
        },
    )
    assert await check(client, "ACME.example", "192.0.2.1") == {
        "type": "result",
        "message": "Origin and IP allowed.",
        "allowed": True,
        "originAllowed": True,
        "ipAllowed": True,
    }
    cases = [
        ("www.acme.example", "192.0.2.1", False, True),  # exact entries allow that host only
        ("eu.shop.example", "192.0.2.1", True, True),
        ("shop.example", "192.0.2.1", False, True),  # a wildcard does not allow the bare domain
        ("shop.example.evil.com", "192.0.2.1", False, True),
        ("acme.example", "198.51.100.7", True, False),
        ("acme.example", "::ffff:198.51.100.7", True, False),  # IPv4-mapped compared as IPv4
        ("acme.example", "2001:db8::5", True, False),
        ("acme.example", "2001:db9::5", True, True),
    ]
    for origin, ip, origin_allowed, ip_allowed in cases:
        answer = await check(client, origin, ip)
        assert (answer["originAllowed"], answer["ipAllowed"]) == (origin_allowed, ip_allowed), (origin, ip)
        assert answer["allowed"] is (origin_allowed and ip_allowed)
        assert answer["message"] == (
            "Origin and IP allowed." if answer["allowed"] else "Origin or IP not allowed."
        )

    omnidesk.core.refusals_as_errors = True
    fields = {
        "chatServer": CHAT_SERVER,
        "chatAccountToken": TOKEN,
        "origin": "evil.example",
        "ip": "192.0.2.1",
    }
    assert await client.call("checkOriginAndIP", fields) == (400, error("Origin not allowed."))
    with pytest.raises(ValueError):
        omnidesk.set_policy(blocked_ips=["300.1.1.1"])


async def test_request_chat_config(omnidesk: FakeOmnidesk, client: Client) -> None:
    fields = {"chatServer": CHAT_SERVER, "chatAccountToken": TOKEN}
    assert await client.call("requestChatConfig", fields) == (
        200,
        {"type": "result", "message": "Chat config.", "config": {"online": True, "channelID": 8}},
    )
    omnidesk.set_config(online=False)
    assert (await client.call("requestChatConfig", fields))[1]["config"]["online"] is False


async def test_request_chat_queue(
    omnidesk: FakeOmnidesk, client: Client, hookpoint: tuple[Hookpoint, str]
) -> None:
    _, chat_server = hookpoint
    sessions = [f"queued-visitor-{n}" for n in range(3)]
    for session_id in sessions:
        await client.say("hello", session_id=session_id, chatServer=chat_server)

    async def queue() -> list[tuple[str, int]]:
        status, answer = await client.call("requestChatQueue", {"chatAccountToken": TOKEN})
        assert (status, answer["type"], answer["message"]) == (200, "result", "Chat queue."), answer
        return [(entry["chatSessionID"], entry["position"]) for entry in answer["queue"]]

    assert await queue() == [(sessions[0], 1), (sessions[1], 2), (sessions[2], 3)]
    await omnidesk.agent_reply(sessions[0], "I'm here")  # answered: out of the queue
    assert await queue() == [(sessions[1], 1), (sessions[2], 2)]
    omnidesk.queue_position(sessions[2], 7)
    assert await queue() == [(sessions[1], 1), (sessions[2], 7)]
    await client.notice("notifyUserEndChat", session_id=sessions[1], chatServer=chat_server)
    omnidesk.queue_position(sessions[2], None)
    assert await queue() == [(sessions[2], 1)]


# --- the hookpoint --------------------------------------------------------------------------------------


async def test_an_agent_reply_is_posted_to_message_for_customer(
    omnidesk: FakeOmnidesk, client: Client, hookpoint: tuple[Hookpoint, str]
) -> None:
    hook, chat_server = hookpoint
    await client.say("hello", chatServer=chat_server)

    call = await omnidesk.agent_reply(SESSION_ID, "Hi! How can I help?", agent_name="Anna")

    assert call.ok and call.url == f"{chat_server}/messageForCustomer"
    assert hook.received == [
        (
            "multipart/form-data",
            {"chatSessionID": SESSION_ID, "message": "Hi! How can I help?", "agentName": "Anna"},
        )
    ]
    assert omnidesk.sessions[SESSION_ID].agent_replies == [call]

    omnidesk.hook_format = "urlencoded"
    await omnidesk.agent_reply(SESSION_ID, "second")
    omnidesk.hook_format = "json"
    omnidesk.hook_fields["message"] = "text"
    omnidesk.hook_extra_fields = {"ticketID": "12312"}
    await omnidesk.agent_reply(SESSION_ID, "third")
    assert hook.received[1] == (
        "application/x-www-form-urlencoded",
        {"chatSessionID": SESSION_ID, "message": "second", "agentName": "Omnidesk Agent"},
    )
    assert hook.received[2] == (
        "application/json",
        {"chatSessionID": SESSION_ID, "text": "third", "agentName": "Omnidesk Agent", "ticketID": "12312"},
    )


async def test_a_hookpoint_that_does_not_answer_ok_is_recorded_as_failed(
    omnidesk: FakeOmnidesk, client: Client, hookpoint: tuple[Hookpoint, str]
) -> None:
    hook, chat_server = hookpoint
    await client.say("hello", chatServer=chat_server)
    hook.answer = (200, "OK, maybe")
    assert not (await omnidesk.agent_reply(SESSION_ID, "one")).ok
    hook.answer = (403, "ok")
    assert not (await omnidesk.agent_reply(SESSION_ID, "two")).ok
    hook.answer = (200, "ok\n")
    assert (await omnidesk.agent_reply(SESSION_ID, "three")).ok

    await client.say("moved", chatServer="http://127.0.0.1:9/nowhere")  # the latest chatServer counts
    unreachable = await omnidesk.agent_reply(SESSION_ID, "four")
    assert (unreachable.ok, unreachable.status) == (False, None) and unreachable.error
    with pytest.raises(ControlError):
        await omnidesk.agent_reply("never-seen-session", "hi")


# --- faults, the log, the control API -------------------------------------------------------------------


async def test_faults_down_and_delay(omnidesk: FakeOmnidesk, client: Client) -> None:
    omnidesk.fail_next(2, status=502)
    for _ in range(2):
        status, answer = await client.call("notifyUserNewChatMessage", MESSAGE)
        assert (status, answer["status"]) == (502, "error")
    omnidesk.down()
    assert await client.call("notifyUserNewChatMessage", MESSAGE) == (503, "Service Unavailable")
    omnidesk.down(False)
    assert omnidesk.sessions == {}
    await client.say("finally")

    omnidesk.delay(30)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.call("notifyUserNewChatMessage", MESSAGE | {"message": "lost"}, timeout=0.1)
    omnidesk.delay(0)
    await asyncio.sleep(0.05)
    assert omnidesk.sessions[SESSION_ID].texts == ["finally"]
    assert time.monotonic() - started < 5
    assert [r.status for r in omnidesk.requests_for("notifyUserNewChatMessage")] == [502, 502, 503, 200, 499]


async def test_every_request_is_recorded_with_its_form(omnidesk: FakeOmnidesk, client: Client) -> None:
    await client.say("hello", messageNumber=1)
    await client.call("whitelistedDomainsAndBlacklistedIPs", method="GET", headers={}, query=KEY)

    first, second = omnidesk.requests
    assert (first.method, first.endpoint, first.status) == ("POST", "notifyUserNewChatMessage", 200)
    assert first.form == {k: str(v) for k, v in (MESSAGE | {"message": "hello", "messageNumber": 1}).items()}
    assert first.headers["apiKey"] == DEFAULT_API_KEY
    assert first.headers["content-type"].startswith("multipart/form-data")
    assert (second.method, second.endpoint, second.query) == (
        "GET",
        "whitelistedDomainsAndBlacklistedIPs",
        KEY,
    )


async def test_the_control_api_lets_another_process_drive_the_fake(
    omnidesk: FakeOmnidesk, client: Client, hookpoint: tuple[Hookpoint, str]
) -> None:
    hook, chat_server = hookpoint
    await client.say("hello", chatServer=chat_server)
    session = client.session

    async def control(path: str, **params: Any) -> tuple[int, Any]:
        async with session.post(f"/_fake{path}", json=params) as response:
            return response.status, await response.json()

    status, answer = await control(f"/sessions/{SESSION_ID}/reply", text="from afar", agent_name="Bo")
    assert (status, answer["ok"]) == (200, True)
    assert hook.received[0][1]["agentName"] == "Bo"
    assert (await control("/sessions/unknown-session/reply", text="x"))[0] == 404
    assert (await control("/policy", domains=["acme.example"], blocked_ips=["192.0.2.0/24"]))[0] == 200
    assert omnidesk.core.domains == ["acme.example"]
    assert (await control("/queue", session=SESSION_ID, position=4))[0] == 200
    assert (await control("/faults", kind="down"))[0] == 200
    assert (await client.call("requestChatQueue", {"chatAccountToken": TOKEN}))[0] == 503
    assert (await control("/faults", kind="up"))[0] == 200
    status, answer = await client.call("requestChatQueue", {"chatAccountToken": TOKEN})
    assert answer["queue"] == [{"chatSessionID": SESSION_ID, "position": 4}]
    async with session.get("/_fake/state") as response:
        state = await response.json()
    assert state["sessions"][SESSION_ID]["messages"] == [{"text": "hello", "messageNumber": None}]
    assert not any(r.path.startswith("/_fake") for r in omnidesk.requests)
