"""Clients that stop reading: the server bounds what it holds for them and closes them, and nobody else
waits (issue: a visitor socket that stopped reading was kept forever, buffering without limit)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from tests.support.clients import Server, Visitor
from tests.support.contact_centers import eventually
from widget_server import model
from widget_server.web.ws_protocol import OUTBOX_BYTES, SEND_DEADLINE

TEXT = "x" * 3000  # a long agent message: ~3 KB a frame
FLOOD = 4000  # 12 MB: more than the kernel's buffers (a few MB on loopback) and the outbox bound (1 MiB)


def small_window_socket(server: Server) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer: once its client stops reading, the server's
    writes back up at once."""
    url = urlsplit(server.url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    sock.setblocking(False)
    return sock


async def test_a_visitor_who_stops_reading_is_closed_and_nobody_waits(server: Server) -> None:
    live = server.runtime.live
    # max_queue=1: the client library stops reading the socket as soon as a frame waits unread.
    async with Visitor.connected(server, sock=small_window_socket(server), max_queue=1) as stuck:
        await stuck.start()
        assert stuck.chat is not None and stuck.token is not None
        async with Visitor.connected(server) as other:
            await other.start()
            assert await live.count_site("demo") == 2
            (connection,) = [c for c in live.sockets("demo") if getattr(c, "chat_id", None) == stuck.chat]
            most = 0
            for n in range(0, FLOOD, 20):
                await server.runtime.service.append(
                    stuck.chat, [model.message("agent", "Kim", TEXT) for _ in range(20)]
                )
                # What the server queues for it stays bounded (it held everything before).
                most = max(most, len(connection._outbox))  # type: ignore[attr-defined]
                if n % 1000 == 0:  # meanwhile another visitor is answered at once
                    t0 = time.monotonic()
                    await other.say(f"still here {n}", id=f"o{n}")
                    assert time.monotonic() - t0 < 2.0

            assert 0 < most <= OUTBOX_BYTES // len(TEXT) + 20

            # Closed (1013) for not reading; a close it cannot read is dropped after the send deadline.
            async def only_the_other_left() -> bool:
                return await live.count_site("demo") == 1

            await eventually(only_the_other_left, timeout=SEND_DEADLINE + 10)
            assert connection._outbox == []  # type: ignore[attr-defined]  # its memory is released
        # Nothing was lost: a reconnecting widget resumes and gets every event once, in order.
        async with Visitor.connected(server) as back:
            await back.send({"type": "resume", "token": stuck.token, "after": 0})
            await back.expect("welcome")
            seqs = []
            while len(seqs) < FLOOD:
                frame = await back.expect("event", kind="message")
                if frame["from"] == "agent":
                    seqs.append(frame["seq"])
            assert seqs == sorted(set(seqs))
