"""uvicorn's h11 protocol with deadlines for slow requests and a cap on connections per address.

uvicorn starts no timer on a new connection until it has answered a request, so a client that sends
half its headers (or half an upgrade request, or a body one byte a minute) holds a connection and its
memory forever; three hundred of them from one address hold three hundred. Here:

- the request line and headers must arrive within ``HEADER_TIMEOUT`` of the connection (or of the first
  byte of the next request on a kept-alive connection);
- a body may pause at most ``BODY_IDLE_TIMEOUT`` between two reads (nginx's ``client_body_timeout``:
  a large upload on a slow line goes on as long as it moves);
- one address holds at most ``ConnectionPolicy.per_address`` HTTP connections at once in this process,
  trusted proxies excepted (every visitor comes through them); past it the connection is answered 503
  and closed. A connection upgraded to a websocket leaves this count: the visitor gate counts sockets
  per address itself (``sockets_per_ip``);
- a connection closed while its client is still sending a body (a 413 answered before the body was
  read) lingers: it stops writing, reads and drops what still comes for up to ``LINGER_SECONDS`` and
  ``LINGER_BYTES``, then closes. Closed at once, the unread bytes make the kernel reset the
  connection, and the answer is lost with it: a reverse proxy turns it into a 502 (nginx's
  ``lingering_close`` and Go's server do the same for the same reason).

The app hands its policy to this protocol through the lifespan state (``http_policy``), the one channel
uvicorn offers from the app to its protocols; without one (another app) nothing is capped. Written here
because uvicorn has neither; like widget_server/web/ws_protocol.py it leans on uvicorn's internals, and
every server the test suite starts runs on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from widget_server.access.networks import NetworkSet

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 30.0
LINGER_SECONDS = 5.0
LINGER_BYTES = 64 * 1024 * 1024
POLICY_KEY = "http_policy"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 5\r\nconnection: close\r\ncontent-length: 44\r\n\r\n"
    b"Too many connections from your address now.\n"
)


@dataclass
class ConnectionPolicy:
    """What this process allows one address: ``per_address`` connections at once, except the trusted
    proxies'. Holds the live count."""

    trusted_proxies: NetworkSet
    per_address: int
    open: Counter[str] = field(default_factory=Counter)


class _LingeringTransport:
    """The transport as uvicorn's h11 code holds it, whose ``close`` lingers while the client is still
    sending a body (see the module's docstring); everything else is the transport's own."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: HTTPProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._protocol.conn.their_state is h11.SEND_BODY and not self._transport.is_closing():
            self._protocol.linger()
        else:
            self._transport.close()


class HTTPProtocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counted: str | None = None  # the address this connection counts against
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_body = False
        self._upgraded = False  # handed to the websocket protocol
        self._raw: asyncio.Transport | None = None
        self._lingering = -1  # bytes dropped while lingering; -1 while not

    # --- the cap per address ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        self.transport = _LingeringTransport(transport, self)  # type: ignore[assignment]
        policy: ConnectionPolicy | None = self.app_state.get(POLICY_KEY)
        address = self.client[0] if self.client else None
        if policy is not None and address is not None and not policy.trusted_proxies.contains(address):
            if policy.open[address] >= policy.per_address:
                log.warning("refused a connection from %s: it holds %d already", address, policy.per_address)
                transport.write(_BUSY)
                transport.close()
                return
            policy.open[address] += 1
            self._counted = address
        self._arm(HEADER_TIMEOUT)

    def _uncount(self) -> None:
        if self._counted is not None:
            policy: ConnectionPolicy = self.app_state[POLICY_KEY]
            policy.open[self._counted] -= 1
            if policy.open[self._counted] <= 0:
                del policy.open[self._counted]
            self._counted = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._uncount()
        self._disarm()
        assert self._raw is not None
        self.transport = self._raw  # the websocket protocol gets the transport itself
        super().handle_websocket_upgrade(event)

    # --- lingering --------------------------------------------------------------------------------------

    def linger(self) -> None:
        if self._lingering >= 0 or self._raw is None:
            return
        self._lingering = 0
        self._disarm()
        if self._raw.can_write_eof():
            self._raw.write_eof()  # the answer goes out, then a FIN: the client knows we are done
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self._raw.close)

    # --- the deadlines ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering >= 0:  # dropped: the answer was given
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES and self._raw is not None:
                self._raw.close()
            return
        super().data_received(data)
        if self._upgraded or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._reading_body = True
            self._arm(BODY_IDLE_TIMEOUT)  # it moved: it may pause this long again
        elif state is h11.IDLE:
            if self._deadline is None:
                self._arm(HEADER_TIMEOUT)  # the first bytes of the next request on a kept-alive connection
        else:
            self._disarm()  # the request is in; answering it is the app's part
            self._reading_body = False

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._lingering < 0:
            self._disarm()  # uvicorn's keep-alive timer takes over until the next request begins

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading_body and self.flow.read_paused:
            self._arm(BODY_IDLE_TIMEOUT)  # the app has not read what came: not the client's pause
            return
        what = "its body" if self._reading_body else "its request"
        log.info(
            "closed a connection from %s: %s did not arrive in time", self.client and self.client[0], what
        )
        self.transport.abort()
