"""The fake GWS Customer Chat server, driven over real HTTP the way the adapter will drive it.

If these pass, the fake says what the documentation (Genesys's GWS customer chat API)
says; the adapter's tests can then trust it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.gws import (
    DEFAULT_CONTACT_CENTER_ID,
    AgentScript,
    ControlError,
    FakeGWS,
    GWSError,
    route,
)
from tests.support.asgi_server import serve

HEADERS = {"ContactCenterId": DEFAULT_CONTACT_CENTER_ID}
CHRIS = {"operationName": "RequestChat", "nickname": "Chris", "subject": "Question..."}


class Customer:
    """The customer side of A.3 over HTTP, no smarter than the tests need."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout: float = 5,
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            path,
            json=body,
            data=data,
            headers=HEADERS if headers is None else headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def request_chat(self, **params: Any) -> str:
        status, body = await self.call("POST", "/api/v2/chats/", CHRIS | params)
        assert (status, body["statusCode"]) == (200, 0), body
        return str(body["id"])

    async def send(self, chat_id: str, operation: str, **params: Any) -> tuple[int, Any]:
        return await self.call("POST", f"/api/v2/chats/{chat_id}", {"operationName": operation} | params)

    async def chat(self, chat_id: str, prefix: str = "/api/v2/chats") -> dict[str, Any]:
        status, body = await self.call("GET", f"{prefix}/{chat_id}")
        assert (status, body["statusCode"]) == (200, 0), body
        return dict(body["chat"])

    async def messages(
        self, chat_id: str, index: int | None = None, prefix: str = "/api/v2/chats"
    ) -> list[dict[str, Any]]:
        query = "" if index is None else f"?index={index}"
        status, body = await self.call("GET", f"{prefix}/{chat_id}/messages{query}")
        assert (status, body["statusCode"]) == (200, 0), body
        return list(body["messages"])


@pytest.fixture
def gws() -> FakeGWS:
    return FakeGWS()


@pytest.fixture
async def customer(gws: FakeGWS) -> AsyncIterator[Customer]:
    async with serve(gws.app) as base_url, aiohttp.ClientSession(base_url) as session:
        yield Customer(session)


def indexes_and_types(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(m["index"], m["type"]) for m in messages]


async def test_request_chat_answers_like_the_documented_example(gws: FakeGWS, customer: Customer) -> None:
    # Seed 000's example: POST .../api/v2/chats (no trailing slash) with userData.
    example = CHRIS | {"userData": {"key": "value", "key1": "value1"}}
    status, body = await customer.call("POST", "/api/v2/chats", example)

    assert status == 200
    assert set(body) == {"id", "statusCode", "path"}
    assert body["statusCode"] == 0
    assert body["path"] == f"/api/v2/chats/{body['id']}"
    chat = gws.chats[body["id"]]
    assert (chat.nickname, chat.subject, chat.endpoint) == ("Chris", "Question...", None)
    assert chat.user_data == {"key": "value", "key1": "value1"}
    assert not chat.completed

    # The table's path, with the slash, and the optional endpoint.
    other = await customer.request_chat(endpoint="Billing")
    assert gws.chats[other].endpoint == "Billing"
    assert other != body["id"]


async def test_a_new_chat_waits_for_an_agent_with_the_customer_joined(customer: Customer) -> None:
    chat_id = await customer.request_chat()

    assert await customer.chat(chat_id) == {
        "capabilities": [
            "SendMessage",
            "SendStartTypingNotification",
            "SendStopTypingNotification",
            "Complete",
        ],
        "id": chat_id,
        "participants": [{"nickname": "Chris", "participantId": "1", "type": "Customer"}],
        "state": "WaitingForAgent",
    }
    assert await customer.messages(chat_id) == [
        {
            "from": {"nickname": "Chris", "participantId": "1", "type": "Customer"},
            "index": 1,
            "type": "ParticipantJoined",
        }
    ]


async def test_every_request_is_recorded_with_its_headers(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    await customer.send(chat_id, "SendMessage", text="Hello?")
    await customer.messages(chat_id, index=0)

    assert [(r.method, r.operation, r.chat_id) for r in gws.requests] == [
        ("POST", "RequestChat", None),
        ("POST", "SendMessage", chat_id),
        ("GET", "GetChatMessages", chat_id),
    ]
    assert all(r.headers.get("ContactCenterId") == DEFAULT_CONTACT_CENTER_ID for r in gws.requests)
    assert not any("Authorization" in r.headers for r in gws.requests)
    assert gws.requests[1].json == {"operationName": "SendMessage", "text": "Hello?"}
    assert gws.requests[2].query == {"index": "0"}


async def test_requests_outside_the_customer_rules_are_refused(gws: FakeGWS, customer: Customer) -> None:
    # A.1: ContactCenterId on every request and no Authorization header, also on the GETs.
    chat_id = await customer.request_chat()
    refusals = [
        ({}, 401, 20),
        ({"ContactCenterId": "someone-else"}, 403, 5),
        (HEADERS | {"Authorization": "Basic YWdlbnQ6c2VjcmV0"}, 403, 5),
    ]
    attempts = [
        ("POST", "/api/v2/chats/", CHRIS),
        ("POST", f"/api/v2/chats/{chat_id}", {"operationName": "SendMessage", "text": "hi"}),
        ("GET", f"/api/v2/chats/{chat_id}", None),
        ("GET", f"/api/v2/chats/{chat_id}/messages", None),
    ]
    for headers, http_status, status_code in refusals:
        for method, path, body in attempts:
            status, answer = await customer.call(method, path, body, headers=headers)
            assert (status, answer["statusCode"]) == (http_status, status_code), (headers, method, path)
            assert set(answer) == {"statusCode", "statusMessage"}

    assert list(gws.chats) == [chat_id]
    assert gws.chats[chat_id].customer_texts == []
    assert gws.chats[chat_id].read_cursor == 0


# (path, body, HTTP status, statusCode); "{chat}" is an existing chat. One server for the whole table:
# a server per case would cost more than the cases.
BAD_OPERATIONS: list[tuple[str, Any, int, int]] = [
    ("/api/v2/chats/", {"nickname": "Chris", "subject": "s"}, 400, 1),
    ("/api/v2/chats/", {"operationName": "SendMessage", "text": "hi"}, 400, 10),
    ("/api/v2/chats/", {"operationName": "RequestChat", "subject": "s"}, 400, 1),
    ("/api/v2/chats/", {"operationName": "RequestChat", "nickname": "", "subject": "s"}, 400, 1),
    ("/api/v2/chats/", {"operationName": "RequestChat", "nickname": "Chris"}, 400, 1),  # GWS's documentation
    ("/api/v2/chats/", CHRIS | {"userData": {"vip": True}}, 400, 10),
    ("/api/v2/chats/", CHRIS | {"userData": ["key", "value"]}, 400, 10),
    ("/api/v2/chats/", ["RequestChat"], 400, 10),
    ("{chat}", {"text": "hi"}, 400, 1),
    ("{chat}", {"operationName": "Transfer"}, 400, 10),  # agent-side only (A.8)
    ("{chat}", {"operationName": "SendMessage"}, 400, 1),
    ("{chat}", {"operationName": "SendMessage", "text": 42}, 400, 10),
    ("/api/v2/chats/no-such-chat", {"operationName": "SendMessage", "text": "hi"}, 404, 6),
]


async def test_bad_operations_get_documented_status_codes(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    for path, body, http_status, status_code in BAD_OPERATIONS:
        case = f"POST {path} {body}"
        status, answer = await customer.call("POST", path.replace("{chat}", f"/api/v2/chats/{chat_id}"), body)

        assert (status, answer["statusCode"]) == (http_status, status_code), (case, answer)
        assert set(answer) == {"statusCode", "statusMessage"}, case  # A.6: only these two on error
        assert list(gws.chats) == [chat_id], case  # A.6: an error did not modify anything
        assert len(gws.chats[chat_id].messages) == 1, case


async def test_invalid_json_and_unknown_resources(customer: Customer) -> None:
    chat_id = await customer.request_chat()
    bad_json = {"Content-Type": "application/json"} | HEADERS

    assert await customer.call("POST", "/api/v2/chats/", data=b'{"operationName": ', headers=bad_json) == (
        400,
        {"statusCode": 10, "statusMessage": "the request body is not valid JSON"},
    )
    for path in ("/api/v2/chats/nope", "/api/v2/chats/nope/messages", "/api/v2/me/chat/nope"):
        status, answer = await customer.call("GET", path)
        assert (status, answer["statusCode"]) == (404, 6)
    status, answer = await customer.call("GET", f"/api/v2/chats/{chat_id}/messages?index=-1")
    assert (status, answer["statusCode"]) == (400, 10)
    # GWS's documentation names only the two GETs under /api/v2/me/chat/{id}
    status, answer = await customer.call("POST", f"/api/v2/me/chat/{chat_id}", {"operationName": "Complete"})
    assert (status, answer["statusCode"]) == (405, 3)


async def test_a_conversation_reads_like_the_documented_transcript(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    await customer.send(chat_id, "SendMessage", text="Hello?")
    assert gws.agent_join(chat_id) == 3
    await customer.send(chat_id, "SendStartTypingNotification")
    await customer.send(chat_id, "SendStopTypingNotification")
    assert gws.agent_typing(chat_id) == 6
    assert gws.agent_say(chat_id, "How can I help you?") == 7
    assert gws.agent_typing(chat_id, active=False) == 8

    chris = {"nickname": "Chris", "participantId": "1", "type": "Customer"}
    kristi = {"nickname": "Kristi Sippola", "participantId": "2", "type": "Agent"}
    assert await customer.messages(chat_id, index=0) == [
        {"from": chris, "index": 1, "type": "ParticipantJoined"},
        {"from": chris, "index": 2, "text": "Hello?", "type": "Text"},  # GWS echoes the customer's text
        {"from": kristi, "index": 3, "type": "ParticipantJoined"},
        {"from": chris, "index": 4, "type": "TypingStarted"},
        {"from": chris, "index": 5, "type": "TypingStopped"},
        {"from": kristi, "index": 6, "text": "user is typing", "type": "TypingStarted"},  # as in A.5
        {"from": kristi, "index": 7, "text": "How can I help you?", "type": "Text"},
        {"from": kristi, "index": 8, "type": "TypingStopped"},
    ]
    chat = await customer.chat(chat_id)
    assert chat["state"] == "Chatting"
    assert chat["participants"] == [kristi, chris]  # the order of the A.4 example
    assert gws.chats[chat_id].customer_texts == ["Hello?"]


async def test_index_reads_from_an_entry_and_omitting_it_reads_only_unread(
    gws: FakeGWS, customer: Customer
) -> None:
    chat_id = await customer.request_chat()
    gws.agent_join(chat_id)
    gws.agent_say(chat_id, "one")

    # A.5: index omitted -> only what this client has not received yet, tracked per chat by the server.
    assert indexes_and_types(await customer.messages(chat_id)) == [
        (1, "ParticipantJoined"),
        (2, "ParticipantJoined"),
        (3, "Text"),
    ]
    assert await customer.messages(chat_id) == []
    gws.agent_say(chat_id, "two")
    await customer.send(chat_id, "SendMessage", text="three")
    assert indexes_and_types(await customer.messages(chat_id)) == [(4, "Text"), (5, "Text")]
    assert await customer.messages(chat_id) == []

    # A.5: index is the first entry to return; 0 returns everything; neither moves the cursor back.
    assert [m["index"] for m in await customer.messages(chat_id, index=4)] == [4, 5]
    assert [m["index"] for m in await customer.messages(chat_id, index=0)] == [1, 2, 3, 4, 5]
    assert await customer.messages(chat_id, index=6) == []
    assert await customer.messages(chat_id) == []

    # Reading ahead with an explicit index also counts as received.
    gws.agent_say(chat_id, "four")
    gws.agent_say(chat_id, "five")
    assert [m["text"] for m in await customer.messages(chat_id, index=6)] == ["four", "five"]
    assert await customer.messages(chat_id) == []
    assert gws.chats[chat_id].read_cursor == 7


async def test_the_general_page_paths_serve_the_same_resources(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    gws.agent_join(chat_id)

    assert await customer.chat(chat_id, prefix="/api/v2/me/chat") == await customer.chat(chat_id)
    assert indexes_and_types(await customer.messages(chat_id, prefix="/api/v2/me/chat")) == [
        (1, "ParticipantJoined"),
        (2, "ParticipantJoined"),
    ]
    # One cursor per chat, whichever path reads it.
    assert await customer.messages(chat_id) == []
    assert [(r.operation, r.path.startswith("/api/v2/me/")) for r in gws.requests[1:]] == [
        ("GetChat", True),
        ("GetChat", False),
        ("GetChatMessages", True),
        ("GetChatMessages", False),
    ]


async def test_when_the_agent_leaves_the_chat_is_idle_and_only_complete_remains(
    gws: FakeGWS, customer: Customer
) -> None:
    chat_id = await customer.request_chat()
    gws.agent_join(chat_id)
    assert gws.agent_leave(chat_id) == 3

    chat = await customer.chat(chat_id)
    assert (chat["state"], chat["capabilities"]) == ("Idle", ["Complete"])
    assert chat["participants"] == [{"nickname": "Chris", "participantId": "1", "type": "Customer"}]
    assert indexes_and_types(await customer.messages(chat_id, index=3)) == [(3, "ParticipantLeft")]
    for operation, params in [("SendMessage", {"text": "still there?"}), ("SendStartTypingNotification", {})]:
        status, answer = await customer.send(chat_id, operation, **params)
        assert (status, answer["statusCode"]) == (400, 2)
    assert gws.chats[chat_id].customer_texts == []

    assert await customer.send(chat_id, "Complete") == (200, {"statusCode": 0})
    assert gws.chats[chat_id].completed


async def test_after_complete_nothing_more_is_valid(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    gws.agent_join(chat_id)
    assert await customer.send(chat_id, "Complete") == (200, {"statusCode": 0})

    chat = await customer.chat(chat_id)
    assert (chat["state"], chat["capabilities"]) == ("Idle", [])
    assert indexes_and_types(await customer.messages(chat_id, index=3)) == [(3, "ParticipantLeft")]
    for operation in ("SendMessage", "Complete"):
        status, answer = await customer.send(chat_id, operation, text="hello?")
        assert (status, answer["statusCode"]) == (400, 2)
    # A.3: "no further requests should be sent" after Complete; the fake counts them for the adapter tests.
    assert gws.chats[chat_id].requests_after_complete == 4
    with pytest.raises(ControlError):
        gws.agent_say(chat_id, "too late")


async def test_a_dropped_chat_is_not_found(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    gws.drop_chat(chat_id)

    for method, path in [("GET", f"/api/v2/chats/{chat_id}"), ("GET", f"/api/v2/chats/{chat_id}/messages")]:
        status, answer = await customer.call(method, path)
        assert (status, answer) == (404, {"statusCode": 6, "statusMessage": f"chat not found: {chat_id}"})
    status, answer = await customer.send(chat_id, "SendMessage", text="hi")
    assert (status, answer["statusCode"]) == (404, 6)


def test_agent_controls_refuse_what_an_agent_cannot_do() -> None:
    gws = FakeGWS()
    chat_id = gws.core.request_chat(CHRIS).id
    with pytest.raises(ControlError, match="no agent"):
        gws.agent_say(chat_id, "before joining")
    with pytest.raises(ControlError, match="no such chat"):
        gws.agent_join("nope")
    before = time.monotonic()
    gws.agent_join(chat_id)
    with pytest.raises(ControlError, match="already"):
        gws.agent_join(chat_id)
    assert gws.agent_say(chat_id, "hi") == 3
    written = gws.chats[chat_id].agent_texts
    assert [(t.index, t.text) for t in written] == [(3, "hi")]
    assert before <= written[0].written_at <= time.monotonic()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/v2/chats/", ("RequestChat", None)),
        ("POST", "/api/v2/chats", ("RequestChat", None)),
        ("POST", "/api/v2/chats/abc", ("ChatOperation", "abc")),
        ("GET", "/api/v2/chats/abc", ("GetChat", "abc")),
        ("GET", "/api/v2/chats/abc/messages", ("GetChatMessages", "abc")),
        ("GET", "/api/v2/me/chat/abc", ("GetChat", "abc")),
        ("GET", "/api/v2/me/chat/abc/messages", ("GetChatMessages", "abc")),
        ("POST", "/api/v2/me/chat/abc", 3),
        ("POST", "/api/v2/chats/abc/messages", 3),
        ("GET", "/api/v2/chats/", 3),
        ("GET", "/api/v2/me/chats/abc", 6),  # the agent-side API (A.8) is not part of this fake
        ("GET", "/api/v2/chats/abc/messages/1", 6),
    ],
)
def test_route(method: str, path: str, expected: tuple[str, str | None] | int) -> None:
    if isinstance(expected, int):
        with pytest.raises(GWSError) as error:
            route(method, path)
        assert error.value.status_code == expected
    else:
        assert route(method, path) == expected


async def test_injected_faults_come_in_order_and_change_nothing(gws: FakeGWS, customer: Customer) -> None:
    chat_id = await customer.request_chat()
    gws.fail_next(2, status=503)
    gws.rate_limit_next(1, retry_after=2)
    gws.refuse_next(1, status_code=9)
    say = {"operationName": "SendMessage", "text": "hi"}

    for _ in range(2):
        assert await customer.call("POST", f"/api/v2/chats/{chat_id}", say) == (
            503,
            {"statusCode": 4, "statusMessage": "internal error (injected by the test)"},
        )
    async with customer.session.post(f"/api/v2/chats/{chat_id}", json=say, headers=HEADERS) as response:
        assert (response.status, response.headers["Retry-After"]) == (429, "2")
    assert await customer.call("POST", f"/api/v2/chats/{chat_id}", say) == (
        200,
        {"statusCode": 9, "statusMessage": "request refused (injected by the test)"},
    )
    assert gws.chats[chat_id].customer_texts == []

    assert await customer.call("POST", f"/api/v2/chats/{chat_id}", say) == (200, {"statusCode": 0})
    assert gws.chats[chat_id].customer_texts == ["hi"]
    assert [r.operation for r in gws.requests].count("SendMessage") == 5  # faulted requests are recorded


async def test_a_delay_makes_clients_time_out_and_a_timed_out_request_has_no_effect(
    gws: FakeGWS, customer: Customer
) -> None:
    chat_id = await customer.request_chat()
    gws.delay(0.2)
    started = time.monotonic()
    assert await customer.send(chat_id, "SendMessage", text="slow") == (200, {"statusCode": 0})
    assert time.monotonic() - started >= 0.2

    gws.delay(30)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await customer.call("POST", f"/api/v2/chats/{chat_id}", {"operationName": "Complete"}, timeout=0.1)
    gws.delay(0)
    await asyncio.sleep(0.05)  # let the server notice that the client went away

    assert not gws.chats[chat_id].completed
    assert gws.chats[chat_id].customer_texts == ["slow"]
    assert time.monotonic() - started < 5  # the abandoned request did not sit out its 30 s


async def test_the_control_api_lets_another_process_act_as_the_agent(
    gws: FakeGWS, customer: Customer
) -> None:
    chat_id = await customer.request_chat()
    control = customer.session

    async def act(action: str, **params: Any) -> tuple[int, Any]:
        async with control.post(f"/_fake/chats/{chat_id}/{action}", json=params) as response:
            return response.status, await response.json()

    assert await act("say", text="too early") == (
        409,
        {"error": f"no agent is in chat {chat_id} (state WaitingForAgent)"},
    )
    assert await act("join", nickname="Anna") == (200, {"index": 2})
    assert await act("typing", active=True) == (200, {"index": 3})
    assert await act("say", text="Hi Chris") == (200, {"index": 4})
    assert await act("leave") == (200, {"index": 5})
    async with control.post("/_fake/faults", json={"kind": "refuse", "n": 1}) as response:
        assert response.status == 200
    assert (await customer.call("GET", f"/api/v2/chats/{chat_id}"))[1]["statusCode"] == 4  # refused
    await customer.messages(chat_id)

    async with control.get("/_fake/stats") as response:
        stats = await response.json()
    assert stats["requests"]["by_operation"] == {"RequestChat": 1, "GetChat": 1, "GetChatMessages": 1}
    assert stats["requests"]["by_chat"] == {chat_id: {"GetChat": 1, "GetChatMessages": 1}}
    summary = stats["chats"][chat_id]
    assert (summary["state"], summary["nickname"], summary["read_cursor"]) == ("Idle", "Chris", 5)
    assert [(t["index"], t["text"]) for t in summary["agent_texts"]] == [(4, "Hi Chris")]
    assert not any(r.path.startswith("/_fake/") for r in gws.requests)  # control calls are not GWS traffic


async def test_the_agent_script_joins_and_replies_on_its_own(gws: FakeGWS) -> None:
    gws.agent_script = AgentScript(
        join_after=0.02, reply_every=(0.02, 0.05), typing=(0.005, 0.01), rng=random.Random(7)
    )
    async with serve(gws.app) as base_url, aiohttp.ClientSession(base_url) as session:
        customer = Customer(session)
        chat_id = await customer.request_chat()
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(3):
            while sum(m["type"] == "Text" for m in seen) < 2:
                seen += await customer.messages(chat_id)
                await asyncio.sleep(0.01)
        assert seen[1]["type"] == "ParticipantJoined"
        assert seen[2]["type"] == "TypingStarted" and seen[3]["type"] == "Text"  # it types, like a person
        assert (await customer.chat(chat_id))["state"] == "Chatting"
        await customer.send(chat_id, "Complete")
        replies = gws.stats()["agent_replies"]
    assert [r["index"] for r in replies][:2] == [4, 6]  # each Text follows its TypingStarted
    assert all(r["chat_id"] == chat_id and r["written_at"] <= time.monotonic() for r in replies)
