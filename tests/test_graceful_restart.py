"""A restart under load (SIGTERM, then the same server again, as a deploy does): every socket is told
to come back (close 1012 with the retry window), the process exits within its shutdown_timeout, and
every visitor resumes where it was: every acked message is stored once, the log has no gap.

The visitors here behave as the widget does: they keep the last seq they have, resume with it, and
send again, with the same id, every message whose ack they did not get."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.support.clients import HOST_ORIGIN, Visitor
from tests.support.cluster import Node, running_cluster

VISITORS = 8
SHUTDOWN_TIMEOUT = 5
LIMITS = {"messages_per_minute": 100_000, "frames_per_second": 1000, "frame_burst": 1000}
SITE = {"name": "Load", "allowed_origins": [HOST_ORIGIN], "backend": "local", "limits": LIMITS}


@dataclass
class Chatter:
    """One widget: chats until told to stop, and comes back after every close."""

    name: str
    chat: str = ""
    token: str = ""
    last_seq: int = 0
    sent: int = 0
    acked: set[str] = field(default_factory=set)
    closes: list[tuple[int, str]] = field(default_factory=list)
    resumed: int = 0

    async def run(self, node: Node, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with Visitor.connected(node, site="load") as visitor:  # type: ignore[arg-type]
                    await self._attach(visitor)
                    while not stop.is_set():
                        await self._say(visitor)
                        await asyncio.sleep(0.02)
            except ConnectionClosed as closed:
                if closed.rcvd is not None:
                    self.closes.append((closed.rcvd.code, closed.rcvd.reason))
                await asyncio.sleep(0.2)  # the widget waits 1 to 5 s (the reason's window): kept short here
            except OSError:
                await asyncio.sleep(0.2)  # the server is down between its stop and its start

    async def _attach(self, visitor: Visitor) -> None:
        if not self.chat:
            welcome = await visitor.start(nickname=self.name)
            self.chat, self.token = welcome["chat"], welcome["token"]
            return
        await visitor.send({"type": "resume", "token": self.token, "after": self.last_seq})
        welcome = await visitor.expect("welcome")
        self.token = welcome["token"]
        self.resumed += 1
        # What we sent and saw no ack for goes again, with its id: stored once either way.
        self.sent = len(self.acked)

    async def _say(self, visitor: Visitor) -> None:
        message_id = f"{self.name}-{self.sent}"
        await visitor.send({"type": "say", "id": message_id, "text": f"message {self.sent}"})
        while True:
            frame = await visitor.recv()
            if frame["type"] == "event":
                self.last_seq = max(self.last_seq, frame["seq"])
            elif frame["type"] == "ack" and frame["id"] == message_id:
                self.acked.add(message_id)
                self.sent += 1
                return


async def test_a_restart_under_load_loses_nothing_and_every_widget_resumes(tmp_path: Path) -> None:
    config = {"shutdown_timeout": SHUTDOWN_TIMEOUT, "sites": {"load": SITE}}
    async with running_cluster(tmp_path, size=1, store="sqlite:", bus="memory:", config=config) as one:
        node = one[0]
        chatters = [Chatter(f"v{n}") for n in range(VISITORS)]
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(c.run(node, stop)) for c in chatters]
        try:
            await asyncio.sleep(2)  # chatting
            assert all(c.acked for c in chatters)
            started = time.monotonic()
            await asyncio.to_thread(node.kill, signal.SIGTERM)  # waits for the exit
            took = time.monotonic() - started
            assert node.process is not None
            status = node.process.returncode
            node.start()
            await node.ready()
            await asyncio.sleep(2)  # chatting again
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        # uvicorn exits by the signal it was stopped with, once its shutdown is done.
        assert status == -signal.SIGTERM and took < SHUTDOWN_TIMEOUT + 2, (status, took)
        assert "Application shutdown complete." in node.log()
        for chatter in chatters:
            assert (1012, json.dumps({"retry": [1000, 5000]}, separators=(",", ":"))) in chatter.closes
            assert chatter.resumed >= 1
        # The store, read directly: each acked message once, and each log without a gap.
        with contextlib.closing(sqlite3.connect(node.data_dir / "widget.db")) as db:
            for chatter in chatters:
                rows = db.execute(
                    "SELECT seq, data FROM events WHERE chat_id = ? ORDER BY seq", (chatter.chat,)
                )
                seqs, ids = [], []
                for seq, data in rows:
                    seqs.append(seq)
                    client_id = json.loads(data).get("id")
                    if client_id is not None:
                        ids.append(client_id)
                assert seqs == list(range(1, len(seqs) + 1))
                assert len(ids) == len(set(ids)) and chatter.acked <= set(ids)
