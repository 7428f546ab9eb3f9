"""Agents' status (widget_server/agent_status.py): online, away, offline; what the widget's `hello` makes
of it, what colleagues' consoles see, the grace period after a console closes, signing out and in.

Each test runs on the embedded store and bus and on PostgreSQL and Redis. tests/test_cluster.py has the
same across the processes of a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.clients import TIMEOUT, Agent, Frame, Server, Visitor, csrf_of, make_config, running
from tests.support.services import fresh_database, fresh_redis_prefix
from widget_server import model
from widget_server.agent_status import shown_status
from widget_server.passwords import hash_password

GRACE = 0.5  # agents.away_after in these tests
PASSWORD = "correct horse"


@pytest.fixture(params=["embedded", "shared"], ids=["sqlite+memory", "postgresql+redis"])
async def engines(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The store and bus of the test: the embedded ones, or PostgreSQL and Redis of its own."""
    async with contextlib.AsyncExitStack() as stack:
        chosen = {}
        if request.param == "shared":
            chosen["store"] = await stack.enter_async_context(fresh_database())
            chosen["bus"] = await stack.enter_async_context(fresh_redis_prefix())
        yield chosen


def serving(data_dir: Path, engines: dict[str, str], away_after: float = GRACE) -> Any:
    return running(make_config(data_dir, {**engines, "agents": {"away_after": away_after}}))


@pytest.fixture
async def server(data_dir: Path, engines: dict[str, str]) -> AsyncIterator[Server]:
    async with serving(data_dir, engines) as server:
        yield server


async def add_agent(server: Server, name: str = "ana", display: str = "Ana") -> None:
    await server.runtime.store.put_user(model.User(name, model.AGENT_ROLE, hash_password(PASSWORD), display))


async def set_status(agent: Agent, status: str) -> None:
    """Choose a status in the console; returns once the console heard the change."""
    await agent.send({"type": "status", "status": status})
    await agent.expect("agent", agent={"name": "admin", "displayName": "Admin", "status": status})


async def seen(console: Agent, name: str, timeout: float = TIMEOUT) -> str:
    """The status of ``name`` in the next `agent` frame about them."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await console.expect("agent", timeout)
            if frame["agent"]["name"] == name:
                status: str = frame["agent"]["status"]
                return status


async def frames_within(client: Agent | Visitor, seconds: float) -> list[Frame]:
    """Every frame the client receives in the next ``seconds``."""
    frames: list[Frame] = []
    deadline = time.monotonic() + seconds
    with contextlib.suppress(TimeoutError):
        while (left := deadline - time.monotonic()) > 0:
            frames.append(await client.recv(left))
    return frames


@contextlib.asynccontextmanager
async def reloaded(server: Server, agent: Agent) -> AsyncIterator[Agent]:
    """The console loaded again in the same browser: a new socket with the same session cookie."""
    async with connect(
        server.ws_url("/agent/ws"),
        origin=server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"widget_session={agent.cookie}"},
        open_timeout=TIMEOUT,
        max_queue=None,
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert hello["type"] == "hello", hello
        yield Agent(ws, hello, agent.http, agent.cookie)


async def sign_out(server: Server, agent: Agent) -> None:
    page = await (await agent.http.get(f"{server.url}/agent")).text()
    out = await agent.http.post(
        f"{server.url}/agent/logout", data={"csrf": csrf_of(page)}, allow_redirects=False
    )
    assert out.status == 303


@pytest.mark.parametrize(
    ("chosen", "connected", "shown"),
    [
        ("online", True, "online"),
        ("online", False, "away"),  # the console closed everywhere, past the grace period
        ("away", True, "away"),
        ("away", False, "away"),
        ("offline", True, "offline"),
        ("offline", False, "offline"),
    ],
)
def test_what_colleagues_see(chosen: str, connected: bool, shown: str) -> None:
    assert shown_status(chosen, connected) == shown


@pytest.mark.parametrize("status", ["away", "offline"])
async def test_an_agent_not_online_sends_visitors_to_the_offline_form(server: Server, status: str) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as widget:
        assert agent.hello["me"]["status"] == "online" and widget.hello["available"] is True
        await agent.send({"type": "status", "status": status})
        # The open widget hears it within a second; a new one is told at once.
        changed = await widget.expect("hello", timeout=1.0)
        assert changed["available"] is False and changed["reason"] == "agents"
        await agent.expect("agent", agent={"name": "admin", "displayName": "Admin", "status": status})
        async with Visitor.connected(server) as newcomer:
            assert newcomer.hello["available"] is False
        await agent.send({"type": "status", "status": "online"})
        assert (await widget.expect("hello", timeout=1.0))["available"] is True
        async with Visitor.connected(server) as newcomer:
            assert newcomer.hello["available"] is True
    stored = await server.runtime.store.get_user("admin")
    assert stored is not None and stored.status == "online"


async def test_an_away_agent_keeps_their_chats_and_answers_them(server: Server) -> None:
    async with Agent.connected(server) as agent, Visitor.connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat or ""
        await agent.accept(chat)
        await set_status(agent, "away")
        await visitor.say("Are you still there?", id="v1")
        assert (await agent.expect("event", chat=chat, kind="message"))["text"] == "Are you still there?"
        await agent.say(chat, "Yes, one moment.", id="a1")
        reply = await visitor.expect("event", kind="message", **{"from": "agent"})
        assert reply["text"] == "Yes, one moment."
        await set_status(agent, "offline")
        await agent.say(chat, "Done: it ships tomorrow.", id="a2")
        await visitor.expect("event", kind="message", text="Done: it ships tomorrow.")
        stored = await server.runtime.store.get_chat(chat)
        assert stored is not None and stored.state == model.ACTIVE and stored.agent == "admin"


async def test_a_closed_console_is_away_after_the_grace_period_and_a_reload_changes_nothing(
    server: Server,
) -> None:
    await add_agent(server)
    async with Agent.connected(server) as colleague:
        # Ana has never opened the console: away to colleagues, whatever she chose.
        assert {"name": "ana", "displayName": "Ana", "status": "away"} in colleague.hello["team"]
        await set_status(colleague, "away")  # from now on, only Ana makes the site available
        async with Visitor.connected(server) as widget:
            assert widget.hello["available"] is False
            async with Agent.connected(server, "ana", PASSWORD) as ana:
                assert await seen(colleague, "ana") == "online"
                await widget.expect("hello", available=True, timeout=1.0)
                assert {"name": "admin", "displayName": "Admin", "status": "away"} in ana.hello["team"]
                # A reload: the socket closes, a new one opens with the same session.
                await ana.ws.close()
                async with reloaded(server, ana) as again:
                    assert again.hello["me"]["status"] == "online"
                    # Past the first socket's grace: counted out, while the new one keeps her online.
                    told = await frames_within(colleague, GRACE * 2.5)
                    assert [f for f in told if f["type"] == "agent"] == []
                    assert await frames_within(widget, 0.05) == []
                closed = time.monotonic()
            assert await seen(colleague, "ana", timeout=GRACE + TIMEOUT) == "away"
            assert time.monotonic() - closed >= GRACE * 0.9  # not before the grace period
            await widget.expect("hello", available=False, timeout=1.0)
    stored = await server.runtime.store.get_user("ana")
    assert stored is not None and stored.status == "online"  # her choice: online again when she is back


async def test_signing_out_sets_offline_at_once_and_signing_in_sets_online(
    data_dir: Path, engines: dict[str, str]
) -> None:
    async with serving(data_dir, engines, away_after=60) as server:
        await add_agent(server)
        async with Agent.connected(server) as colleague, Visitor.connected(server) as widget:
            await set_status(colleague, "away")
            await widget.expect("hello", available=False)
            async with Agent.connected(server, "ana", PASSWORD) as ana:
                assert await seen(colleague, "ana") == "online"
                await widget.expect("hello", available=True)
                await sign_out(server, ana)
                # At once, however long the grace period of a closed console.
                assert await seen(colleague, "ana", timeout=1.0) == "offline"
                await widget.expect("hello", available=False, timeout=1.0)
            stored = await server.runtime.store.get_user("ana")
            assert stored is not None and stored.status == "offline"
            # Signing in again starts the day: online.
            async with Agent.connected(server, "ana", PASSWORD) as ana:
                assert ana.hello["me"]["status"] == "online"
                assert await seen(colleague, "ana") == "online"
                await widget.expect("hello", available=True, timeout=1.0)


async def test_the_choice_holds_across_reloads_devices_and_restarts(
    data_dir: Path, engines: dict[str, str]
) -> None:
    async with serving(data_dir, engines) as server, Agent.connected(server) as laptop:
        await set_status(laptop, "away")
        async with reloaded(server, laptop) as again:
            assert again.hello["me"]["status"] == "away"
        async with Agent.connected(server) as phone:  # another device, signed in there
            assert phone.hello["me"]["status"] == "away"
            assert {"name": "admin", "displayName": "Admin", "status": "away"} in phone.hello["team"]
            await set_status(phone, "offline")
            await laptop.expect("agent", agent={"name": "admin", "displayName": "Admin", "status": "offline"})
    async with serving(data_dir, engines) as server:  # the server restarted
        async with Visitor.connected(server) as widget:
            assert widget.hello["available"] is False
        # A new sign-in brings an offline agent back online (see the test above); a reload does not.
        async with Agent.connected(server) as laptop:
            assert laptop.hello["me"]["status"] == "online"
            await set_status(laptop, "offline")
            async with reloaded(server, laptop) as again:
                assert again.hello["me"]["status"] == "offline"


async def test_a_status_that_does_not_exist_is_refused(server: Server) -> None:
    async with Agent.connected(server) as agent:
        for wrong in ("busy", None, ["away"], "Away"):
            await agent.send({"type": "status", "status": wrong, "id": "s1"})
            error = await agent.expect("error")
            assert (error["code"], error["field"], error["id"]) == ("invalid_field", "status", "s1")
        await agent.send({"type": "ping"})
        await agent.expect("pong")
        assert [f for f in agent.frames if f["type"] == "agent"] == []
    stored = await server.runtime.store.get_user("admin")
    assert stored is not None and stored.status == "online"


async def test_a_removed_user_leaves_the_team(server: Server) -> None:
    await add_agent(server)
    async with Agent.connected(server) as agent:
        assert [m["name"] for m in agent.hello["team"]] == ["admin", "ana"]
        assert await server.runtime.store.delete_user("ana")
        await agent.send({"type": "status", "status": "away"})  # the team is read again
        removed = await agent.expect(
            "agent", agent={"name": "ana", "displayName": "Ana", "status": "offline", "removed": True}
        )
        assert removed
    async with Agent.connected(server) as agent:
        assert [m["name"] for m in agent.hello["team"]] == ["admin"]
