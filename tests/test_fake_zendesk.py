"""The fake Zendesk Chat API, driven over real HTTP the way the Zendesk outbox will drive it.

If these pass, the fake says what Zendesk Chat's REST API ("Create Chat", "Show Chat") says, and
refuses what it does not allow; the outbox's tests can then trust it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.zendesk import DEFAULT_TOKEN, FakeZendesk, check_offline_message
from tests.support.asgi_server import serve

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}

# Seed 003's curl sample for Create Chat, verbatim except the email address, which the copied page shows
# as "[email protected]" (the web page's email obfuscation, not the sample's value).
DOCUMENTED_REQUEST: dict[str, Any] = {
    "visitor": {"phone": "", "notes": "", "id": "1.12345", "name": "John", "email": "john@example.com"},
    "message": "Hi there!",
    "type": "offline_msg",
    "timestamp": 1444156010,
    "session": {
        "browser": "Safari",
        "city": "Orlando",
        "country_code": "US",
        "country_name": "United States",
        "end_date": "2014-10-09T05:46:47Z",
        "id": "141109.654464.1KhqS0Nw",
        "ip": "67.32.299.96",
        "platform": "Mac OS",
        "region": "Florida",
        "start_date": "2014-10-09T05:28:31Z",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10) AppleWebKit/600.1.25 (KHTML, like Gecko)"
        " Version/8.0 Safari/600.1.25",
    },
}

# The keys of the seed's "201 Created" example response, in its order.
DOCUMENTED_RESPONSE_KEYS = [
    "department_id",
    "department_name",
    "id",
    "message",
    "session",
    "started_by",
    "timestamp",
    "type",
    "unread",
    "visitor",
    "webpath",
    "zendesk_ticket_id",
]

# What the outbox will send: the smallest body the documentation allows.
MINIMAL: dict[str, Any] = {
    "visitor": {"name": "Chris", "email": "chris@example.com"},
    "message": "Please call me back.",
    "type": "offline_msg",
    "session": {},
    "timestamp": "2024-05-01T12:00:00Z",
}


class Client:
    """The outbox's side over HTTP, no smarter than the tests need."""

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
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        async with self.session.request(
            method,
            path,
            json=body,
            data=data,
            headers=AUTH if headers is None else headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return response.status, parsed, response.headers

    async def create(self, body: Any, **kwargs: Any) -> tuple[int, Any, Any]:
        return await self.call("POST", "/api/v2/chat/chats", body, **kwargs)

    async def show(self, chat_id: str, **kwargs: Any) -> tuple[int, Any, Any]:
        return await self.call("GET", f"/api/v2/chat/chats/{chat_id}", **kwargs)


@pytest.fixture
def zendesk() -> FakeZendesk:
    return FakeZendesk()


@pytest.fixture
async def client(zendesk: FakeZendesk) -> AsyncIterator[Client]:
    async with serve(zendesk.app) as base_url, aiohttp.ClientSession(base_url) as session:
        yield Client(session)


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# --- Create Chat and Show Chat ---------------------------------------------------------------------------


async def test_the_documented_request_creates_the_documented_offline_message(
    zendesk: FakeZendesk, client: Client
) -> None:
    status, body, _ = await client.create(DOCUMENTED_REQUEST)

    assert status == 201
    assert list(body) == DOCUMENTED_RESPONSE_KEYS
    assert body["type"] == "offline_msg"
    assert body["message"] == "Hi there!"
    assert body["timestamp"] == "2015-10-06T18:26:50Z"  # 1444156010 rendered as every answer renders times
    assert body["visitor"] == {
        "email": "john@example.com",
        "id": "1.12345",
        "name": "John",
        "notes": "",
        "phone": "",
    }
    assert body["session"] == DOCUMENTED_REQUEST["session"]
    assert (body["started_by"], body["unread"], body["webpath"]) == ("visitor", False, [])
    assert (body["department_id"], body["department_name"], body["zendesk_ticket_id"]) == (None, None, None)
    assert isinstance(body["id"], str)
    assert zendesk.created == [body]

    status, shown, _ = await client.show(body["id"])
    assert (status, shown) == (200, body)


async def test_the_minimal_body_is_accepted_and_filled_in(zendesk: FakeZendesk, client: Client) -> None:
    first = await client.create(MINIMAL)
    second = await client.create(with_changes(MINIMAL, message="Second", unread=True))

    assert (first[0], second[0]) == (201, 201)
    one, two = first[1], second[1]
    assert one["id"] != two["id"]
    assert one["timestamp"] == "2024-05-01T12:00:00Z"
    assert (one["visitor"]["phone"], one["visitor"]["notes"]) == ("", "")
    assert one["visitor"]["id"] and one["visitor"]["id"] != two["visitor"]["id"]
    assert (one["unread"], two["unread"]) == (False, True)
    assert [c["message"] for c in zendesk.created] == ["Please call me back.", "Second"]


@pytest.mark.parametrize(
    ("timestamp", "rendered"),
    [
        (0, "1970-01-01T00:00:00Z"),
        ("2024-05-01T12:00:00", "2024-05-01T12:00:00Z"),  # no zone: UTC
        ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T12:00:00.987654Z", "2024-05-01T12:00:00Z"),
    ],
)
async def test_timestamps_as_unix_seconds_or_iso_8601(client: Client, timestamp: Any, rendered: str) -> None:
    status, body, _ = await client.create(with_changes(MINIMAL, timestamp=timestamp))
    assert (status, body["timestamp"]) == (201, rendered)


async def test_departments_are_named_when_the_fake_knows_them() -> None:
    zendesk = FakeZendesk(departments={1: "Billing Department"})
    async with serve(zendesk.app) as url, aiohttp.ClientSession(url) as session:
        client = Client(session)
        status, body, _ = await client.create(with_changes(MINIMAL, department_id=1))
        assert (status, body["department_id"], body["department_name"]) == (201, 1, "Billing Department")
        status, body, _ = await client.create(with_changes(MINIMAL, department_id=2))
        assert status == 400
        assert body["details"]["department_id"][0]["error"] == "InvalidValue"
    assert len(zendesk.created) == 1


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("a live chat", with_changes(MINIMAL, type="chat"), "type", "InvalidValue"),
    ("no type", with_changes(MINIMAL, type=...), "type", "Missing"),
    ("no visitor", with_changes(MINIMAL, visitor=...), "visitor", "Missing"),
    ("no message", with_changes(MINIMAL, message=...), "message", "Missing"),
    ("no session", with_changes(MINIMAL, session=...), "session", "Missing"),
    ("no timestamp", with_changes(MINIMAL, timestamp=...), "timestamp", "Missing"),
    ("misspelled message", with_changes(MINIMAL, message=..., mesage="Hi"), "mesage", "UnknownField"),
    ("unknown field", with_changes(MINIMAL, end_timestamp=1444156010), "end_timestamp", "UnknownField"),
    ("server-assigned id", with_changes(MINIMAL, id="123"), "id", "ReadOnly"),
    ("server-assigned webpath", with_changes(MINIMAL, webpath=[]), "webpath", "ReadOnly"),
    ("blank message", with_changes(MINIMAL, message="  "), "message", "BlankValue"),
    ("message not a string", with_changes(MINIMAL, message=42), "message", "InvalidType"),
    ("visitor not an object", with_changes(MINIMAL, visitor="Chris"), "visitor", "InvalidType"),
    ("session not an object", with_changes(MINIMAL, session=[]), "session", "InvalidType"),
    ("timestamp a boolean", with_changes(MINIMAL, timestamp=True), "timestamp", "InvalidType"),
    ("timestamp a float", with_changes(MINIMAL, timestamp=1444156010.5), "timestamp", "InvalidType"),
    ("timestamp not a time", with_changes(MINIMAL, timestamp="yesterday"), "timestamp", "InvalidValue"),
    ("timestamp out of range", with_changes(MINIMAL, timestamp=10**20), "timestamp", "InvalidValue"),
    (
        "timestamp before year 1",
        with_changes(MINIMAL, timestamp="0001-01-01T00:00:00+01:00"),
        "timestamp",
        "InvalidValue",
    ),
    ("department_id a string", with_changes(MINIMAL, department_id="1"), "department_id", "InvalidType"),
    ("department_id null", with_changes(MINIMAL, department_id=None), "department_id", "InvalidType"),
    ("unread a string", with_changes(MINIMAL, unread="no"), "unread", "InvalidType"),
    ("visitor without email", with_changes(MINIMAL, visitor={"name": "Chris"}), "visitor.email", "Missing"),
    ("visitor without name", with_changes(MINIMAL, visitor={"email": "c@x.org"}), "visitor.name", "Missing"),
    (
        "visitor email not a string",
        with_changes(MINIMAL, visitor={"name": "Chris", "email": None}),
        "visitor.email",
        "InvalidType",
    ),
    (
        "visitor id a number",
        with_changes(MINIMAL, visitor={"name": "Chris", "email": "c@x.org", "id": 7}),
        "visitor.id",
        "InvalidType",
    ),
    (
        "misspelled visitor field",
        with_changes(MINIMAL, visitor={"name": "Chris", "email": "c@x.org", "phnoe": "1"}),
        "visitor.phnoe",
        "UnknownField",
    ),
    (
        "misspelled session field",
        with_changes(MINIMAL, session={"user_agnet": "x"}),
        "session.user_agnet",
        "UnknownField",
    ),
    ("session ip a number", with_changes(MINIMAL, session={"ip": 1}), "session.ip", "InvalidType"),
    (
        "session start_date not a time",
        with_changes(MINIMAL, session={"start_date": "monday"}),
        "session.start_date",
        "InvalidValue",
    ),
]


async def test_create_refuses_what_the_documentation_does_not_allow(
    zendesk: FakeZendesk, client: Client
) -> None:
    # One server for the whole table: starting one per row would cost a fifth of a second each.
    for case, body, field, code in REFUSED:
        status, answer, _ = await client.create(body)

        assert status == 400, (case, answer)
        assert answer["error"] == "RecordInvalid", case
        assert answer["description"].startswith("Record validation errors: "), case
        assert [problem["error"] for problem in answer["details"][field]] == [code], (case, answer)
        assert all(isinstance(p["description"], str) for ps in answer["details"].values() for p in ps), case
    assert zendesk.created == [] and zendesk.chats == {}


async def test_every_problem_of_a_body_is_reported_at_once(client: Client) -> None:
    body = {"type": "chat", "visitor": {"nme": "Chris"}, "message": "", "timestamp": "soon", "extra": 1}
    status, answer, _ = await client.create(body)
    assert status == 400
    assert {field: [p["error"] for p in problems] for field, problems in answer["details"].items()} == {
        "session": ["Missing"],
        "extra": ["UnknownField"],
        "type": ["InvalidValue"],
        "message": ["BlankValue"],
        "timestamp": ["InvalidValue"],
        "visitor.name": ["Missing"],
        "visitor.email": ["Missing"],
        "visitor.nme": ["UnknownField"],
    }
    assert "only supports creating offline messages" in answer["details"]["type"][0]["description"]


NOT_JSON = [
    (b"{not json", "application/json", "not valid JSON"),
    (b"", "application/json", "not valid JSON"),
    (json.dumps(MINIMAL).encode(), "text/plain", "Content-Type: application/json"),
    (json.dumps(MINIMAL).encode(), None, "Content-Type: application/json"),
]


async def test_create_refuses_a_body_that_is_not_json(zendesk: FakeZendesk, client: Client) -> None:
    for data, content_type, description in NOT_JSON:
        headers = dict(AUTH) | ({"Content-Type": content_type} if content_type else {})
        status, answer, _ = await client.create(None, data=data, headers=headers)
        assert status == 400, (data, content_type)
        assert answer["error"] == "InvalidRequest" and description in answer["description"]
    assert zendesk.created == []


async def test_create_refuses_a_json_array(client: Client) -> None:
    status, answer, _ = await client.create([MINIMAL])
    assert status == 400
    assert answer["details"] == {
        "base": [{"error": "InvalidType", "description": "the body must be a JSON object"}]
    }


async def test_the_content_type_may_carry_a_charset(client: Client) -> None:
    headers = dict(AUTH) | {"Content-Type": "application/json; charset=utf-8"}
    status, _, _ = await client.create(None, data=json.dumps(MINIMAL).encode(), headers=headers)
    assert status == 201


async def test_show_an_unknown_chat_is_404(client: Client) -> None:
    status, answer, _ = await client.show("no-such-chat")
    assert (status, answer) == (404, {"error": "RecordNotFound", "description": "Not found"})


async def test_other_paths_and_methods_are_refused_in_the_same_envelope(client: Client) -> None:
    status, answer, _ = await client.call("GET", "/api/v2/chat/agents")
    assert (status, answer["error"]) == (404, "InvalidEndpoint")
    status, answer, _ = await client.call("GET", "/api/v2/chat/chats")
    assert (status, answer["error"]) == (405, "MethodNotAllowed")
    status, created, _ = await client.create(MINIMAL)
    status, answer, _ = await client.call("DELETE", f"/api/v2/chat/chats/{created['id']}")
    assert (status, answer["error"]) == (405, "MethodNotAllowed")


def test_the_validation_is_a_pure_function() -> None:
    assert check_offline_message(DOCUMENTED_REQUEST) == {}
    assert check_offline_message(MINIMAL, departments={}) == {}
    assert list(check_offline_message(with_changes(MINIMAL, department_id=3), departments={})) == [
        "department_id"
    ]


# --- authentication -------------------------------------------------------------------------------------


NOT_AUTHENTICATED = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {DEFAULT_TOKEN}"},
    {"Authorization": DEFAULT_TOKEN},
    {"Authorization": "Bearer"},
    {"Authorization": f"Bearer {DEFAULT_TOKEN}x"},
]


async def test_requests_without_the_bearer_token_are_401(zendesk: FakeZendesk, client: Client) -> None:
    for headers in NOT_AUTHENTICATED:
        status, answer, response_headers = await client.create(MINIMAL, headers=headers)
        assert (status, answer) == (
            401,
            {"error": "Unauthorized", "description": "Couldn't authenticate you"},
        )
        assert response_headers["WWW-Authenticate"] == "Bearer"
        status, _, _ = await client.show("1", headers=headers)
        assert status == 401, headers
    assert zendesk.created == []


async def test_the_expected_token_is_configurable_and_the_scheme_case_insensitive() -> None:
    zendesk = FakeZendesk(token="s3cret")
    async with serve(zendesk.app) as url, aiohttp.ClientSession(url) as session:
        client = Client(session)
        assert (await client.create(MINIMAL))[0] == 401
        assert (await client.create(MINIMAL, headers={"Authorization": "Bearer s3cret"}))[0] == 201
        assert (await client.create(MINIMAL, headers={"Authorization": "bearer s3cret"}))[0] == 201


# --- rate limit -----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_documented_rate_limit_is_200_requests_per_minute(
    zendesk: FakeZendesk, client: Client
) -> None:
    statuses = await asyncio.gather(*(client.show("none") for _ in range(200)))
    assert {s for s, _, _ in statuses} == {404}
    status, answer, headers = await client.show("none")
    assert status == 429
    assert answer["error"] == "TooManyRequests" and "200 requests per 60 seconds" in answer["description"]
    assert 1 <= int(headers["Retry-After"]) <= 60


async def test_the_window_slides_and_retry_after_says_when_a_slot_frees() -> None:
    clock = FakeClock()
    zendesk = FakeZendesk(rate_limit=3, rate_window=10, clock=clock)
    async with serve(zendesk.app) as url, aiohttp.ClientSession(url) as session:
        client = Client(session)
        for _ in range(2):
            assert (await client.create(MINIMAL))[0] == 201
        clock.now += 4
        assert (await client.create(MINIMAL))[0] == 201
        status, _, headers = await client.create(MINIMAL)
        assert (status, headers["Retry-After"]) == (429, "6")  # the first two leave the window at +10
        clock.now += 5.5
        status, _, headers = await client.show("1")
        assert (status, headers["Retry-After"]) == (429, "1")  # 0.5 s, rounded up to a whole second
        clock.now += 0.5
        assert (await client.show("1"))[0] == 200  # two slots free now
        assert (await client.show("1"))[0] == 200
        assert (await client.show("1"))[0] == 429
        assert len(zendesk.created) == 3  # the refused create had no effect


async def test_unauthenticated_requests_do_not_use_up_the_limit() -> None:
    zendesk = FakeZendesk(rate_limit=1, clock=FakeClock())
    async with serve(zendesk.app) as url, aiohttp.ClientSession(url) as session:
        client = Client(session)
        for _ in range(3):
            assert (await client.show("1", headers={}))[0] == 401
        assert (await client.create(MINIMAL))[0] == 201
        assert (await client.create(MINIMAL))[0] == 429


# --- test controls --------------------------------------------------------------------------------------


async def test_fail_next_answers_errors_without_effect(zendesk: FakeZendesk, client: Client) -> None:
    zendesk.fail_next(2, status=502)
    first, second = await client.create(MINIMAL), await client.create(MINIMAL)
    assert [first[0], second[0]] == [502, 502]
    assert first[1]["error"] == "InternalServerError"
    assert zendesk.created == []
    assert (await client.create(MINIMAL))[0] == 201
    zendesk.fail_next()
    assert (await client.show("1"))[0] == 500
    assert len(zendesk.created) == 1


async def test_rate_limit_next_answers_429_with_retry_after(zendesk: FakeZendesk, client: Client) -> None:
    zendesk.rate_limit_next(2, retry_after=3)
    for _ in range(2):
        status, answer, headers = await client.create(MINIMAL)
        assert (status, headers["Retry-After"], answer["error"]) == (429, "3", "TooManyRequests")
    zendesk.rate_limit_next()
    status, _, headers = await client.create(MINIMAL)
    assert (status, headers["Retry-After"]) == (429, "1")
    assert zendesk.created == []
    assert (await client.create(MINIMAL))[0] == 201


async def test_down_answers_503_to_everything_until_it_is_up_again(
    zendesk: FakeZendesk, client: Client
) -> None:
    zendesk.down(True)
    for status, answer, _ in (
        await client.create(MINIMAL),
        await client.show("1"),
        await client.create(MINIMAL, headers={}),
    ):
        assert (status, answer["error"]) == (503, "ServiceUnavailable")
    assert zendesk.created == []
    zendesk.down(False)
    assert (await client.create(MINIMAL))[0] == 201


async def test_delay_holds_every_answer(zendesk: FakeZendesk, client: Client) -> None:
    zendesk.delay(0.3)
    started = time.monotonic()
    status, _, _ = await client.create(MINIMAL)
    assert status == 201
    assert time.monotonic() - started >= 0.3
    zendesk.delay(0)
    started = time.monotonic()
    await client.show("1")
    assert time.monotonic() - started < 0.3


async def test_a_request_abandoned_during_the_delay_has_no_effect(
    zendesk: FakeZendesk, client: Client
) -> None:
    zendesk.delay(2)
    with pytest.raises(TimeoutError):
        await client.create(MINIMAL, timeout=0.2)
    await asyncio.sleep(0.1)
    zendesk.delay(0)
    assert zendesk.created == []
    assert len(zendesk.requests) == 1


async def test_every_request_is_recorded(zendesk: FakeZendesk, client: Client) -> None:
    await client.create(MINIMAL)
    await client.create({"type": "chat"}, headers={})
    await client.call("GET", "/api/v2/chat/chats/1?x=y")

    assert [(r.method, r.path) for r in zendesk.requests] == [
        ("POST", "/api/v2/chat/chats"),
        ("POST", "/api/v2/chat/chats"),
        ("GET", "/api/v2/chat/chats/1"),
    ]
    first, refused, shown = zendesk.requests
    assert first.json == MINIMAL
    assert first.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert refused.json == {"type": "chat"} and "authorization" not in refused.headers
    assert shown.query == {"x": "y"} and shown.json is None and shown.body == b""
