"""uvicorn's sans-I/O websocket protocol (``websockets-sansio``), lighter by what an idle socket keeps.

Thousands of visitor sockets wait idle most of their lives, so what each one holds is the server's size.
uvicorn keeps the handshake's parsed request and its response for the life of the connection, though it
reads neither after the handshake, and gives every socket an ``asyncio.Queue`` (three deques and an
Event, about 3 KiB before anything is queued) for the frames not yet read by the app. This subclass drops
the first two after the handshake and replaces the queue with a list and a future, which is all uvicorn
asks of it (``put_nowait``, ``get``, ``empty``; and its length, for the flow control below).

uvicorn also stops reading the socket after every frame until the app has read it (two ``epoll_ctl``
system calls per frame: a tenth of the server's CPU in a burst of chat). Here reading stops when frames
pile up, at the high-water mark of a ``websockets`` server (16 frames), and goes on below 4.
docs/performance.md has what each of these saves.

A client that stops reading must not hold the server's memory or a socket forever. uvicorn waits for the
transport to drain before each send with no deadline, and closes (after a close frame or a keepalive
timeout) with ``transport.close()``, which waits until its buffer is sent: to a client that does not read,
never. Here a send that waits ``SEND_DEADLINE`` for the client drops the connection (``transport.abort``),
and so does every close that the client has not let through within ``SEND_DEADLINE``. The connections
bound what they queue for the socket (``OUTBOX_FRAMES``, ``OUTBOX_BYTES``) and close with
``TOO_SLOW`` beyond it (widget_server/web/visitor.py and agent.py).

Written here because no library offers it. It leans on uvicorn's internals: every server the test suite
starts runs on it, so a uvicorn release that changes them fails the tests, not a deployment.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

HIGH_WATER = 16  # frames waiting for the app: stop reading the socket
LOW_WATER = 4  # and read again below this

# A send may wait this long for the client to read (the transport's buffer above its high-water mark),
# and a close this long for its frame to get through; then the connection is dropped.
SEND_DEADLINE = 10.0
# What a connection may queue for its socket beyond what the transport holds; past either, it closes
# with TOO_SLOW (1013, "try again later"): the widget and the console reconnect and catch up from the store.
OUTBOX_FRAMES = 1000
OUTBOX_BYTES = 1024 * 1024
# An agent's console receives every event of every chat of the built-in contact center: thousands of
# frames a second on a busy site, which a console that reads may fall behind by for a moment. Consoles are
# few and logged in, so theirs is a larger bound.
CONSOLE_OUTBOX_FRAMES = 50_000
CONSOLE_OUTBOX_BYTES = 8 * 1024 * 1024
TOO_SLOW = 1013
# On a restart (SIGTERM) every socket is closed with 1012 (Service Restart), as uvicorn does, and a reason
# that tells the widget and the console when to come back: at a random moment of this window (ms), so
# that the visitors of a restarted process do not all reconnect to the others at once.
RESTART = 1012
RESTART_REASON = json.dumps({"retry": [1000, 5000]}, separators=(",", ":"))


class _Inbox:
    """The frames received and not yet read by the app: ``asyncio.Queue``'s three methods that uvicorn
    uses, for one reader."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        # Reading stops at HIGH_WATER frames, so this list stays short and pop(0) cheap.
        return self._items.pop(0)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        # uvicorn's, with the flow control above, and a text frame that is not UTF-8 closed with 1007
        # and one line in the log (uvicorn logs a traceback for it).
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past `websocket.close`: uvicorn discards, and reads on until the peer's close
        message: dict[str, Any]
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                log.info("closing a websocket with 1007: a text frame that is not UTF-8")
                self.conn.send_close(1007, "text frames must be UTF-8")
                self.handle_parser_exception()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(message)  # type: ignore[arg-type]
        if not self.read_paused and len(self.queue) >= HIGH_WATER:  # type: ignore[arg-type]
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> Any:
        message = await self.queue.get()
        if self.read_paused and len(self.queue) <= LOW_WATER:  # type: ignore[arg-type]
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: Any) -> None:
        if not self.writable.is_set():
            try:
                async with asyncio.timeout(SEND_DEADLINE):
                    await self.writable.wait()
            except TimeoutError:
                self._drop("a send waited %.0f s for the client to read")
        await super().send(message)
        if message["type"] == "websocket.close":
            self._drop_later()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._drop_later()

    def shutdown(self) -> None:
        # uvicorn's, with the retry window as the close's reason (it sends 1012 without one).
        if self.close_sent or not self.handshake_complete or self.initial_response is not None:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": RESTART})
        self.conn.send_close(RESTART, RESTART_REASON)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _drop_later(self) -> None:
        self.loop.call_later(SEND_DEADLINE, self._drop_if_open)

    def _drop_if_open(self) -> None:
        if not self.disconnected:
            self._drop("its close did not get through in %.0f s")

    def _drop(self, why: str) -> None:
        log.info("dropped the websocket of %s: " + why, self.client and self.client[0], SEND_DEADLINE)
        self.transport.abort()
        # connection_lost comes on the next turn of the loop; until then, sends must not wait.
        self.disconnected = True
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        del self.request  # never read again; its headers are in the ASGI scope

    def start_keepalive(self) -> None:
        # Called once, right after the handshake's response is sent: the last time it is read. (A hook
        # here rather than around ``send``, which would cost every frame a coroutine.)
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()
