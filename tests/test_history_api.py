"""The chat history API (/api/v2/chat/, Zendesk Chat's Chats API) over real HTTP, against
chats made through real visitor and agent websockets, so that every object is computed from a real log."""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from websockets.exceptions import ConnectionClosed

from tests.fakes.zendesk import FakeZendesk
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running
from tests.support.contact_centers import eventually
from widget_server.history import finder
from widget_server.model import Actor

OPERATOR = Actor("test", "cli")
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10) AppleWebKit/600.1.25 (KHTML, like Gecko) Version/8.0"
    " Safari/600.1.25"
)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

# The keys of the seed's examples, exactly.
CHAT_KEYS = {
    "agent_ids", "agent_names", "comment", "conversions", "count", "department_id", "department_name",
    "duration", "history", "id", "missed", "rating", "response_time", "session", "started_by", "tags",
    "timestamp", "triggered", "triggered_response", "type", "unread", "visitor", "webpath",
    "zendesk_ticket_id",
}  # fmt: skip
OFFLINE_KEYS = {
    "department_id", "department_name", "id", "message", "session", "started_by", "timestamp", "type",
    "unread", "visitor", "webpath", "zendesk_ticket_id",
}  # fmt: skip
SESSION_KEYS = {
    "browser", "city", "country_code", "country_name", "end_date", "id", "ip", "platform", "region",
    "start_date", "user_agent",
}  # fmt: skip
RESULT_KEYS = {"id", "preview", "timestamp", "type", "url"}

# The seed's Create Chat example; its "67.32.299.96" is no IP address (see the test that says so).
SEED_CREATE: dict[str, Any] = {
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
        "ip": "67.32.29.96",
        "platform": "Mac OS",
        "region": "Florida",
        "start_date": "2014-10-09T05:28:31Z",
        "user_agent": SAFARI,
    },
}


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: str | None = None,
    ) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.base + path
        sent = {"Authorization": f"Bearer {self.token if token is None else token}", **(headers or {})}
        async with self.http.request(method, url, json=json, data=data, headers=sent) as response:
            text = await response.text()
            return response.status, (jsonlib.loads(text) if text else None)

    async def get(self, path: str, **params: str) -> Any:
        status, body = await self.call("GET", path + (f"?{_query(params)}" if params else ""))
        assert status == 200, (status, body)
        return body


def _query(params: dict[str, str]) -> str:
    return urlencode(params)


# One event loop for the module, so that the tests that only read can share one server and one corpus
# (starting a server and logging an agent in cost a password hash each); a test that writes gets its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def api(data_dir: Path) -> AsyncIterator[tuple[Server, Api]]:
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(OPERATOR, "tests")
        yield server, Api(http, server.url + "/api/v2/chat", secret)


@dataclass
class Corpus:
    """Five chats, oldest first: a rated conversation, a missed one, an offline message, one in German, and
    one still waiting in the queue."""

    harry: str
    ron: str
    hermione: str
    neville: str
    luna: str

    def names(self, ids: list[str]) -> list[str]:
        by_id = {chat_id: name for name, chat_id in vars(self).items()}
        return [by_id.get(chat_id, chat_id) for chat_id in ids]


async def make_corpus(server: Server) -> Corpus:
    async with Agent.connected(server) as agent:
        async with Visitor.connected(server, user_agent_header=SAFARI) as visitor:
            await visitor.start("Harry Potter", email="harry@example.com", page="https://shop.example/cakes")
            harry = visitor.chat or ""
            await visitor.say("I would like some chocolate cake please", "h1")
            await agent.accept(harry)
            await agent.say(harry, "Of course. Which size?", "a1")
            await visitor.say("The big one", "h2")
            await agent.say(harry, "It is on its way.", "a2")
            await visitor.send({"type": "visit", "url": "https://shop.example/checkout"})
            await visitor.expect("event", kind="visit")
            await agent.send({"type": "end", "chat": harry})
            await visitor.expect("event", kind="state", state="ended")
            await visitor.send({"type": "rate", "rating": "good", "comment": "Great help"})
            await visitor.expect("event", kind="rating")
        async with Visitor.connected(server) as visitor:
            await visitor.start("Ron Weasley")
            ron = visitor.chat or ""
            await visitor.say("Do you sell chocolates?", "r1")
            await visitor.send({"type": "end"})
            await visitor.expect("event", kind="state", state="ended")
            await visitor.send({"type": "rate", "rating": "good"})
            await visitor.expect("event", kind="rating")
            await visitor.send({"type": "rate", "rating": "bad", "comment": "Nobody came"})
            await visitor.expect("event", kind="rating", rating="bad")
        async with Visitor.connected(server) as visitor:
            await visitor.send(
                {"type": "leave_message", "id": "m1", "name": "Hermione Granger",
                 "email": "hermione@example.com", "message": "Where is my chocolate order?"}
            )  # fmt: skip
            hermione = (await visitor.expect("ack", id="m1"))["chat"]
        async with Visitor.connected(server) as visitor:
            await visitor.start("Neville Longbottom")
            neville = visitor.chat or ""
            await visitor.say("Grüße aus der Straße", "n1")
            await visitor.send({"type": "end"})
            await visitor.expect("event", kind="state", state="ended")
        async with Visitor.connected(server) as visitor:
            await visitor.start("Luna Lovegood")
            luna = visitor.chat or ""
            await visitor.say("hello there", "l1")
    return Corpus(harry, ron, hermione, neville, luna)


@dataclass
class Shared:
    server: Server
    client: Api
    corpus: Corpus


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    """A server with the corpus, for the tests that only read."""
    data_dir = tmp_path_factory.mktemp("history") / "data"
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(OPERATOR, "tests")
        yield Shared(server, Api(http, server.url + "/api/v2/chat", secret), await make_corpus(server))


async def visitor_chats(server: Server, *names: str) -> list[str]:
    """Chats of visitors who said hello and left them open: quicker than the corpus, no agent."""
    ids = []
    for name in names:
        async with Visitor.connected(server) as visitor:
            await visitor.start(name)
            await visitor.say(f"Hello from {name}", "v1")
            ids.append(visitor.chat or "")
    return ids


def at_ms(epoch_ms: int) -> str:
    """A query time to the millisecond."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}"


async def created_at(server: Server, chat_id: str) -> int:
    chat = await server.runtime.store.get_chat(chat_id)
    assert chat is not None
    return chat.created_at


# --- authentication and errors --------------------------------------------------------------------------


async def test_every_endpoint_needs_an_admin_api_token(api: tuple[Server, Api]) -> None:
    _, client = api
    calls = [
        ("GET", "/chats"),
        ("GET", f"/chats?ids={UNKNOWN_ID}"),
        ("GET", "/chats/search?q=hello"),
        ("GET", f"/chats/{UNKNOWN_ID}"),
        ("POST", "/chats"),
        ("PUT", f"/chats/{UNKNOWN_ID}"),
        ("DELETE", f"/chats/{UNKNOWN_ID}"),
        ("DELETE", f"/chats?ids={UNKNOWN_ID}"),
    ]
    for n, (method, path) in enumerate(calls):
        status, body = await client.call(method, path, token="wst_guess" if n % 2 else " ")
        assert status == 401, (method, path)
        assert body == {
            "error": "Unauthorized",
            "description": "Send a valid API token: Authorization: Bearer <token>.",
        }
    async with client.http.get(client.base + "/chats") as response:
        assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.call("GET", "/chats", headers={"Authorization": "Basic abc"}, token=""))[0] == 401
    # Failed attempts are throttled with the admin API's: ten, then 429; a good token still passes.
    status, body = await client.call("GET", "/chats", token="wst_guess")
    assert status == 429 and body["error"] == "TooManyRequests"
    assert (await client.call("GET", "/chats"))[0] == 200


async def test_unknown_endpoints_methods_and_chats(shared: Shared) -> None:
    client = shared.client
    status, body = await client.call("GET", "/agents")
    assert (status, body["error"]) == (404, "InvalidEndpoint")
    status, body = await client.call("PATCH", f"/chats/{UNKNOWN_ID}")
    assert (status, body["error"]) == (405, "MethodNotAllowed") and "PUT" in body["description"]
    for chat_id in [UNKNOWN_ID, "123", "nope"]:
        for method in ["GET", "PUT", "DELETE"]:
            status, body = await client.call(method, f"/chats/{chat_id}", json={"unread": True})
            assert status == 404, (method, chat_id)
            assert body == {"error": "RecordNotFound", "description": f"There is no chat {chat_id!r}."}
    status, body = await client.call("GET", "/chats?colour=red")
    assert status == 400 and body["description"].startswith("Unknown parameter 'colour'")


# --- reading ----------------------------------------------------------------------------------------------


async def test_a_chat_is_computed_from_its_real_log(shared: Shared) -> None:
    client, corpus = shared.client, shared.corpus
    harry = await client.get(f"/chats/{corpus.harry}")
    assert set(harry) == CHAT_KEYS and set(harry["session"]) == SESSION_KEYS
    assert [(e["type"], e["name"], e.get("msg")) for e in harry["history"]] == [
        ("chat.memberjoin", "Harry Potter", None),
        ("chat.msg", "Harry Potter", "I would like some chocolate cake please"),
        ("chat.memberjoin", "Admin", None),
        ("chat.msg", "Admin", "Of course. Which size?"),
        ("chat.msg", "Harry Potter", "The big one"),
        ("chat.msg", "Admin", "It is on its way."),
        ("chat.memberleave", "Admin", None),
        ("chat.memberleave", "Harry Potter", None),
        ("chat.rating", "Harry Potter", None),
        ("chat.comment", "Harry Potter", None),
    ]
    for entry in harry["history"]:
        assert entry["channel"] == f"#supportchat:{corpus.harry}"
        assert set(entry) >= {"channel", "name", "nick", "timestamp", "type"}
        assert set(entry) - {"msg", "options", "rating", "new_rating", "comment", "new_comment"} == {
            "channel", "name", "nick", "timestamp", "type"
        }  # fmt: skip
    assert harry["count"] == {"agent": 2, "total": 4, "visitor": 2}
    assert (harry["agent_ids"], harry["agent_names"], harry["missed"]) == (["admin"], ["Admin"], False)
    assert (harry["rating"], harry["comment"], harry["tags"], harry["unread"]) == (
        "good",
        "Great help",
        [],
        False,
    )
    assert set(harry["response_time"]) == {"avg", "first", "max"}
    assert all(isinstance(value, int) for value in harry["response_time"].values())
    assert isinstance(harry["duration"], int)
    assert harry["visitor"] == {
        "email": "harry@example.com",
        "id": f"demo.{corpus.harry}",
        "name": "Harry Potter",
        "notes": "",
        "phone": "",
    }
    session = harry["session"]
    assert (session["browser"], session["platform"], session["ip"], session["user_agent"]) == (
        "Safari",
        "Mac OS",
        "127.0.0.1",
        SAFARI,
    )
    assert session["start_date"] == harry["timestamp"] and session["end_date"] is not None
    assert [(step["from"], step["to"]) for step in harry["webpath"]] == [
        ("", "https://shop.example/cakes"),
        ("https://shop.example/cakes", "https://shop.example/checkout"),
    ]
    assert (harry["started_by"], harry["type"], harry["triggered"]) == ("visitor", "chat", False)
    assert re_time(harry["timestamp"])

    ron = await client.get(f"/chats/{corpus.ron}")
    assert (ron["missed"], ron["agent_ids"], ron["rating"], ron["comment"]) == (
        True,
        [],
        "bad",
        "Nobody came",
    )
    assert ron["response_time"] == {"avg": None, "first": None, "max": None}
    ratings = [(e.get("rating"), e["new_rating"]) for e in ron["history"] if e["type"] == "chat.rating"]
    assert ratings == [(None, "good"), ("good", "bad")]

    luna = await client.get(f"/chats/{corpus.luna}")
    assert (luna["session"]["end_date"], luna["missed"]) == (None, False)
    assert [e["type"] for e in luna["history"]] == ["chat.memberjoin", "chat.msg"]

    hermione = await client.get(f"/chats/{corpus.hermione}")
    assert set(hermione) == OFFLINE_KEYS
    assert (hermione["message"], hermione["type"], hermione["unread"]) == (
        "Where is my chocolate order?",
        "offline_msg",
        True,
    )
    assert hermione["visitor"]["name"] == "Hermione Granger"
    # An id in another case is the same chat.
    assert (await client.get(f"/chats/{corpus.hermione.upper()}"))["id"] == corpus.hermione


def re_time(value: str) -> bool:
    return re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value) is not None


async def test_list_chats_pages_newest_first_with_next_and_prev_urls(shared: Shared) -> None:
    server, client, corpus = shared.server, shared.client, shared.corpus
    everything = await client.get("/chats")
    assert set(everything) == {"chats", "count", "next_url", "prev_url"}
    assert corpus.names([chat["id"] for chat in everything["chats"]]) == [
        "luna", "neville", "hermione", "ron", "harry"
    ]  # fmt: skip
    assert (everything["count"], everything["next_url"], everything["prev_url"]) == (5, None, None)
    assert {chat["type"]: set(chat) for chat in everything["chats"]} == {
        "chat": CHAT_KEYS,
        "offline_msg": OFFLINE_KEYS,
    }

    seen: list[str] = []
    page = await client.get("/chats", limit="2")
    pages = [page]
    while page["next_url"] is not None:
        assert page["next_url"].startswith(server.url + "/api/v2/chat/chats?")
        page = await client.get(page["next_url"])
        pages.append(page)
    for page in pages:
        seen.extend(chat["id"] for chat in page["chats"])
        assert page["count"] == 5
    assert corpus.names(seen) == ["luna", "neville", "hermione", "ron", "harry"]
    assert [len(page["chats"]) for page in pages] == [2, 2, 1]
    assert pages[0]["prev_url"] is None and pages[1]["prev_url"] is not None
    back = await client.get(pages[2]["prev_url"])
    assert corpus.names([chat["id"] for chat in back["chats"]]) == ["hermione", "ron"]
    back = await client.get(back["prev_url"])
    assert corpus.names([chat["id"] for chat in back["chats"]]) == ["luna", "neville"]
    assert back["prev_url"] is None and back["next_url"] is not None

    for params, problem in [
        ({"cursor": "bogus"}, "cursor is not one this server made"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 100"),
        ({"limit": "101"}, "limit must be a whole number from 1 to 100"),
        ({"page": "2"}, "Unknown parameter 'page'"),
    ]:
        status, body = await client.call("GET", f"/chats?{_query(params)}")
        assert status == 400 and body["error"] == "InvalidRequest" and body["description"].startswith(problem)


async def test_list_chats_by_ids_answers_a_docs_map(shared: Shared) -> None:
    client, corpus = shared.client, shared.corpus
    ids = ",".join([corpus.harry, corpus.hermione, UNKNOWN_ID, "nope", corpus.harry.upper()])
    body = await client.get("/chats", ids=ids)
    assert set(body) == {"count", "docs"}
    assert body["count"] == 2 and set(body["docs"]) == {corpus.harry, corpus.hermione}
    assert set(body["docs"][corpus.harry]) == CHAT_KEYS and set(body["docs"][corpus.hermione]) == OFFLINE_KEYS
    assert body["docs"][corpus.harry] == await client.get(f"/chats/{corpus.harry}")

    fifty = ",".join(f"00000000-0000-4000-8000-{n:012d}" for n in range(50))
    assert (await client.get("/chats", ids=fifty)) == {"count": 0, "docs": {}}
    for ids, problem in [
        (fifty + ",11111111-0000-4000-8000-000000000000", "ids may list at most 50 chat ids; 51 were given."),
        ("", "ids is empty"),
        (" , ", "ids is empty"),
    ]:
        status, body = await client.call("GET", f"/chats?{_query({'ids': ids})}")
        assert status == 400 and body["description"].startswith(problem), body
    status, body = await client.call("GET", f"/chats?ids={corpus.harry}&limit=2")
    assert status == 400 and "Unknown parameter 'limit'" in body["description"]


# --- search ----------------------------------------------------------------------------------------------


async def test_the_search_grammar_over_real_chats(shared: Shared) -> None:
    server, client, corpus = shared.server, shared.client, shared.corpus
    ron_at, hermione_at = await created_at(server, corpus.ron), await created_at(server, corpus.hermione)
    day = at_ms(await created_at(server, corpus.harry))[:10]
    everyone = {"harry", "ron", "hermione", "neville", "luna"}
    table: list[tuple[str, set[str]]] = [
        # The seed's examples (with this corpus's names, and dates that find something).
        ("agent_names:Admin AND visitor_name:Harry", {"harry"}),
        ("type:chat AND chocolate", {"harry"}),
        ("visitor_email:harry@example.com AND timestamp:[2014-10-10 TO 2014-12-12]", set()),
        (f"visitor_email:harry@example.com AND timestamp:[{day} TO *]", {"harry"}),
        ("timestamp:[2014-10-16 TO *] AND chocolate", {"harry", "hermione"}),
        ("end_timestamp:[2014-10-25 TO *] AND rating:good", {"harry"}),
        ("timestamp:[2016-02-02T16:00:00 TO *] AND rating:good", {"harry"}),
        # Free text: whole words, in messages (anyone's), names and emails, ignoring case.
        ("chocolate", {"harry", "hermione"}),
        ("CHOCOLATE", {"harry", "hermione"}),
        ("chocolates", {"ron"}),
        ("size", {"harry"}),
        ("Admin", {"harry"}),
        ("hermione", {"hermione"}),
        ("harry@example.com", {"harry"}),
        ('"chocolate cake"', {"harry"}),
        ('"cake chocolate"', set()),
        ("hello there", {"luna"}),
        ("there hello", {"luna"}),
        ('"there hello"', set()),
        ("visitor", set()),  # a word of every event's stored JSON, of no chat's text
        ("xylophone", set()),
        # Beyond ASCII: Python's case folding, Straße = STRASSE.
        ("straße", {"neville"}),
        ("STRASSE", {"neville"}),
        ("GRÜSSE", {"neville"}),
        # Fields.
        ("visitor_name:potter", {"harry"}),
        ('visitor_name:"Harry Potter"', {"harry"}),
        ('visitor_name:"Potter Harry"', set()),
        ("agent_names:Admin", {"harry"}),
        ("visitor_email:HARRY@EXAMPLE.COM", {"harry"}),
        ("visitor_email:harry", set()),
        ("chat_type:offline_msg", {"hermione"}),
        ("chat_type:chat", everyone - {"hermione"}),
        ("rating:good", {"harry"}),
        ("rating:bad", {"ron"}),
        ("rating:good AND rating:bad", set()),
        ("end_timestamp:[* TO *]", everyone - {"luna"}),
        (f"timestamp:[{at_ms(ron_at)} TO *]", {"ron", "hermione", "neville", "luna"}),
        (f"timestamp:[* TO {at_ms(ron_at)}]", {"harry", "ron"}),
        (f"timestamp:[{at_ms(ron_at)} TO {at_ms(hermione_at)}] AND chat_type:chat", {"ron"}),
        (f"timestamp:[{at_ms(hermione_at + 1)} TO *] AND end_timestamp:[* TO *]", {"neville"}),
    ]
    store = server.runtime.store
    try:
        for per_chat_max in [20_000, 0]:  # the store's two plans: each chat's events, or one pass over all
            setattr(store, "WORDS_PER_CHAT_MAX", per_chat_max)  # noqa: B010
            for q, expected in table:
                body = await client.get("/chats/search", q=q)
                found = corpus.names([result["id"] for result in body["results"]])
                assert set(found) == expected, (q, per_chat_max)
                assert body["count"] == len(expected), (q, per_chat_max)
    finally:
        delattr(store, "WORDS_PER_CHAT_MAX")
    chocolate = await client.get("/chats/search", q="chocolate")
    assert set(chocolate) == {"count", "next_url", "prev_url", "results"}
    assert (chocolate["next_url"], chocolate["prev_url"]) == (None, None)
    hermione, harry = chocolate["results"]
    assert corpus.names([hermione["id"], harry["id"]]) == ["hermione", "harry"]  # newest first
    assert set(harry) == RESULT_KEYS
    assert (harry["preview"], harry["type"], harry["url"]) == (
        "I would like some chocolate cake please",
        "chat",
        f"{server.url}/api/v2/chat/chats/{corpus.harry}",
    )
    assert (hermione["preview"], hermione["type"]) == ("Where is my chocolate order?", "offline_msg")
    assert (await client.get(harry["url"]))["id"] == corpus.harry


async def test_search_refuses_what_it_cannot_answer_with_a_sentence(shared: Shared) -> None:
    client = shared.client
    cases = [
        ({"q": "chocolate OR cake"}, "OR is not supported"),
        ({"q": "colour:red"}, "Unknown field 'colour'"),
        ({"q": "timestamp:[2014-13-01 TO *]"}, "'2014-13-01' in timestamp:[2014-13-01 TO *] is not a date"),
        ({"q": "timestamp:[2014-12-12 TO 2014-10-10]"}, "timestamp:[2014-12-12 TO 2014-10-10] ends before"),
        ({"q": "rating:great"}, "rating must be good or bad"),
        ({"q": "timestamp%3A%5B2016-02-02T16%3A00%3A00+TO+%2A%5D"}, "'timestamp%3A%5B2016-02-02T16%3A00%3A0"),
        ({"q": ""}, "The query is empty"),
        ({}, "q is required"),
        ({"q": "rating:good", "page": "251"}, "page 251 is past the last page (250)"),
        ({"q": "rating:good", "page": "0"}, "page must be a whole number from 1 to 250"),
        ({"q": "rating:good", "sort": "asc"}, "Unknown parameter 'sort'"),
    ]
    for params, problem in cases:
        status, body = await client.call("GET", f"/chats/search?{_query(params)}")
        assert status == 400, params
        assert body["error"] == "InvalidRequest" and body["description"].startswith(problem), (params, body)
    assert (await client.get("/chats/search", q="rating:good", page="250"))["results"] == []


async def test_search_pages_hold_forty_results(api: tuple[Server, Api]) -> None:
    _, client = api
    created = []
    for n in range(45):
        body = {**SEED_CREATE, "message": f"Order {n} is late", "timestamp": 1444156010 + n}
        status, body = await client.call("POST", "/chats", body)
        assert status == 201
        created.append(body["id"])
    first = await client.get("/chats/search", q="late AND chat_type:offline_msg")
    assert first["count"] == 45 and len(first["results"]) == 40 and first["prev_url"] is None
    assert [r["id"] for r in first["results"]] == created[::-1][:40]
    second = await client.get(first["next_url"])
    assert [r["id"] for r in second["results"]] == created[::-1][40:]
    assert second["next_url"] is None and second["prev_url"] is not None
    assert await client.get(second["prev_url"]) == first
    exact = await client.get("/chats/search", q="chat_type:offline_msg", page="2")  # decided in SQL alone
    assert exact["count"] == 45 and [r["id"] for r in exact["results"]] == created[::-1][40:]


async def test_list_pages_stop_at_their_size_and_page_on(
    api: tuple[Server, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list of chats with long transcripts answered 33 MB in one response: a page stops at
    PAGE_BYTES of JSON (one chat at least), and its links go on from where it stopped."""
    _, client = api
    monkeypatch.setattr(finder, "PAGE_BYTES", 10_000)
    created = []
    for n in range(7):
        body = {**SEED_CREATE, "message": f"{n} " + "long " * 700, "timestamp": 1444156010 + n}
        status, body = await client.call("POST", "/chats", body)
        assert status == 201
        created.append(body["id"])
    newest_first = created[::-1]
    pages = [await client.get("/chats")]
    while pages[-1]["next_url"] is not None:
        pages.append(await client.get(pages[-1]["next_url"]))
    assert [chat["id"] for page in pages for chat in page["chats"]] == newest_first
    assert all(1 <= len(page["chats"]) <= 2 for page in pages) and len(pages) >= 4
    assert all(len(jsonlib.dumps(page["chats"])) <= 10_000 or len(page["chats"]) == 1 for page in pages)
    back = [pages[-1]]
    while back[-1]["prev_url"] is not None:
        back.append(await client.get(back[-1]["prev_url"]))
    assert [chat["id"] for page in reversed(back) for chat in page["chats"]] == newest_first
    monkeypatch.setattr(finder, "PAGE_BYTES", 100)  # one chat alone is over it: still one a page
    assert len((await client.get("/chats"))["chats"]) == 1


# --- writing ---------------------------------------------------------------------------------------------


async def test_create_an_offline_message_as_documented(api: tuple[Server, Api]) -> None:
    server, client = api
    status, created = await client.call("POST", "/chats", SEED_CREATE)
    assert status == 201
    assert set(created) == OFFLINE_KEYS  # the seed's 201 example
    assert created["visitor"] == {
        "email": "john@example.com",
        "id": "1.12345",
        "name": "John",
        "notes": "",
        "phone": "",
    }
    assert created["session"] == {
        **SEED_CREATE["session"],
        "id": created["id"],
        "start_date": created["timestamp"],
        "end_date": created["timestamp"],
    }
    assert (created["message"], created["type"], created["unread"], created["started_by"]) == (
        "Hi there!",
        "offline_msg",
        False,
        "visitor",
    )
    assert (created["department_id"], created["zendesk_ticket_id"], created["webpath"]) == (None, None, [])
    assert created["timestamp"] == "2015-10-06T18:26:50Z"  # the message's own time, 1444156010
    assert await client.get(f"/chats/{created['id']}") == created
    found = await client.get("/chats/search", q='visitor_name:John AND "hi there"')
    assert [r["id"] for r in found["results"]] == [created["id"]]
    entry = (await server.runtime.store.list_audit(target=created["id"]))[0]
    assert (entry.action, entry.actor, entry.via, entry.detail) == (
        "chat.create",
        "token:tests",
        "api",
        {"site": "demo"},
    )

    # An Idempotency-Key makes a retry safe.
    key = {"Idempotency-Key": "retry-1"}
    status, first = await client.call("POST", "/chats", SEED_CREATE, headers=key)
    status, again = await client.call("POST", "/chats", SEED_CREATE, headers=key)
    assert status == 201 and again["id"] == first["id"] != created["id"]

    refused = [
        ({**SEED_CREATE, "type": "chat"}, "type", "type must be \"offline_msg\", not 'chat'"),
        ({k: v for k, v in SEED_CREATE.items() if k != "timestamp"}, "timestamp", "timestamp is required."),
        ({**SEED_CREATE, "timestamp": "yesterday"}, "timestamp", "timestamp 'yesterday' is not an ISO 8601"),
        ({**SEED_CREATE, "message": "  "}, "message", "message cannot be blank."),
        ({**SEED_CREATE, "visitor": {"name": "John"}}, "visitor.email", "visitor.email is required."),
        (
            {**SEED_CREATE, "visitor": {"name": "J", "email": "nope"}},
            "visitor.email",
            "visitor.email is not an",
        ),
        (
            {**SEED_CREATE, "session": {**SEED_CREATE["session"], "ip": "67.32.299.96"}},
            "session.ip",
            "session.ip",
        ),
        ({**SEED_CREATE, "session": {"end_date": "soon"}}, "session.end_date", "session.end_date 'soon'"),
        ({**SEED_CREATE, "session": {"colour": "red"}}, "session.colour", "session.colour is not a field"),
        ({**SEED_CREATE, "id": "123"}, "id", "id is set by the server"),
        ({**SEED_CREATE, "department_id": 1}, "department_id", "widget_server has no departments"),
        ({**SEED_CREATE, "site": "elsewhere"}, "site", "There is no site 'elsewhere'."),
        ({**SEED_CREATE, "colour": "red"}, "colour", "colour is not a field of an offline message."),
        (["not", "an", "object"], "base", "The body must be a JSON object"),
    ]
    for body, field, problem in refused:
        status, answer = await client.call("POST", "/chats", body)
        assert status == 400 and answer["error"] == "RecordInvalid", (field, answer)
        assert answer["description"].startswith(problem), (field, answer)
        assert field in answer["details"], (field, answer)
    status, answer = await client.call(
        "POST", "/chats", data="{nope", headers={"Content-Type": "application/json"}
    )
    assert (status, answer["description"]) == (400, "The body is not valid JSON.")
    status, answer = await client.call("POST", "/chats", {})
    assert status == 400 and "(4 more in details)" in answer["description"]
    assert set(answer["details"]) == {"visitor", "message", "type", "session", "timestamp"}


async def test_a_created_offline_message_is_forwarded_to_zendesk(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZENDESK_TOKEN", "zendesk-token")
    zendesk = FakeZendesk("zendesk-token")
    async with serve(zendesk.app) as zendesk_url:
        sites = {
            "acme": {
                "name": "ACME",
                "allowed_origins": [HOST_ORIGIN],
                "zendesk": {"base_url": zendesk_url, "token_env": "TEST_ZENDESK_TOKEN"},
            },
            "shop": {"name": "Shop", "allowed_origins": [HOST_ORIGIN]},
        }
        async with (
            running(make_config(data_dir, {"sites": sites})) as server,
            aiohttp.ClientSession() as http,
        ):
            _, secret = await server.app.state.site_admin.create_token(OPERATOR, "tests")
            client = Api(http, server.url + "/api/v2/chat", secret)
            status, answer = await client.call("POST", "/chats", SEED_CREATE)
            assert status == 400 and answer["description"].startswith("There are 2 sites (acme, shop)")
            status, created = await client.call("POST", "/chats", {**SEED_CREATE, "site": "acme"})
            assert status == 201
            forwarded = (await eventually(lambda: zendesk.created))[0]
            assert (forwarded["message"], forwarded["visitor"]["name"], forwarded["session"]["ip"]) == (
                "Hi there!",
                "John",
                "67.32.29.96",
            )
            chat = await server.runtime.store.get_chat(created["id"])
            assert chat is not None and chat.site == "acme"


async def test_update_a_chat_with_dotted_keys(api: tuple[Server, Api]) -> None:
    server, client = api
    corpus = await make_corpus(server)
    changes = {
        "visitor.name": "Joe",
        "visitor.email": "joe@example.com",
        "visitor.phone": "+47 555 01 234",
        "visitor.notes": "Prefers email.\nVIP.",
        "tags": ["billing", "vip", "billing"],
        "comment": "Resolved by phone",
        "rating": "bad",
        "unread": True,
    }
    status, updated = await client.call("PUT", f"/chats/{corpus.harry}", changes)
    assert status == 200 and set(updated) == CHAT_KEYS
    assert updated["visitor"] == {
        "email": "joe@example.com",
        "id": f"demo.{corpus.harry}",
        "name": "Joe",
        "notes": "Prefers email.\nVIP.",
        "phone": "+47 555 01 234",
    }
    assert (updated["tags"], updated["comment"], updated["rating"], updated["unread"]) == (
        ["billing", "vip"],
        "Resolved by phone",
        "bad",
        True,
    )
    assert updated["history"][1]["name"] == "Harry Potter"  # what was said, by whom it was said then
    assert await client.get(f"/chats/{corpus.harry}") == updated
    assert corpus.names(
        [r["id"] for r in (await client.get("/chats/search", q="rating:bad"))["results"]]
    ) == [
        "ron",
        "harry",
    ]
    assert [r["id"] for r in (await client.get("/chats/search", q="visitor_name:Joe"))["results"]] == [
        corpus.harry
    ]
    entry = (await server.runtime.store.list_audit(target=corpus.harry))[0]
    assert (entry.action, entry.actor, entry.via, entry.address) == (
        "chat.update",
        "token:tests",
        "api",
        "127.0.0.1",
    )
    assert entry.detail == {"fields": list(changes)}

    # The nested form, and clearing.
    status, updated = await client.call(
        "PUT", f"/chats/{corpus.harry}", {"visitor": {"email": ""}, "rating": None, "comment": ""}
    )
    assert status == 200
    assert (updated["visitor"]["email"], updated["rating"], updated["comment"]) == ("", None, None)
    # An offline message: its visitor and unread.
    status, updated = await client.call(
        "PUT", f"/chats/{corpus.hermione}", {"unread": False, "visitor.phone": "1"}
    )
    assert status == 200 and set(updated) == OFFLINE_KEYS
    assert (updated["unread"], updated["visitor"]["phone"]) == (False, "1")

    refused = [
        (
            corpus.harry,
            {"history": []},
            "history",
            "history is read-only; the fields you can change are visitor.name",
        ),
        (corpus.harry, {"session.ip": "1.2.3.4"}, "session.ip", "session.ip is read-only"),
        (corpus.harry, {"visitor.id": "x"}, "visitor.id", "visitor.id is read-only"),
        (corpus.harry, {"visitor": "Joe"}, "visitor", "visitor is read-only"),
        (corpus.harry, {"colour": "red"}, "colour", "Unknown field 'colour'"),
        (corpus.harry, {"message": "x"}, "message", "message is not a field of a chat."),
        (corpus.hermione, {"rating": "good"}, "rating", "rating is not a field of an offline message."),
        (corpus.hermione, {"tags": ["a"]}, "tags", "tags is not a field of an offline message."),
        (corpus.harry, {"rating": "great"}, "rating", "rating must be good, bad or null, not 'great'."),
        (corpus.harry, {"unread": "yes"}, "unread", "unread must be true or false."),
        (corpus.harry, {"tags": "vip"}, "tags", "tags must be a list of strings"),
        (corpus.harry, {"tags": [""]}, "tags", "Each tag must be 1 to 64 characters"),
        (corpus.harry, {"visitor.name": " "}, "visitor.name", "visitor.name cannot be blank."),
        (corpus.harry, {"visitor.name": "x" * 65}, "visitor.name", "visitor.name may be at most 64"),
        (corpus.harry, {"visitor.email": "nope"}, "visitor.email", "visitor.email is not an email address"),
        (
            corpus.harry,
            {"visitor.name": "A", "visitor": {"name": "B"}},
            "visitor.name",
            "visitor.name is given",
        ),
        (corpus.harry, {}, "base", "The body changes nothing"),
        (corpus.harry, [], "base", "The body must be a JSON object"),
    ]
    before = await client.get(f"/chats/{corpus.harry}")
    for chat_id, body, field, problem in refused:
        status, answer = await client.call("PUT", f"/chats/{chat_id}", body)
        assert status == 400 and answer["error"] == "RecordInvalid", (body, answer)
        assert answer["description"].startswith(problem) and field in answer["details"], (body, answer)
    status, answer = await client.call("PUT", f"/chats/{corpus.harry}", {"rating": "good", "history": []})
    assert status == 400 and set(answer["details"]) == {"history"}
    assert await client.get(f"/chats/{corpus.harry}") == before  # nothing of a refused body was written


async def test_a_deleted_chat_is_gone_from_every_endpoint(api: tuple[Server, Api]) -> None:
    server, client = api
    ann, bob, cat, dan = await visitor_chats(server, "Ann", "Bob", "Cat", "Dan")
    first = await client.get("/chats", limit="2")
    assert [chat["id"] for chat in first["chats"]] == [dan, cat]
    status, body = await client.call("DELETE", f"/chats/{bob}")
    assert (status, body) == (204, None)
    for method in ["GET", "PUT", "DELETE"]:
        assert (await client.call(method, f"/chats/{bob}", {"unread": True}))[0] == 404
    assert (await client.get("/chats", ids=f"{ann},{bob}"))["count"] == 1
    assert (await client.get("/chats/search", q="Bob"))["count"] == 0
    assert (await client.get("/chats/search", q="chat_type:chat"))["count"] == 3
    # The next page lacks the deleted chat; a chat started meanwhile neither shifts nor repeats a page.
    await visitor_chats(server, "Eve")
    following = await client.get(first["next_url"])
    assert [chat["id"] for chat in following["chats"]] == [ann]
    assert following["count"] == 4 and following["next_url"] is None
    chat = await server.runtime.store.get_chat(bob)
    assert chat is not None and chat.deleted_at is not None  # soft: the log is kept
    entry = (await server.runtime.store.list_audit(target=bob))[0]
    assert (entry.action, entry.actor, entry.via) == ("chat.delete", "token:tests", "api")


async def test_bulk_delete_answers_as_the_seeds_example(api: tuple[Server, Api]) -> None:
    server, client = api
    ann, bob, cat, dan = await visitor_chats(server, "Ann", "Bob", "Cat", "Dan")
    await client.call("DELETE", f"/chats/{cat}")
    ids = [ann, bob, cat, "111", UNKNOWN_ID, ann]
    status, body = await client.call("DELETE", f"/chats?ids={','.join(ids)}")
    assert status == 200
    assert body == {
        "failed": {"already_deleted": [cat], "invalid_id": ["111"], "not_found": [UNKNOWN_ID]},
        "number_fail": 3,
        "number_success": 2,
    }
    assert [chat["id"] for chat in (await client.get("/chats"))["chats"]] == [dan]
    deletions = [
        entry.target for entry in await server.runtime.store.list_audit() if entry.action == "chat.delete"
    ]
    assert deletions == [bob, ann, cat]  # newest first: one entry per chat
    fifty_one = ",".join(f"00000000-0000-4000-8000-{n:012d}" for n in range(51))
    for query, problem in [
        (f"?ids={fifty_one}", "ids may list at most 50 chat ids; 51 were given."),
        ("", "Deleting chats needs ids"),
        ("?ids=", "ids is empty"),
        (f"?ids={dan}&limit=2", "Unknown parameter 'limit'"),
    ]:
        status, body = await client.call("DELETE", f"/chats{query}")
        assert status == 400 and body["description"].startswith(problem), body
    assert (await client.get("/chats"))["count"] == 1  # nothing of a refused request was deleted


async def test_deleting_a_chat_closes_its_visitors_sockets_and_refuses_a_resume(
    api: tuple[Server, Api],
) -> None:
    server, client = api
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        token, chat = visitor.token, visitor.chat
        assert (await client.call("DELETE", f"/chats/{chat}"))[0] == 204
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:
                    await visitor.ws.recv()
    async with Visitor.connected(server) as again:
        await again.send({"type": "resume", "token": token, "after": 0})
        assert (await again.expect("error"))["code"] == "invalid_token"
