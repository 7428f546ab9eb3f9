"""Roles (widget_server/roles.py): agents see their teams' chats, supervisors every chat, which they join
silently or take over, and read reports; every action in a chat is in the audit log. Real servers, real
consoles and visitors over websockets, on the embedded store and bus and on PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, csrf_of, log_in, make_config, running
from tests.support.contact_centers import eventually
from tests.support.services import fresh_database, fresh_redis_prefix
from widget_server import model, roles
from widget_server.config import Site
from widget_server.model import AuditEntry, User
from widget_server.passwords import hash_password
from widget_server.teams import Team

PASSWORD = "correct horse"
TEAMS = {
    "north": {"name": "North", "agents": ["ana"]},
    "south": {"name": "South", "agents": ["bo"]},
}
SITES = {
    "north": {"name": "North shop", "allowed_origins": [HOST_ORIGIN], "team": "north"},
    "south": {"name": "South shop", "allowed_origins": [HOST_ORIGIN], "team": "south"},
    # Of no team, but its visitors choose one before a chat.
    "open": {"name": "Everyone's", "allowed_origins": [HOST_ORIGIN], "teams": ["north", "south"]},
}
PEOPLE = [("ana", "Ana", model.AGENT_ROLE), ("bo", "Bo", model.AGENT_ROLE), ("cy", "Cy", model.AGENT_ROLE)]
PEOPLE.append(("sam", "Sam", model.SUPERVISOR_ROLE))


def _site(site_id: str, team: str | None) -> Site:
    return Site(id=site_id, name=site_id, allowed_origins=(), blocked_ips=(), backend="local", team=team)


@pytest.mark.parametrize(
    ("name", "role", "sees"),
    [
        ("ana", model.AGENT_ROLE, {"north", "open"}),  # her team's sites, and those of no team
        ("cy", model.AGENT_ROLE, None),  # in no team: everything
        ("ana", model.SUPERVISOR_ROLE, None),
        ("ana", model.OPERATOR_ROLE, None),
    ],
)
def test_who_sees_which_sites(name: str, role: str, sees: set[str] | None) -> None:
    teams = {"north": Team("north", "North", ("ana",)), "south": Team("south", "South", ("bo",))}
    sites = [_site("north", "north"), _site("south", "south"), _site("open", None)]
    scope = roles.scope_of(User(name, role, "", name), teams, sites)
    assert scope.sites == (frozenset(sees) if sees is not None else None)
    assert roles.scope_of(User(name, role, "", name), {}, sites).everything  # no teams: everyone sees all


@pytest.fixture(params=["embedded", "shared"], ids=["sqlite+memory", "postgresql+redis"])
async def teams_server(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Server]:
    async with contextlib.AsyncExitStack() as stack:
        engines: dict[str, Any] = {}
        if request.param == "shared":
            engines["store"] = await stack.enter_async_context(fresh_database())
            engines["bus"] = await stack.enter_async_context(fresh_redis_prefix())
        config = make_config(data_dir, {**engines, "teams": TEAMS, "sites": SITES})
        server = await stack.enter_async_context(running(config))
        for name, display, role in PEOPLE:
            await server.runtime.store.put_user(User(name, role, hash_password(PASSWORD), display))
        await server.runtime.service.roster.refresh(users=True)
        yield server


def listed(agent: Agent) -> set[str]:
    return {chat["id"] for chat in agent.hello["chats"]}


async def settled(agent: Agent) -> None:
    """Every frame sent to this console before now has arrived (a ping's pong comes after them)."""
    await agent.send({"type": "ping"})
    await agent.expect("pong")


async def test_an_agent_sees_and_reaches_only_the_chats_of_their_teams(teams_server: Server) -> None:
    server = teams_server
    async with contextlib.AsyncExitStack() as stack:
        ana = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
        south = await stack.enter_async_context(Visitor.connected(server, site="south"))
        await south.start("Southerner")
        north = await stack.enter_async_context(Visitor.connected(server, site="north"))
        await north.start("Northerner")
        other = south.chat or ""
        await ana.expect("chat", timeout=5)  # the north chat, live
        await settled(ana)
        assert other not in str(ana.frames)  # not a frame about the south chat, live

        # By its id, through every frame that names a chat: as if it did not exist.
        frames: list[dict[str, Any]] = [
            {"type": "history", "after": 0},
            {"type": "accept"},
            {"type": "note", "id": "n1", "text": "Peek"},
            {"type": "earlier"},
            {"type": "end"},
            {"type": "transfer", "to": "ana"},
        ]
        for number, frame in enumerate(frames):
            await ana.send({**frame, "chat": other, "id": f"x{number}"})
            assert (await ana.expect("error", id=f"x{number}"))["code"] == "not_found", frame
        chat = await server.runtime.store.get_chat(other)
        assert chat is not None and (chat.state, chat.hidden_events) == ("queued", 0)

        # Nor in the history pages, its exports or its files; the search does not find it.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await log_in(http, server.url, "ana", PASSWORD)
            for path in ("", "/transcript.txt", "/chat.json", "/no-such-file"):
                url = f"{server.url}/agent/{'attachments' if path == '/no-such-file' else 'history'}/{other}"
                async with http.get(url + path) as response:
                    assert response.status == 404, path
            async with http.get(f"{server.url}/agent/history") as response:
                page = await response.text()
                assert north.chat in page and other not in page and "South shop" not in page
            async with http.get(f"{server.url}/agent/history/{north.chat}/transcript.txt") as response:
                assert response.status == 200

        # Bo (south) may not hand his chat to Ana, who does not answer that site.
        bo = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
        assert listed(bo) == {other}
        await bo.send({"type": "accept", "chat": other})
        await bo.expect("event", chat=other, kind="joined")
        await bo.send({"type": "transfer", "chat": other, "to": "ana", "id": "t"})
        assert (await bo.expect("error", id="t"))["code"] == "not_in_team"

        # A reload shows the same; an agent in no team and a supervisor see both.
        again = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
        assert listed(again) == {north.chat}
        for name in ("cy", "sam"):
            everyone = await stack.enter_async_context(Agent.connected(server, name, PASSWORD))
            assert listed(everyone) == {north.chat, other}


async def test_a_supervisor_joins_silently_then_takes_over(teams_server: Server) -> None:
    server = teams_server
    async with contextlib.AsyncExitStack() as stack:
        bo = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
        sam = await stack.enter_async_context(Agent.connected(server, "sam", PASSWORD))
        visitor = await stack.enter_async_context(Visitor.connected(server, site="south"))
        await visitor.start()
        chat = visitor.chat or ""
        await bo.send({"type": "accept", "chat": chat})
        await bo.expect("event", chat=chat, kind="joined")
        seen = await visitor.events_until(lambda f: f["kind"] == "joined")

        # Only supervisors (and operators) join silently or take over.
        for kind in ("join", "take_over"):
            await bo.send({"type": kind, "chat": chat, "id": kind})
            assert (await bo.expect("error", id=kind))["code"] == "not_allowed"

        await sam.send({"type": "join", "chat": chat, "id": "j"})
        assert await sam.expect("watching", id="j") == {"type": "watching", "chat": chat, "id": "j"}
        for console in (sam, bo):  # both consoles show who is watching (before or after the answer)
            earlier = [f for f in console.frames if f["type"] == "event" and f["kind"] == "watch"]
            watch = earlier[0] if earlier else await console.expect("event", chat=chat, kind="watch")
            assert (watch["user"], watch["name"]) == ("sam", "Sam")
        await sam.send({"type": "join", "chat": chat, "id": "j2"})  # again: nothing more
        await sam.expect("watching", id="j2")

        # Sam follows the chat live and writes a note; the visitor gets nothing of it.
        await visitor.say("Is anyone there?", "v1")
        await sam.expect("event", chat=chat, kind="message", text="Is anyone there?")
        await sam.send({"type": "note", "chat": chat, "id": "n1", "text": "Bo, answer quickly please."})
        await sam.expect("ack", id="n1")

        # Sam takes over: the visitor sees Bo leave and Sam join, numbered without gaps.
        await sam.send({"type": "take_over", "chat": chat, "id": "t"})
        assert (await sam.expect("transferred", id="t"))["to"] == "sam"
        seen += await visitor.events_until(lambda f: f["kind"] == "joined")
        assert [(f["kind"], f.get("name")) for f in seen][-2:] == [("left", "Bo"), ("joined", "Sam")]
        async with Visitor.connected(server, site="south") as again:  # the whole chat, as a reload gets it
            await again.send({"type": "resume", "token": visitor.token, "after": 0})
            replay = await again.events_until(lambda f: f["kind"] == "joined" and f["name"] == "Sam")
        assert [f["seq"] for f in replay] == list(range(1, len(replay) + 1))
        assert not [f for f in replay if f["kind"] in ("watch", "note")] and "Sam" not in str(replay[:-1])
        async with aiohttp.ClientSession() as http:  # nor the history API
            _, token = await server.app.state.site_admin.create_token(model.Actor("test", "cli"), "tests")
            url = f"{server.url}/api/v2/chat/chats/{chat}"
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                body = await response.text()
                assert response.status == 200 and "watch" not in body and "silently" not in body
        await sam.say(chat, "Sam here, I can help.", "s1")
        await sam.send({"type": "end", "chat": chat, "id": "e"})
        await sam.expect("event", chat=chat, kind="state", state="ended")

        # Every action is in the audit log, with who and from where, and never the note's text.
        async def all_five() -> list[AuditEntry]:
            found = await server.runtime.store.list_audit(50, target=chat)
            return found if len(found) >= 5 else []  # the end is written just after the console hears it

        entries = await eventually(all_five)
        actions = [(e.action, e.actor) for e in reversed(entries)]
        assert actions == [
            ("chat.accept", "bo"),
            ("chat.join_silently", "sam"),
            ("chat.note", "sam"),
            ("chat.take_over", "sam"),
            ("chat.end", "sam"),
        ]
        assert {(e.via, e.address, e.detail["site"]) for e in entries} == {("console", "127.0.0.1", "south")}
        assert entries[1].detail == {"site": "south", "from": "bo", "to": "sam", "note": False}
        assert "answer quickly" not in str([e.to_json() for e in entries])


async def test_a_chat_transferred_to_a_team_waits_for_that_team(teams_server: Server) -> None:
    server = teams_server
    async with contextlib.AsyncExitStack() as stack:
        bo = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
        ana = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
        assert ana.hello["teams"] == [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}]
        visitor = await stack.enter_async_context(Visitor.connected(server, site="south"))
        await visitor.start()
        chat = visitor.chat or ""
        await bo.send({"type": "accept", "chat": chat})
        await bo.expect("event", chat=chat, kind="joined")
        seen = await visitor.events_until(lambda f: f["kind"] == "joined")

        refused = [({"team": "east"}, "unknown_team"), ({"team": "north", "to": "ana"}, "invalid_field")]
        for number, (fields, code) in enumerate(refused):
            await bo.send({"type": "transfer", "chat": chat, "id": f"r{number}", **fields})
            assert (await bo.expect("error", id=f"r{number}"))["code"] == code

        # To the north team, with a note: Bo leaves, the chat waits again, now North's (not its site's).
        note = "Lives up north; wants the winter tent."
        await bo.send({"type": "transfer", "chat": chat, "team": "north", "note": note, "id": "t"})
        assert await bo.expect("transferred", id="t") == {
            "type": "transferred",
            "chat": chat,
            "team": "north",
            "id": "t",
        }
        # Out of Bo's sight: his console drops it (told before or after the answer).
        if not [f for f in bo.frames if f == {"type": "gone", "chat": chat}]:
            await bo.expect("gone", chat=chat)
        shown = await ana.expect("chat", timeout=5)
        assert (shown["chat"]["id"], shown["chat"]["state"], shown["chat"]["team"]) == (
            chat,
            "queued",
            "north",
        )
        assert (shown["chat"]["agent"], shown["chat"]["site"]) == (None, "south")
        assert [f for f in ana.frames if f["type"] == "event" and f["kind"] == "note" and f["text"] == note]
        seen += await visitor.events_until(lambda f: f["kind"] == "state" and f["state"] == "queued")
        assert [(f["kind"], f.get("name") or f.get("state")) for f in seen][-2:] == [
            ("left", "Bo"),
            ("state", "queued"),
        ]
        assert note not in str(seen)

        # Ana accepts it; the visitor sees her join. A reload: Ana's list has it, Bo's does not.
        await ana.send({"type": "accept", "chat": chat})
        await ana.expect("event", chat=chat, kind="joined")
        seen += await visitor.events_until(lambda f: f["kind"] == "joined")
        assert seen[-1]["name"] == "Ana"
        assert [f["seq"] for f in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen)))
        again = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
        assert chat in listed(again)
        bo_again = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
        assert chat not in listed(bo_again)
        await bo_again.send({"type": "history", "chat": chat, "id": "h"})
        assert (await bo_again.expect("error", id="h"))["code"] == "not_found"

        # The log keeps everything, in one append; the audit log names the team.
        kinds = [
            (e.kind, e.data.get("name") or e.data.get("state"))
            for e in await server.runtime.store.events_after(chat, 0)
        ]
        at = kinds.index(("note", "Bo"))
        assert kinds[at : at + 4] == [("note", "Bo"), ("left", "Bo"), ("state", "queued"), ("joined", "Ana")]
        entries = await server.runtime.store.list_audit(50, target=chat)
        transfer = next(e for e in entries if e.action == "chat.transfer")
        assert (transfer.actor, transfer.detail) == (
            "bo",
            {"site": "south", "from": "bo", "team": "north", "note": True},
        )


async def test_the_visitor_chooses_the_team_before_the_chat(teams_server: Server) -> None:
    server = teams_server
    async with contextlib.AsyncExitStack() as stack:
        ana = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
        bo = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
        visitor = await stack.enter_async_context(Visitor.connected(server, site="open"))
        assert visitor.hello["teams"] == [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}]
        async with Visitor.connected(server, site="north") as plain:
            assert "teams" not in plain.hello  # a site that offers no choice

        await visitor.send({"type": "start", "nickname": "Kim", "team": "east", "id": "s1"})
        refused = await visitor.expect("error")
        assert (refused["code"], refused["id"]) == ("team_not_offered", "s1")
        await visitor.start("Kim", team="south")
        chat = visitor.chat or ""
        shown = await bo.expect("chat", timeout=5)
        assert (shown["chat"]["id"], shown["chat"]["team"]) == (chat, "south")
        await settled(ana)
        assert chat not in str(ana.frames)  # the site is of no team, but the chat is South's
        stored = await server.runtime.store.list_chats(sites=["open"], limit=100)
        assert [(c.id, c.team) for c in stored] == [(chat, "south")]  # the refused start stored nothing


async def test_supervisors_read_reports_and_operators_the_audit_log(teams_server: Server) -> None:
    server = teams_server
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await log_in(http, server.url, "sam", PASSWORD)
        async with http.get(f"{server.url}/admin/reports") as response:
            assert response.status == 200
            page = await response.text()
            assert 'href="/admin/reports"' in page and 'href="/admin/audit"' not in page
        async with http.get(f"{server.url}/api/admin/reports?group_by=site") as response:
            assert response.status == 200 and "totals" in await response.json()
        for path in ("/admin", "/admin/audit"):
            async with http.get(f"{server.url}{path}") as response:
                assert response.status == 403, path
        async with http.get(f"{server.url}/api/admin/audit") as response:
            assert response.status == 401  # the rest of the API takes tokens only

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await log_in(http, server.url, "ana", PASSWORD)
        for path in ("/admin/reports", "/api/admin/reports"):
            async with http.get(f"{server.url}{path}") as response:
                assert response.status in (401, 403), path

    # An export is in the audit log; the operator's audit page shows one chat's entries.
    async with (
        Visitor.connected(server, site="open") as visitor,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        await visitor.start()
        await log_in(http, server.url, "cy", PASSWORD)
        async with http.get(f"{server.url}/agent/history/{visitor.chat}/chat.json") as response:
            assert response.status == 200
        await log_in(http, server.url, "admin", server.admin_password())
        async with http.get(f"{server.url}/admin/audit", params={"target": visitor.chat or ""}) as response:
            page = await response.text()
            assert response.status == 200 and page.count("chat.export") == 1 and "user.add" not in page
            assert f'href="/agent/history/{visitor.chat}"' in page


async def test_operators_give_roles_in_the_admin_page_and_api(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir)) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        _, secret = await server.app.state.site_admin.create_token(model.Actor("test", "cli"), "tests")
        api = f"{server.url}/api/admin/users"
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"name": "sam", "role": "supervisor", "password": PASSWORD, "display_name": "Sam"}
        async with http.post(api, json=body, headers=headers) as response:
            assert response.status == 201
            assert await response.json() == {
                "name": "sam",
                "display_name": "Sam",
                "role": "supervisor",
                "status": "online",
            }
        async with http.patch(f"{api}/sam", json={"role": "boss"}, headers=headers) as response:
            assert (response.status, (await response.json())["field"]) == (400, "role")
        async with http.patch(f"{api}/admin", json={"role": "agent"}, headers=headers) as response:
            assert (response.status, (await response.json())["error"]) == (409, "last_operator")

        # The page: the operator makes Sam an agent; a role change ends Sam's sessions.
        await log_in(http, server.url, "admin", server.admin_password())
        page = await (await http.get(f"{server.url}/admin/users")).text()
        assert "Sam" in page and 'value="supervisor" selected' in page
        form = {"csrf": csrf_of(page), "role": "agent"}
        async with http.post(
            f"{server.url}/admin/users/sam/role", data=form, allow_redirects=False
        ) as response:
            assert response.status == 303
        sam = await server.runtime.store.get_user("sam")
        assert sam is not None and (sam.role, sam.session_version) == ("agent", 2)
        add = {"csrf": form["csrf"], "name": "kim", "role": "supervisor", "password": "short"}
        async with http.post(f"{server.url}/admin/users", data=add) as response:
            assert response.status == 400 and 'id="f-password-error"' in await response.text()
        assert await server.runtime.store.get_user("kim") is None
        async with http.get(api, headers=headers) as response:
            assert [(u["name"], u["role"]) for u in (await response.json())["users"]] == [
                ("admin", "operator"),
                ("sam", "agent"),
            ]
        entries = await server.runtime.store.list_audit(10, target="sam")
        assert [(e.action, e.via) for e in entries] == [("user.role", "admin page"), ("user.add", "api")]
