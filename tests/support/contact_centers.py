"""The agent's side of each backend, for the adapter contract suite.

Each class runs the contact center a site is configured with (the built-in one through the real agent
console; the others as their fake servers) and acts as its agent. The contract suite talks only to this
interface, so a new backend is one class here and one fixture parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Protocol

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.gws import FakeGWS
from tests.fakes.helpcrunch import DEFAULT_AGENT_NAME, DEFAULT_APPLICATION, FakeHelpCrunch
from tests.fakes.omnidesk import FakeOmnidesk, Session
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Agent, Server

FAST_POLLING = {
    "typing_interval": 0.05,
    "active_interval": 0.1,
    "idle_interval": 0.2,
    "idle_after": 5,
    "grace": 1.0,
    "backoff_base": 0.1,
    "backoff_max": 0.5,
}


async def eventually(check: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Wait until ``check()`` (sync or async) returns something truthy; return it."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(interval)


class AgentSide(Protocol):
    name: ClassVar[str]
    #: Whether the contact center can be unreachable while we are up (the built-in one cannot).
    can_be_down: ClassVar[bool]
    #: Whether typing travels, the visitor's to the agent and the agent's to the visitor.
    carries_typing: ClassVar[bool]

    def site(self) -> dict[str, Any]:
        """The site's configuration table."""
        ...

    def running(self, server_factory: Any) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def agent_join(self, chat: str, name: str) -> None: ...

    async def agent_say(self, chat: str, text: str) -> None: ...

    async def agent_typing(self, chat: str, active: bool) -> None: ...

    async def agent_leave(self, chat: str) -> None: ...

    async def visitor_texts(self, chat: str) -> list[str]:
        """The visitor messages the agent side has received, in order."""
        ...

    async def visitor_typing(self, chat: str) -> bool | None:
        """What the agent side last saw of the visitor's typing."""
        ...

    async def ended_there(self, chat: str) -> bool:
        """Whether the agent side knows the chat is over."""
        ...

    def outage(self) -> contextlib.AbstractContextManager[None]:
        """While inside, the contact center cannot be reached."""
        ...


class LocalSide:
    """The built-in contact center: the agent is a real agent-console client."""

    name: ClassVar[str] = "local"
    can_be_down: ClassVar[bool] = False
    carries_typing: ClassVar[bool] = True

    def __init__(self) -> None:
        self.server: Server | None = None
        self.agent: Agent | None = None
        self._stack = contextlib.AsyncExitStack()
        self._typing: dict[str, bool] = {}

    def site(self) -> dict[str, Any]:
        return {"name": "Contract", "allowed_origins": [HOST_ORIGIN], "backend": "local"}

    @contextlib.asynccontextmanager
    async def running(self, server: Server) -> AsyncIterator[None]:
        self.server = server
        async with Agent.connected(server) as agent:
            self.agent = agent
            yield

    def _agent(self) -> Agent:
        assert self.agent is not None
        return self.agent

    async def agent_join(self, chat: str, name: str) -> None:
        await self._agent().send({"type": "accept", "chat": chat})

    async def agent_say(self, chat: str, text: str) -> None:
        await self._agent().send({"type": "say", "chat": chat, "id": text[:60], "text": text})

    async def agent_typing(self, chat: str, active: bool) -> None:
        await self._agent().send({"type": "typing", "chat": chat, "active": active})

    async def agent_leave(self, chat: str) -> None:
        await self._agent().send({"type": "end", "chat": chat})

    async def _drain(self) -> list[dict[str, Any]]:
        agent = self._agent()
        with contextlib.suppress(TimeoutError):
            while True:
                await agent.recv(timeout=0.05)
        return agent.frames

    async def visitor_texts(self, chat: str) -> list[str]:
        frames = await self._drain()
        return [
            f["text"]
            for f in frames
            if f["type"] == "event"
            and f["chat"] == chat
            and f["kind"] == "message"
            and f["from"] == "visitor"
        ]

    async def visitor_typing(self, chat: str) -> bool | None:
        frames = await self._drain()
        typing = [f["active"] for f in frames if f["type"] == "typing" and f["chat"] == chat]
        return typing[-1] if typing else None

    async def ended_there(self, chat: str) -> bool:
        frames = await self._drain()
        return any(
            f["type"] == "chat" and f["chat"]["id"] == chat and f["chat"]["state"] == "ended" for f in frames
        )

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        # The built-in contact center is the database itself: it cannot be unreachable apart from us.
        yield


class GWSSide:
    """Genesys Web Services: the agent acts through the fake GWS's controls."""

    name: ClassVar[str] = "gws"
    can_be_down: ClassVar[bool] = True
    carries_typing: ClassVar[bool] = True

    def __init__(self) -> None:
        self.fake = FakeGWS()
        self.base_url = ""
        self.server: Server | None = None

    def site(self) -> dict[str, Any]:
        return {
            "name": "Contract",
            "allowed_origins": [HOST_ORIGIN],
            "backend": "gws",
            "gws": {"base_url": self.base_url, "contact_center_id": self.fake.contact_center_id},
        }

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        async with serve(self.fake.app) as url:
            self.base_url = url
            yield

    @contextlib.asynccontextmanager
    async def running(self, server: Server) -> AsyncIterator[None]:
        self.server = server
        yield

    async def gws_id(self, chat: str) -> str:
        assert self.server is not None
        record = await self.server.runtime.store.get_chat(chat)
        assert record is not None and record.backend_ref is not None
        return record.backend_ref

    async def agent_join(self, chat: str, name: str) -> None:
        self.fake.agent_join(await self.gws_id(chat), name)

    async def agent_say(self, chat: str, text: str) -> None:
        self.fake.agent_say(await self.gws_id(chat), text)

    async def agent_typing(self, chat: str, active: bool) -> None:
        self.fake.agent_typing(await self.gws_id(chat), active)

    async def agent_leave(self, chat: str) -> None:
        self.fake.agent_leave(await self.gws_id(chat))

    async def visitor_texts(self, chat: str) -> list[str]:
        return list(self.fake.chats[await self.gws_id(chat)].customer_texts)

    async def visitor_typing(self, chat: str) -> bool | None:
        operations = [
            r.operation
            for r in self.fake.requests
            if r.chat_id == await self.gws_id(chat) and r.operation and "Typing" in r.operation
        ]
        return operations[-1] == "SendStartTypingNotification" if operations else None

    async def ended_there(self, chat: str) -> bool:
        return bool(self.fake.chats[await self.gws_id(chat)].completed)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self.fake.fail_next(1000, status=503)
        try:
            yield
        finally:
            self.fake.clear_faults()


class HelpCrunchSide:
    """HelpCrunch in its main mode, webhooks: the fake HelpCrunch posts signed events to our
    ``/hooks/helpcrunch/contract``, and the agent acts through the fake's controls.

    A quirk of HelpCrunch, as an attribute (a quirk is an attribute, not an ``if`` in a test):
    it carries no typing, so the contract suite runs its typing tests on the other sides and holds this
    one to sending none.
    """

    name: ClassVar[str] = "helpcrunch"
    can_be_down: ClassVar[bool] = True
    #: HelpCrunch's REST API and webhooks carry no typing, neither the visitor's nor the agent's.
    carries_typing: ClassVar[bool] = False

    KEY_ENV: ClassVar[str] = "CONTRACT_HELPCRUNCH_API_KEY"
    SECRET_ENV: ClassVar[str] = "CONTRACT_HELPCRUNCH_WEBHOOK_KEY"
    SECRET: ClassVar[str] = "contract-webhook-signing-key"

    def __init__(self) -> None:
        self.fake = FakeHelpCrunch()
        self.server: Server | None = None
        self._names: dict[int, str] = {}
        self._saved: dict[str, str | None] = {}
        # The contract fixture asks for the site's settings before it starts anything, and serves only
        # GWSSide's fake itself: hold a port now (SO_REUSEADDR, not listening, so the fake can bind it
        # too, and no ephemeral bind gets it meanwhile), serve the fake there in ``running``.
        self._port_holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._port_holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._port_holder.bind(("127.0.0.1", 0))
        self.port = self._port_holder.getsockname()[1]
        weakref.finalize(self, self._port_holder.close)  # also when a fixture gives up before ``running``

    def site(self) -> dict[str, Any]:
        # The secrets are there from the server's start, when it makes the site's adapter (restored in
        # ``running``).
        self._saved = {name: os.environ.get(name) for name in (self.KEY_ENV, self.SECRET_ENV)}
        os.environ[self.KEY_ENV] = self.fake.api_key
        os.environ[self.SECRET_ENV] = self.SECRET
        return {
            "name": "Contract",
            "allowed_origins": [HOST_ORIGIN],
            "backend": "helpcrunch",
            "helpcrunch": {
                "base_url": f"http://127.0.0.1:{self.port}/v1",
                "api_key_env": self.KEY_ENV,
                "application": DEFAULT_APPLICATION,
                "webhook_secret_env": self.SECRET_ENV,
                "timeout": 1,  # an outage (a server that does not answer) is noticed quickly
                "rate_limit_pause": 0.5,
            },
        }

    @contextlib.asynccontextmanager
    async def running(self, server: Server) -> AsyncIterator[None]:
        self.server = server
        try:
            async with serve(self.fake.app, port=self.port):
                self._port_holder.close()
                self.fake.set_webhook(f"{server.url}/hooks/helpcrunch/contract", self.SECRET)
                yield
        finally:
            self._port_holder.close()
            for name, value in self._saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _fake_chat(self, chat: str) -> Any:
        """The HelpCrunch chat of our chat: its customer's userId is our chat id."""
        found = [c for c in self.fake.chats.values() if c.customer.user_id == chat]
        return found[-1] if found else None

    async def _opened(self, chat: str) -> Any:
        """The HelpCrunch chat, which the visitor's first message created (the docs advise against empty
        chats): the contract suite's chats all open with one."""
        return await eventually(lambda: self._fake_chat(chat))

    async def agent_join(self, chat: str, name: str) -> None:
        # In HelpCrunch an agent takes a chat by assigning it to themselves and opening it.
        hc = await self._opened(chat)
        hc.assignee = self.fake.core.agent_named(name)
        self._names[hc.id] = name
        await self.fake.change_status(hc.id, "opened")

    async def agent_say(self, chat: str, text: str) -> None:
        hc = await self._opened(chat)
        await self.fake.agent_reply(hc.id, text, self._names.get(hc.id, DEFAULT_AGENT_NAME))

    async def agent_typing(self, chat: str, active: bool) -> None:
        raise AssertionError("HelpCrunch carries no typing (carries_typing = False)")

    async def agent_leave(self, chat: str) -> None:
        # HelpCrunch has no "leave": the agent closes the chat.
        hc = await self._opened(chat)
        await self.fake.close_chat(hc.id)

    async def visitor_texts(self, chat: str) -> list[str]:
        hc = self._fake_chat(chat)
        return list(hc.customer_texts) if hc is not None else []

    async def visitor_typing(self, chat: str) -> bool | None:
        # HelpCrunch has no typing endpoint: nothing of the kind may have been asked of it.
        assert not [r for r in self.fake.requests if "typing" in r.path.lower()]
        return None

    async def ended_there(self, chat: str) -> bool:
        hc = self._fake_chat(chat)
        return hc is not None and hc.status == "closed"

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        # HelpCrunch stops answering: requests time out (the site's timeout is 1 s) and have no effect.
        self.fake.delay(30)
        try:
            yield
        finally:
            self.fake.delay(0)


class OmnideskSide:
    """Omnidesk: the agent answers through the fake's ``agent_reply``, which POSTs to our hookpoint
    ``{chatServer}/messageForCustomer`` with the chatServer we sent it; visitor typing is carried by
    ``notifyUserNewChatEvent``.

    Omnidesk's agent has no documented way to join, type or close a chat at the hookpoint; our hookpoint
    takes an optional ``event`` field for them (docs/omnidesk.md), which the side sends as an extra field
    of ``agent_reply``. An Omnidesk session (and its ticket) begins with the visitor's first message, but
    Omnidesk knows our chatServer account-wide from ``requestChatConfig``: when the agent acts before
    the visitor has written, the side gives the fake's session the chatServer we sent there.

    Our ``chat_server`` setting must be known before the server starts, and its address only after: it
    points at a relay on a port held from the start (as a proxy in front of the server would be), which
    forwards to the server once it runs. The fake's port is held the same way.
    """

    name: ClassVar[str] = "omnidesk"
    can_be_down: ClassVar[bool] = True
    carries_typing: ClassVar[bool] = True

    KEY_ENV: ClassVar[str] = "CONTRACT_OMNIDESK_API_KEY"
    SECRET: ClassVar[str] = "contract-hookpoint-secret-0123456789"

    def __init__(self) -> None:
        self.fake = FakeOmnidesk()
        self.server: Server | None = None
        self._names: dict[str, str] = {}
        self._saved_key: str | None = None
        self._holders = [self._hold_port() for _ in range(2)]
        self.fake_port, self.relay_port = (h.getsockname()[1] for h in self._holders)
        self.chat_server = f"http://127.0.0.1:{self.relay_port}/hooks/omnidesk/contract/{self.SECRET}"

    def _hold_port(self) -> socket.socket:
        # Bound with SO_REUSEADDR and not listening: the server can bind it later, nobody else meanwhile.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        weakref.finalize(self, holder.close)
        return holder

    def site(self) -> dict[str, Any]:
        # The key is there from the server's start, when it checks the site's configuration (restored in
        # ``running``).
        self._saved_key = os.environ.get(self.KEY_ENV)
        os.environ[self.KEY_ENV] = self.fake.api_key
        return {
            "name": "Contract",
            "allowed_origins": [HOST_ORIGIN],
            "backend": "omnidesk",
            "omnidesk": {
                "base_url": f"http://127.0.0.1:{self.fake_port}",
                "api_key_env": self.KEY_ENV,
                "chat_account_token": self.fake.core.chat_account_token,
                "chat_server": self.chat_server,
                "timeout": 1,
            },
        }

    @contextlib.asynccontextmanager
    async def running(self, server: Server) -> AsyncIterator[None]:
        self.server = server
        try:
            async with (
                aiohttp.ClientSession() as http,
                serve(self.fake.app, port=self.fake_port),
                serve(_relay(http, server.url), port=self.relay_port),
            ):
                for holder in self._holders:
                    holder.close()
                yield
        finally:
            for holder in self._holders:
                holder.close()
            if self._saved_key is None:
                os.environ.pop(self.KEY_ENV, None)
            else:
                os.environ[self.KEY_ENV] = self._saved_key

    async def _hook(self, chat: str, text: str = "", event: str | None = None) -> None:
        if chat not in self.fake.sessions:
            sent = [
                r.form["chatServer"] for r in self.fake.requests_for("requestChatConfig") if r.status == 200
            ]
            assert sent, "the adapter never sent requestChatConfig"
            self.fake.sessions[chat] = Session(chat, chat_server=sent[-1])
        self.fake.hook_extra_fields = {"event": event} if event else {}
        try:
            call = await self.fake.agent_reply(chat, text, self._names.get(chat, "Omnidesk Agent"))
        finally:
            self.fake.hook_extra_fields = {}
        assert call.ok, call

    async def agent_join(self, chat: str, name: str) -> None:
        self._names[chat] = name
        await self._hook(chat, event="joinedchat")

    async def agent_say(self, chat: str, text: str) -> None:
        await self._hook(chat, text)

    async def agent_typing(self, chat: str, active: bool) -> None:
        await self._hook(chat, event="startedtyping" if active else "stoppedtyping")

    async def agent_leave(self, chat: str) -> None:
        await self._hook(chat, event="endedchat")

    async def visitor_texts(self, chat: str) -> list[str]:
        session = self.fake.sessions.get(chat)
        return list(session.texts) if session is not None else []

    async def visitor_typing(self, chat: str) -> bool | None:
        session = self.fake.sessions.get(chat)
        typing = [e for e in (session.events if session else []) if e in ("startedtyping", "stoppedtyping")]
        return typing[-1] == "startedtyping" if typing else None

    async def ended_there(self, chat: str) -> bool:
        session = self.fake.sessions.get(chat)
        return session is not None and session.ended

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self.fake.down()  # the API answers 503; the agent's side (the hookpoint calls) keeps working
        try:
            yield
        finally:
            self.fake.down(False)


def _relay(http: aiohttp.ClientSession, target: str) -> Starlette:
    """Forwards POSTs to ``target`` as they came: the public address Omnidesk reaches us at."""

    async def forward(request: Request) -> Response:
        headers = {"Content-Type": request.headers.get("content-type", "")}
        async with http.post(target + request.url.path, data=await request.body(), headers=headers) as answer:
            body = await answer.read()
            return Response(body, answer.status, media_type=answer.headers.get("content-type"))

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])
