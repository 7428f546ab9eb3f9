"""The built-in contact center through its real login form and console websocket."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import replace

import aiohttp
import pytest
from itsdangerous import TimestampSigner
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import Agent, Server, Visitor, csrf_of, log_in
from widget_server import model
from widget_server.passwords import hash_password
from widget_server.web.security import SESSION_LIFETIME


async def add_agent(server: Server, name: str, display: str, password: str = "correct horse") -> None:
    await server.runtime.store.put_user(model.User(name, model.AGENT_ROLE, hash_password(password), display))


async def test_login_needs_the_csrf_token_and_the_right_password(server: Server) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{server.url}/agent/login")).text()
        csrf = csrf_of(page)
        form = {"name": "admin", "password": server.admin_password()}
        no_token = await http.post(f"{server.url}/agent/login", data=form, allow_redirects=False)
        assert no_token.status == 400
        wrong = await http.post(
            f"{server.url}/agent/login",
            data={**form, "password": "nope", "csrf": csrf},
            allow_redirects=False,
        )
        assert wrong.status == 401 and "Wrong name or password" in await wrong.text()
        cross_site = await http.post(
            f"{server.url}/agent/login",
            data={**form, "csrf": csrf},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        assert cross_site.status == 400
        ok = await http.post(f"{server.url}/agent/login", data={**form, "csrf": csrf}, allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"] == "/agent"
        cookie = ok.headers["Set-Cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        console = await http.get(f"{server.url}/agent")
        assert console.status == 200
        assert "frame-ancestors 'none'" in console.headers["Content-Security-Policy"]


async def attempt_logins(server: Server, address: str, passwords: list[str]) -> list[int]:
    """Log in as admin from one loopback address with each password in turn; the answers' statuses."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = csrf_of(await (await http.get(f"{server.url}/agent/login")).text())
        statuses = []
        for password in passwords:
            response = await http.post(
                f"{server.url}/agent/login",
                data={"name": "admin", "password": password, "csrf": csrf},
                allow_redirects=False,
            )
            statuses.append(response.status)
        return statuses


async def test_logins_are_throttled_without_locking_out_the_owner(server: Server) -> None:
    right = server.admin_password()
    # An address that keeps guessing: five tries, then refused, even with the right password.
    assert await attempt_logins(server, "127.0.0.2", ["guess"] * 6 + [right]) == [401] * 5 + [429, 429]
    # The name is now under attack, but its owner, from an address that has not failed, still gets in.
    assert await attempt_logins(server, "127.0.0.3", [right]) == [303]
    # Another attacking address gets one try for that name, not five.
    assert await attempt_logins(server, "127.0.0.4", ["guess", "guess"]) == [401, 429]


async def test_signing_out_ends_the_session_on_the_server(server: Server) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        cookie = await log_in(http, server.url, "admin", server.admin_password())
        page = await (await http.get(f"{server.url}/agent")).text()
        out = await http.post(
            f"{server.url}/agent/logout", data={"csrf": csrf_of(page)}, allow_redirects=False
        )
        assert out.status == 303
    # A copy of the cookie taken before signing out (another tab, another device, a thief) is dead too.
    async with aiohttp.ClientSession(cookies={"widget_session": cookie}) as copy:
        response = await copy.get(f"{server.url}/agent", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/agent/login")


async def test_a_session_lasts_twelve_hours_at_most(server: Server) -> None:
    """The login time is signed into the cookie: one older than the lifetime is refused by the server,
    whatever the browser does with the cookie's own expiry."""
    user = await server.runtime.store.get_user("admin")
    assert user is not None

    def cookie(age: float) -> str:
        session = {"user": "admin", "v": user.session_version, "at": int(time.time() - age), "csrf": "x"}
        data = base64.b64encode(json.dumps(session).encode())
        return TimestampSigner(server.runtime.secret_key).sign(data).decode()

    for age, expected in [(60, 200), (SESSION_LIFETIME + 60, 303)]:
        async with aiohttp.ClientSession(cookies={"widget_session": cookie(age)}) as http:
            response = await http.get(f"{server.url}/agent", allow_redirects=False)
            assert response.status == expected, age


async def test_the_console_is_not_for_strangers_nor_for_other_sites(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url("/agent/ws"), origin=server.url):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        cookie = await log_in(http, server.url, "admin", server.admin_password())
    # A logged-in agent's browser on another site's page: cross-site websocket hijacking.
    with pytest.raises(InvalidStatus):
        async with connect(
            server.ws_url("/agent/ws"),
            origin="https://evil.example",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"widget_session={cookie}"},
        ):
            pass
    # Logging out everywhere (a new session version) invalidates the old cookie.
    user = await server.runtime.store.get_user("admin")
    assert user is not None
    await server.runtime.store.put_user(replace(user, session_version=user.session_version + 1))
    with pytest.raises(InvalidStatus):
        async with connect(
            server.ws_url("/agent/ws"),
            origin=server.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"widget_session={cookie}"},
        ):
            pass


async def test_an_agent_sees_the_queue_live_accepts_and_chats(server: Server) -> None:
    async with Agent.connected(server) as agent:
        me = {"name": "admin", "displayName": "Admin", "role": "operator", "status": "online"}
        assert agent.hello["me"] == me
        assert agent.hello["chats"] == []
        async with Visitor.connected(server) as visitor:
            assert visitor.hello["available"] is True  # an agent is online
            await visitor.start(
                nickname="Chris",
                subject="Billing",
                email="chris@example.com",
                userData={"plan": "pro"},
                page="https://shop.example/pricing",
            )
            chat = visitor.chat
            summary = (await agent.expect("chat"))["chat"]
            assert summary["id"] == chat and summary["state"] == "queued"
            assert summary["visitor"] == {
                "nickname": "Chris",
                "subject": "Billing",
                "email": "chris@example.com",
                "userData": {"plan": "pro"},
                "page": "https://shop.example/pricing",
                "userAgent": summary["visitor"]["userAgent"],
            }
            await visitor.send({"type": "typing", "active": True})
            typing = await agent.expect("typing")
            assert typing == {"type": "typing", "chat": chat, "name": "Chris", "active": True}
            await visitor.say("Do you ship to Norway?", id="q1")
            question = await agent.expect("event", kind="message")
            assert question["chat"] == chat and question["text"] == "Do you ship to Norway?"

            await agent.send({"type": "accept", "chat": chat})
            joined = await visitor.expect("event", kind="joined")
            assert joined["name"] == "Admin"
            await visitor.expect("event", kind="state", state="active")
            await agent.send({"type": "typing", "chat": chat, "active": True})
            assert await visitor.expect("typing") == {"type": "typing", "name": "Admin", "active": True}
            await agent.say(chat or "", "Yes, we do.", id="a1")
            reply = await visitor.expect("event", kind="message", **{"from": "agent"})
            assert reply["name"] == "Admin" and reply["text"] == "Yes, we do."
            await agent.send({"type": "history", "chat": chat})
            summary = (await agent.expect("history"))["summary"]
            assert summary["agent"] == "admin" and summary["agentName"] == "Admin"
            assert summary["lastMessage"] == {
                "from": "agent",
                "name": "Admin",
                "text": "Yes, we do.",
                "at": reply["at"],
                "seq": reply["seq"],
            }

            await visitor.send({"type": "visit", "url": "https://shop.example/checkout"})
            visit = await agent.expect("event", kind="visit")
            assert visit["url"] == "https://shop.example/checkout"

            await agent.send({"type": "end", "chat": chat})
            await visitor.expect("event", kind="left", name="Admin")
            await visitor.expect("event", kind="state", state="ended")
            history_request = {"type": "history", "chat": chat, "after": 0}
            await agent.send(history_request)
            history = await agent.expect("history")
            assert [e["kind"] for e in history["events"]] == [
                "state",
                "visit",
                "message",
                "joined",
                "state",
                "message",
                "visit",
                "left",
                "state",
            ]


async def test_a_chat_accepted_by_one_agent_leaves_the_others_queue(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    await add_agent(server, "bo", "Bo")
    async with (
        Agent.connected(server, "ana", "correct horse") as ana,
        Agent.connected(server, "bo", "correct horse") as bo,
        Visitor.connected(server) as visitor,
    ):
        await visitor.start()
        chat = visitor.chat
        await ana.expect("chat")
        await bo.expect("chat")
        # Both click Accept at the same moment: exactly one gets the chat.
        await asyncio.gather(
            ana.send({"type": "accept", "chat": chat}), bo.send({"type": "accept", "chat": chat})
        )
        ana_change = await ana.expect("chat")
        bo_change = await bo.expect("chat")
        assert ana_change["chat"]["state"] == bo_change["chat"]["state"] == "active"
        winner = ana_change["chat"]["agent"]
        assert winner in ("ana", "bo") and bo_change["chat"]["agent"] == winner
        loser = bo if winner == "ana" else ana
        # The refusal may come before or after the change (which travels over the bus): either way.
        refusals = [f for f in loser.frames if f["type"] == "error"] or [await loser.expect("error")]
        assert refusals[0]["code"] == "taken"
        # The loser cannot write in it either.
        await loser.send({"type": "say", "chat": chat, "id": "x", "text": "me too"})
        assert (await loser.expect("error", id="x"))["code"] == "not_yours"
        joined = [
            e for e in await visitor.events_until(lambda e: e["kind"] == "state" and e["state"] == "active")
        ]
        assert [e["kind"] for e in joined].count("joined") == 1


async def test_queue_positions_move_up(server: Server) -> None:
    async with (
        Agent.connected(server) as agent,
        Visitor.connected(server) as first,
        Visitor.connected(server) as second,
    ):
        await first.start(nickname="First")
        await second.start(nickname="Second")
        queued = await second.expect("event", kind="state")
        assert queued["position"] == 2
        await agent.send({"type": "accept", "chat": first.chat})
        await second.expect("queue", position=1)


async def test_only_the_visitors_behind_a_leaver_move_up(server: Server) -> None:
    async with (
        Agent.connected(server) as agent,
        Visitor.connected(server) as first,
        Visitor.connected(server) as second,
        Visitor.connected(server) as third,
    ):
        for place, visitor in enumerate((first, second, third), start=1):
            await visitor.start()
            await visitor.expect("queue", position=place)
        await agent.send({"type": "accept", "chat": second.chat})
        await third.expect("queue", position=2)
        await first.no_frame(0.5)  # nobody left ahead of the first
        await agent.send({"type": "end", "chat": second.chat})
        await second.expect("event", kind="state", state="ended")
        await third.no_frame(0.5)  # an active chat ended: the queue did not move
        await first.send({"type": "end"})  # the first gives up waiting: the last is next
        await third.expect("queue", position=1)
        await third.no_frame(0.5)


async def test_a_queued_visitor_who_leaves_is_dropped_after_the_grace_period(server: Server) -> None:
    server.runtime.service.presence.abandon_after = 0.2
    async with Agent.connected(server) as agent:
        async with Visitor.connected(server) as visitor:
            await visitor.start()
            chat = visitor.chat
            await agent.expect("presence", chat=chat, online=True)
        await agent.expect("presence", chat=chat, online=False)
        ended = await agent.expect("chat", timeout=3)
        assert ended["chat"]["id"] == chat and ended["chat"]["state"] == "ended"


async def test_console_errors_are_frames(server: Server) -> None:
    async with Agent.connected(server) as agent:
        for frame, code in [
            ("{", "bad_frame"),
            ('{"type": "dance", "chat": "x"}', "unknown_type"),
            ('{"type": "accept"}', "invalid_field"),
            ('{"type": "accept", "chat": "nope"}', "not_found"),
            ('{"type": "say", "chat": "nope", "id": "1", "text": ""}', "invalid_field"),
        ]:
            await agent.ws.send(frame)
            assert (await agent.expect("error"))["code"] == code, frame
        await agent.send({"type": "ping"})
        await agent.expect("pong")


async def test_offline_messages_are_in_the_console_and_read_for_everyone(server: Server) -> None:
    await add_agent(server, "ana", "Ana")
    async with Visitor.connected(server) as visitor:
        await visitor.send(
            {"type": "leave_message", "id": "o1", "name": "Kim", "email": "k@x.example", "message": "Call me"}
        )
        chat = (await visitor.expect("ack", id="o1"))["chat"]
    async with Agent.connected(server) as admin, Agent.connected(server, "ana", "correct horse") as ana:
        for agent in (admin, ana):
            listed = [c for c in agent.hello["chats"] if c["id"] == chat]
            assert listed and listed[0]["type"] == "offline_msg" and listed[0]["unread"] is True
            assert listed[0]["lastMessage"]["text"] == "Call me"
        await admin.send({"type": "read", "chat": chat})
        changed = await ana.expect("chat")
        assert changed["chat"]["id"] == chat and changed["chat"]["unread"] is False
    stored = await server.runtime.store.get_chat(chat)
    assert stored is not None and stored.meta["unread"] is False
