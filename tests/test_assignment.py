"""Round-robin assignment end to end (widget_server/assignment.py): real servers, real consoles and
visitors over websockets, on the embedded store and bus and on PostgreSQL and Redis; and two servers
sharing one database and one Redis, both assigning, each chat assigned once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running
from tests.support.services import fresh_database, fresh_redis_prefix
from tests.test_agent_console import add_agent
from widget_server import model
from widget_server.model import Actor

PASSWORD = "correct horse"
SITE = "shop"


def team_config(capacity: dict[str, int]) -> dict[str, Any]:
    return {
        "teams": {
            "support": {
                "name": "Support",
                "agents": list(capacity),
                "assignment": "round_robin",
                "capacity": capacity,
            }
        },
        "sites": {
            SITE: {"name": "Shop", "allowed_origins": [HOST_ORIGIN], "backend": "local", "team": "support"},
            "manual": {"name": "Manual", "allowed_origins": [HOST_ORIGIN], "backend": "local"},
        },
    }


@pytest.fixture(params=["embedded", "shared"], ids=["sqlite+memory", "postgresql+redis"])
async def engines(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    async with contextlib.AsyncExitStack() as stack:
        found: dict[str, str] = {}
        if request.param == "shared":
            found["store"] = await stack.enter_async_context(fresh_database())
            found["bus"] = await stack.enter_async_context(fresh_redis_prefix())
        yield found


async def agent_of(server: Server, chat_id: str) -> str | None:
    chat = await server.runtime.store.get_chat(chat_id)
    assert chat is not None
    return chat.agent if chat.state == model.ACTIVE else None


async def joined(visitor: Visitor) -> str:
    """The name in the `joined` event this visitor sees next."""
    events = await visitor.events_until(lambda f: f["kind"] == "joined")
    return str(events[-1]["name"])


async def waits(visitor: Visitor, within: float = 0.5) -> None:
    """Nobody joins the visitor's chat for a while (queue places may come)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while True:
                frame = await visitor.recv(within)
                assert frame.get("kind") != "joined", frame


async def test_chats_go_round_robin_and_wait_for_room(data_dir: Path, engines: dict[str, str]) -> None:
    config = make_config(data_dir, {**engines, **team_config({"ana": 1, "bo": 1})})
    async with running(config) as server:
        await add_agent(server, "ana", "Ana")
        await add_agent(server, "bo", "Bo")
        await server.runtime.service.roster.refresh(users=True)
        async with contextlib.AsyncExitStack() as stack:
            ana = await stack.enter_async_context(Agent.connected(server, "ana", PASSWORD))
            one = await stack.enter_async_context(Visitor.connected(server, site=SITE))
            two = await stack.enter_async_context(Visitor.connected(server, site=SITE))
            three = await stack.enter_async_context(Visitor.connected(server, site=SITE))

            # Only Ana is online: the first chat is hers at once, as if she had accepted it.
            await one.start("One")
            assert await joined(one) == "Ana"
            assert await agent_of(server, one.chat or "") == "ana"
            await ana.expect("chat", timeout=5)

            # Her one place is taken: the second chat waits in the queue.
            await two.start("Two")
            await two.expect("event", kind="state", state="queued")
            await waits(two)
            assert await agent_of(server, two.chat or "") is None

            # Bo comes online: the waiting chat is his.
            bo = await stack.enter_async_context(Agent.connected(server, "bo", PASSWORD))
            assert await joined(two) == "Bo"
            assert await agent_of(server, two.chat or "") == "bo"

            # Both full: the third waits until Ana ends her chat, then it is hers.
            await three.start("Three")
            await three.expect("event", kind="state", state="queued")
            await waits(three)
            await ana.send({"type": "end", "chat": one.chat})
            assert await joined(three) == "Ana"
            assert await agent_of(server, three.chat or "") == "ana"
            await bo.say(two.chat or "", "Hello from Bo", "b1")

            # A site without a round-robin team keeps today's queue.
            manual = await stack.enter_async_context(Visitor.connected(server, site="manual"))
            await manual.start("Manual")
            await manual.expect("event", kind="state", state="queued")
            await waits(manual)
            assert await agent_of(server, manual.chat or "") is None


async def test_two_servers_assign_each_chat_once(data_dir: Path) -> None:
    """And a chat transferred to the team in one process is assigned at once (by either)."""
    async with contextlib.AsyncExitStack() as stack:
        shared = {
            "store": await stack.enter_async_context(fresh_database()),
            "bus": await stack.enter_async_context(fresh_redis_prefix()),
        }
        mapping = {**shared, **team_config({"ana": 5, "bo": 5})}
        first = await stack.enter_async_context(running(make_config(data_dir / "a", mapping)))
        second = await stack.enter_async_context(running(make_config(data_dir / "b", mapping)))
        await add_agent(first, "ana", "Ana")
        await add_agent(first, "bo", "Bo")
        for server in (first, second):
            await server.runtime.service.roster.refresh(users=True)
        await stack.enter_async_context(Agent.connected(first, "ana", PASSWORD))
        await stack.enter_async_context(Agent.connected(second, "bo", PASSWORD))

        chats = []
        for number, server in enumerate((first, second, first)):
            visitor = await stack.enter_async_context(Visitor.connected(server, site=SITE))
            await visitor.start(f"V{number}")
            await joined(visitor)
            chats.append(visitor.chat or "")

        store = first.runtime.store
        for chat_id in chats:
            events = await store.events_after(chat_id, 0)
            assert [e.kind for e in events].count("joined") == 1, events
        agents = [await agent_of(first, chat_id) for chat_id in chats]
        # Spread over both (fewest active chats first), and never to anyone outside the team.
        assert sorted(set(agents)) == ["ana", "bo"], agents

        # Cy, in no team, answers a chat of the manual site on the second server, then hands it to the
        # round-robin team: it is assigned at once, and the visitor sees Cy leave and the new agent join.
        await add_agent(first, "cy", "Cy")
        cy = await stack.enter_async_context(Agent.connected(first, "cy", PASSWORD))
        visitor = await stack.enter_async_context(Visitor.connected(second, site="manual"))
        await visitor.start("Handed over")
        chat_id = visitor.chat or ""
        await cy.send({"type": "accept", "chat": chat_id})
        assert await joined(visitor) == "Cy"
        await cy.send(
            {"type": "transfer", "chat": chat_id, "team": "support", "note": "Tent size?", "id": "t"}
        )
        await cy.expect("transferred", id="t")
        seen = await visitor.events_until(lambda f: f["kind"] == "joined")
        assert [(f["kind"], f.get("name")) for f in seen][-3:-1] == [("left", "Cy"), ("state", None)]
        assert seen[-1]["name"] in ("Ana", "Bo")
        chat = await store.get_chat(chat_id)
        assert chat is not None and (chat.team, chat.state, chat.agent) == (
            "support",
            "active",
            seen[-1]["name"].lower(),
        )


async def test_a_site_made_through_the_admin_api_joins_a_team(data_dir: Path) -> None:
    config = make_config(data_dir, team_config({"ana": 2}))
    async with running(config) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"id": "stored", "name": "Stored", "allowed_origins": [HOST_ORIGIN], "team": "support"}
        async with http.post(f"{server.url}/api/admin/sites", json=body, headers=headers) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["team"] == "support"
        await add_agent(server, "ana", "Ana")
        await server.runtime.service.roster.refresh(users=True)
        async with (
            Agent.connected(server, "ana", PASSWORD),
            Visitor.connected(server, site="stored") as visitor,
        ):
            await visitor.start("Stored")
            assert await joined(visitor) == "Ana"
        # Taken out of the team (null removes a setting): the site's chats wait for an Accept again.
        url = f"{server.url}/api/admin/sites/stored"
        async with http.patch(url, json={"team": None}, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert "team" not in await response.json()
