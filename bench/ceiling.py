"""The ceiling: a bare ``websockets`` server that answers the visitor protocol without our stack.

    python -m bench.ceiling --port P

No store, no policy, no chat log, no Starlette, no uvicorn: one asyncio ``websockets`` server that speaks
the frames of docs/protocol.md the way widget_server does, so that the benchmark can divide our figures by
what the protocol costs on the same machine in the same run.

- ``/ws/{site}``: ``hello`` on connect; ``start`` -> ``welcome`` + the ``state`` event (seq 1) + ``queue``;
  ``say`` -> the message ``event`` + ``ack`` to the visitor, and the same event to every agent connection
  (as ours forwards it to the consoles); ``ping`` -> ``pong``. Events carry a per-chat ``seq`` and an ISO
  ``at``, counted in memory.
- ``/agent/ws``: receives every event of every chat, and may ``say {chat, id, text}``: the message goes to
  the chat's visitor as an ``event`` and back as ``ack``.

The websockets options match what uvicorn is given in widget_server/cli.py (no compression, 256 KiB
frames, keepalive pings every 20 s as uvicorn's default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import secrets
import signal
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Chat:
    __slots__ = ("id", "nickname", "seq", "visitor")

    def __init__(self, nickname: str, visitor: ServerConnection) -> None:
        self.id = str(uuid.uuid4())
        self.nickname = nickname
        self.seq = 0
        self.visitor: ServerConnection | None = visitor

    def event(self, **data: Any) -> dict[str, Any]:
        self.seq += 1
        return {"type": "event", "seq": self.seq, "at": _iso_now(), **data}


class Outbox:
    """Frames for one agent connection, sent in order by a task that exists while there is something to
    send (as widget_server's console connection does), so a visitor never waits on the agent's socket."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.frames: deque[str] = deque()
        self.drainer: asyncio.Task[None] | None = None

    def push(self, text: str) -> None:
        self.frames.append(text)
        if self.drainer is None:
            self.drainer = asyncio.ensure_future(self.drain())

    async def drain(self) -> None:
        try:
            while self.frames:
                await self.ws.send(self.frames.popleft())
        except Exception:  # the agent is gone; its handler sees that
            self.frames.clear()
        finally:
            self.drainer = None


class Ceiling:
    def __init__(self) -> None:
        self.chats: dict[str, Chat] = {}
        self.agents: dict[ServerConnection, Outbox] = {}

    def to_agents(self, frame: dict[str, Any]) -> None:
        if self.agents:
            text = _dumps(frame)
            for outbox in self.agents.values():
                outbox.push(text)

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path.startswith("/ws/"):
            await self.visitor(ws)
        elif path == "/agent/ws":
            await self.agent(ws)

    async def visitor(self, ws: ServerConnection) -> None:
        chat: Chat | None = None
        await ws.send(_dumps({"type": "hello", "available": True, "capabilities": [], "name": "Bench"}))
        try:
            async for text in ws:
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind == "say" and chat is not None:
                    event = chat.event(
                        kind="message",
                        **{"from": "visitor"},
                        name=chat.nickname,
                        text=frame["text"],
                        id=frame["id"],
                    )
                    await ws.send(_dumps(event))
                    await ws.send(_dumps({"type": "ack", "id": frame["id"], "seq": event["seq"]}))
                    self.to_agents({**event, "chat": chat.id})
                elif kind == "start":
                    chat = Chat(frame.get("nickname", ""), ws)
                    self.chats[chat.id] = chat
                    token = secrets.token_urlsafe(72)  # the length of ours, unsigned
                    await ws.send(_dumps({"type": "welcome", "chat": chat.id, "token": token}))
                    event = chat.event(kind="state", state="queued", position=len(self.chats))
                    await ws.send(_dumps(event))
                    await ws.send(_dumps({"type": "queue", "position": len(self.chats)}))
                    self.to_agents({**event, "chat": chat.id})
                    self.to_agents({"type": "chat", "chat": {"id": chat.id, "state": "queued"}})
                else:
                    await ws.send(_dumps({"type": "error", "code": "unknown_type", "message": "?"}))
        finally:
            if chat is not None:
                chat.visitor = None

    async def agent(self, ws: ServerConnection) -> None:
        self.agents[ws] = Outbox(ws)
        try:
            await ws.send(_dumps({"type": "hello", "me": {"name": "bench"}, "sites": {}, "chats": []}))
            async for text in ws:
                frame = json.loads(text)
                kind = frame.get("type")
                chat = self.chats.get(frame.get("chat", ""))
                if kind == "say" and chat is not None:
                    event = chat.event(kind="message", **{"from": "agent"}, name="Bench", text=frame["text"])
                    if chat.visitor is not None:
                        await _send_quietly(chat.visitor, _dumps(event))
                    await ws.send(
                        _dumps({"type": "ack", "id": frame["id"], "chat": chat.id, "seq": event["seq"]})
                    )
                    self.to_agents({**event, "chat": chat.id})
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
        finally:
            self.agents.pop(ws, None)


async def _send_quietly(ws: ServerConnection, text: str) -> None:
    with contextlib.suppress(Exception):  # the peer is gone; its own handler sees that
        await ws.send(text)


async def run(host: str, port: int) -> None:
    ceiling = Ceiling()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    async with serve(
        ceiling.handler,
        host,
        port,
        compression=None,
        max_size=256 * 1024,
        ping_interval=20,
        ping_timeout=20,
        backlog=2048,
    ):
        print(f"ceiling listening on {host}:{port}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
