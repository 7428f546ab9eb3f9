"""The agent's side of each backend, for the adapter contract suite.

Each class runs the contact center a site is configured with (the built-in one through the real agent
console; the others as their fake servers) and acts as its agent. The contract suite talks only to this
interface, so a new backend is one class here and one fixture parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Protocol

from tests.fakes.gws import FakeGWS
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
