"""Canned responses over the console's JSON API (/agent/canned), with real servers, sessions and consoles:
what is checked, who sees what (another agent never sees my own), who changes what (only operators the
shared ones), and which consoles hear of a change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.clients import TIMEOUT, Agent, Frame, Server
from tests.test_agent_console import add_agent
from widget_server import canned


class Session:
    """A signed-in person's browser: their cookie, the console page's CSRF token, their console socket."""

    def __init__(self, server: Server, agent: Agent, csrf: str) -> None:
        self.server = server
        self.agent = agent
        self.csrf = csrf

    async def call(
        self, method: str, path: str = "", body: Any = None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        sent = {"X-CSRF-Token": self.csrf, "Origin": self.server.url, **(headers or {})}
        raw = body if isinstance(body, (str, bytes)) else None
        async with self.agent.http.request(
            method,
            f"{self.server.url}/agent/canned{path}",
            json=None if raw is not None or body is None else body,
            data=raw,
            headers=sent,
        ) as response:
            text = await response.text()
            return response.status, (await response.json() if text else None)

    async def add(self, shortcut: str, *, scope: str = "personal", text: str = "Hi {{visitor.name}}") -> Any:
        status, body = await self.call(
            "POST", "", {"scope": scope, "shortcut": shortcut, "title": shortcut, "text": text}
        )
        assert status == 201, body
        return body

    async def listed(self) -> list[tuple[str, str, bool]]:
        status, body = await self.call("GET")
        assert status == 200, body
        return [(r["scope"], r["shortcut"], r["editable"]) for r in body["responses"]]

    async def told(self) -> Frame:
        """The next `canned` frame on this person's console."""
        return await self.agent.expect("canned", timeout=TIMEOUT)


@pytest.fixture
async def people(server: Server) -> AsyncIterator[dict[str, Session]]:
    """The operator (the default admin) and two agents, each signed in with the console open."""
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    sessions: dict[str, Session] = {}
    contexts = [
        Agent.connected(server),
        Agent.connected(server, "ana", "correct horse"),
        Agent.connected(server, "bo", "correct horse"),
    ]
    agents = [await context.__aenter__() for context in contexts]
    try:
        for name, agent in zip(("admin", "ana", "bo"), agents, strict=True):
            page = await (await agent.http.get(f"{server.url}/agent")).text()
            csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
            sessions[name] = Session(server, agent, csrf)
        yield sessions
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)


async def test_shared_ones_reach_everyone_and_only_operators_change_them(people: dict[str, Session]) -> None:
    admin, ana, bo = people["admin"], people["ana"], people["bo"]
    refund = await admin.add(
        "/Refund", scope="shared", text="Hello {{visitor.name}}, the refund is on its way."
    )
    assert refund["shortcut"] == "refund" and refund["scope"] == "shared" and refund["updatedBy"] == "admin"
    for person in (admin, ana, bo):
        await person.told()  # every console hears of a shared change
    assert await ana.listed() == [("shared", "refund", False)]
    assert await admin.listed() == [("shared", "refund", True)]

    # An agent may neither add, change nor delete a shared one.
    status, body = await ana.call("POST", "", {"scope": "shared", "shortcut": "x", "title": "X", "text": "x"})
    assert (status, body["error"], body["field"]) == (403, "not_allowed", "scope")
    status, body = await ana.call(
        "PUT", f"/{refund['id']}", {"shortcut": "refund", "title": "Mine now", "text": "x"}
    )
    assert (status, body["error"]) == (403, "not_allowed")
    assert (await ana.call("DELETE", f"/{refund['id']}"))[0] == 403
    assert (await admin.listed()) == [("shared", "refund", True)]

    status, changed = await admin.call(
        "PUT", f"/{refund['id']}", {"shortcut": "refunds", "title": "R", "text": "y"}
    )
    assert status == 200 and changed["shortcut"] == "refunds" and changed["scope"] == "shared"
    await bo.told()
    assert (await admin.call("DELETE", f"/{refund['id']}"))[0] == 204
    await bo.told()
    assert await bo.listed() == []
    audit = await admin.server.runtime.store.list_audit(target=refund["id"])
    assert [entry.action for entry in reversed(audit)] == ["canned.create", "canned.change", "canned.delete"]


async def test_my_own_are_mine_alone(people: dict[str, Session]) -> None:
    admin, ana, bo = people["admin"], people["ana"], people["bo"]
    mine = await ana.add("bye", text="Bye {{visitor.name}}, and thanks!")
    await ana.told()
    assert await ana.listed() == [("personal", "bye", True)]
    # Nobody else lists it, hears of it, or can tell it exists: not even an operator.
    for other in (bo, admin):
        assert await other.listed() == []
        for method, body in (("PUT", {"shortcut": "bye", "title": "T", "text": "t"}), ("DELETE", None)):
            status, answer = await other.call(method, f"/{mine['id']}", body)
            assert (status, answer["error"]) == (404, "not_found")
        assert not [frame for frame in other.agent.frames if frame["type"] == "canned"]
    # Another agent's own may use the same shortcut, and so may a shared one.
    await bo.add("bye")
    await admin.add("bye", scope="shared")
    assert await ana.listed() == [("shared", "bye", False), ("personal", "bye", True)]
    status, changed = await ana.call(
        "PUT", f"/{mine['id']}", {"shortcut": "later", "title": "Later", "text": "t"}
    )
    assert status == 200 and changed["scope"] == "personal"
    assert (await ana.call("DELETE", f"/{mine['id']}"))[0] == 204
    assert (await ana.call("DELETE", f"/{mine['id']}"))[0] == 404


async def test_what_is_refused_names_its_field(people: dict[str, Session]) -> None:
    # Every rule is in tests/test_canned.py; here, that a refusal reaches the browser whole.
    status, answer = await people["ana"].call(
        "POST", "", {"shortcut": "two words", "title": "T", "text": "t"}
    )
    assert (status, answer["error"], answer["field"]) == (400, "invalid_field", "shortcut")
    assert "like /refund" in answer["message"]
    assert await people["ana"].listed() == []


async def test_malformed_requests_and_taken_shortcuts(people: dict[str, Session]) -> None:
    ana = people["ana"]
    for raw in ("not json", "[1, 2]", '"text"', b"\xff\xfe"):
        status, answer = await ana.call("POST", "", raw, headers={"Content-Type": "application/json"})
        assert (status, answer["error"]) == (400, "bad_request"), raw
    first = await ana.add("hello")
    status, answer = await ana.call("POST", "", {"shortcut": "/HELLO", "title": "Again", "text": "t"})
    assert (status, answer["error"], answer["field"]) == (409, "shortcut_taken", "shortcut")
    other = await ana.add("hi")
    status, answer = await ana.call(
        "PUT", f"/{other['id']}", {"shortcut": "hello", "title": "T", "text": "t"}
    )
    assert (status, answer["error"]) == (409, "shortcut_taken")
    status, answer = await ana.call("PUT", "/no-such-id", {"shortcut": "x", "title": "T", "text": "t"})
    assert (status, answer["error"]) == (404, "not_found")
    # Text keeps its lines; title and text are trimmed; unknown fields are ignored.
    status, made = await ana.call(
        "POST", "", {"shortcut": "multi", "title": "  Two lines ", "text": "One\nTwo\n", "colour": "red"}
    )
    assert status == 201 and (made["title"], made["text"]) == ("Two lines", "One\nTwo")
    assert first["editable"] and made["editable"]


async def test_writes_need_the_session_and_the_pages_token(
    people: dict[str, Session], server: Server
) -> None:
    ana = people["ana"]
    body = {"shortcut": "x", "title": "T", "text": "t"}
    for headers in ({"X-CSRF-Token": "forged"}, {"Origin": "https://evil.example"}):
        status, answer = await ana.call("POST", "", body, headers=headers)
        assert (status, answer["error"]) == (403, "forbidden")
    async with aiohttp.ClientSession() as stranger:
        for method in ("GET", "POST"):
            async with stranger.request(method, f"{server.url}/agent/canned", json=body) as response:
                assert response.status == 403 and (await response.json())["error"] == "forbidden"
    assert await ana.listed() == []


async def test_the_personal_limit(people: dict[str, Session]) -> None:
    ana = people["ana"]
    for n in range(canned.MAX_PERSONAL):
        await ana.add(f"s{n}")
    status, answer = await ana.call("POST", "", {"shortcut": "three", "title": "T", "text": "t"})
    assert (status, answer["error"]) == (409, "too_many")
    await people["bo"].add("three")  # each agent's own limit
