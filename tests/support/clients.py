"""The test harness: our real server on a free port, and real clients for visitors and agents.

``running(config)`` serves ``create_app(config)`` under uvicorn with the websocket implementation
production uses. ``Visitor`` is a websockets client speaking wire protocol v1; ``Agent`` logs in through
the real login form and speaks the console protocol. Nothing of the server is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from tests.support.asgi_server import serve
from widget_server.cli import UVICORN_OPTIONS
from widget_server.config import Config, config_from_mapping
from widget_server.runtime import ADMIN_PASSWORD_FILE, Runtime
from widget_server.web.app import create_app

TIMEOUT = 5.0
HOST_ORIGIN = "http://localhost:3000"  # a host page's origin the demo site allows
UVICORN = {**UVICORN_OPTIONS, "log_level": "warning"}

Frame = dict[str, Any]


def make_config(data_dir: Path, mapping: dict[str, Any] | None = None) -> Config:
    config = config_from_mapping({"data_dir": str(data_dir), **(mapping or {})})
    return config


@dataclass
class Server:
    url: str
    app: Any

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def ws_url(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path

    def admin_password(self) -> str:
        login = self.runtime.default_login
        assert login is not None
        if login.password is not None:
            return login.password
        # A later start on the same data dir names the file rather than print the password again.
        return (self.runtime.config.data_dir / ADMIN_PASSWORD_FILE).read_text(encoding="utf-8").strip()


@contextlib.asynccontextmanager
async def running(config: Config, *, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[Server]:
    app = create_app(config)
    async with serve(app, host=host, port=port, **UVICORN) as url:
        yield Server(url, app)


class Visitor:
    """One browser tab's websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: Frame = {}
        self.chat: str | None = None
        self.token: str | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connected(
        cls, server: Server, site: str = "demo", origin: str = HOST_ORIGIN, **options: Any
    ) -> AsyncIterator[Visitor]:
        options = {"open_timeout": TIMEOUT, "max_queue": None, **options}
        async with connect(server.ws_url(f"/ws/{site}"), origin=origin, **options) as ws:  # type: ignore[arg-type]
            visitor = cls(ws)
            visitor.hello = await visitor.recv()
            assert visitor.hello["type"] == "hello", visitor.hello
            yield visitor

    async def send(self, frame: Frame | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return frame

    async def expect(self, type_: str, timeout: float = TIMEOUT, **fields: Any) -> Frame:
        """The next frame of this type whose fields match, skipping (and remembering) others."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == type_ and all(frame.get(k) == v for k, v in fields.items()):
                    return frame

    async def no_frame(self, within: float = 0.3) -> None:
        with contextlib.suppress(TimeoutError):
            frame = await self.recv(within)
            raise AssertionError(f"unexpected frame {frame}")

    async def start(self, nickname: str = "Chris", **fields: Any) -> Frame:
        await self.send({"type": "start", "nickname": nickname, **fields})
        welcome = await self.expect("welcome")
        self.chat, self.token = welcome["chat"], welcome["token"]
        return welcome

    async def say(self, text: str, id: str) -> Frame:
        await self.send({"type": "say", "id": id, "text": text})
        return await self.expect("ack", id=id)

    async def events_until(self, predicate: Callable[[Frame], bool], timeout: float = TIMEOUT) -> list[Frame]:
        """Collect `event` frames until one satisfies the predicate (inclusive)."""
        events: list[Frame] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == "event":
                    events.append(frame)
                    if predicate(frame):
                        return events


@dataclass
class Agent:
    """A logged-in agent with the console's websocket open."""

    ws: ClientConnection
    hello: Frame
    http: aiohttp.ClientSession
    cookie: str
    frames: list[Frame] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def connected(
        cls, server: Server, name: str = "admin", password: str | None = None
    ) -> AsyncIterator[Agent]:
        password = password if password is not None else server.admin_password()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            cookie = await log_in(http, server.url, name, password)
            async with connect(
                server.ws_url("/agent/ws"),
                origin=server.url,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"widget_session={cookie}"},
                open_timeout=TIMEOUT,
                # Unbounded: a bounded queue stops reading when tests leave frames unread, and then
                # closing waits for a close frame that is never read.
                max_queue=None,
            ) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                assert hello["type"] == "hello", hello
                yield cls(ws, hello, http, cookie)

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = TIMEOUT, **fields: Any) -> Frame:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == type_ and all(frame.get(k) == v for k, v in fields.items()):
                    return frame

    async def accept(self, chat: str) -> None:
        await self.send({"type": "accept", "chat": chat})
        await self.expect("chat", timeout=TIMEOUT)

    async def say(self, chat: str, text: str, id: str) -> Frame:
        await self.send({"type": "say", "chat": chat, "id": id, "text": text})
        return await self.expect("ack", id=id)


async def log_in(http: aiohttp.ClientSession, base: str, name: str, password: str) -> str:
    """Log in through the real form (with its CSRF token); return the session cookie."""
    page = await (await http.get(f"{base}/agent/login")).text()
    csrf = csrf_of(page)
    response = await http.post(
        f"{base}/agent/login", data={"name": name, "password": password, "csrf": csrf}, allow_redirects=False
    )
    assert response.status == 303, (response.status, await response.text())
    return response.cookies["widget_session"].value


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)
