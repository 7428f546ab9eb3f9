"""The bus: publish a message on a channel, and every subscriber in every process gets it.

It carries what happened (a stored event, typing, a queue change, a policy change) to the connections
that care. It is not the record: events are stored before they are published, and a receiver that sees a
gap in ``seq`` reads the missing events from the store. So a bus may lose or reorder messages across
processes without losing anything for the visitor.

What every bus promises (tests/test_bus_contract.py):

- a message published after ``subscribe`` returned reaches that subscriber, in this process or any
  other sharing the bus, unless the bus tells it otherwise with ``RESYNC``;
- messages from one publisher (one coroutine awaiting ``publish`` after ``publish``) arrive in that order;
- fan-out is at most once: a message may be lost (never duplicated by the bus itself), and whenever a bus
  may have lost messages for a subscriber, that subscriber's callback receives ``RESYNC``
  (``{"t": "resync"}``) once the bus delivers again. A receiver then re-reads from the store whatever
  it shows or acts on: a visitor's socket catches up by ``seq``, the agent console reloads, a poller
  re-checks the chat. The in-process bus never loses a message and never sends it.
- ``publish`` never raises because the transport is down and never blocks for long: it is called after
  the store has committed, on the way to a visitor's ``ack``, and the store already holds what matters.

``Bus`` is the interface; ``open_bus(url)`` picks an implementation by URL scheme with a lazy import, so
that the embedded default needs nothing else installed. Every implementation passes
tests/test_bus_contract.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

Message = dict[str, Any]
Callback = Callable[[Message], None]

#: What every subscriber of every channel receives after the bus may have lost messages (a Redis
#: reconnect). Shared: receivers must not mutate it, like every message.
RESYNC: Final[Message] = {"t": "resync"}


class BusError(Exception):
    """The bus cannot be opened (an unknown URL, a Redis that does not answer at start)."""


class Bus(Protocol):
    async def publish(self, channel: str, message: Message) -> None:
        """Deliver ``message`` (JSON-serialisable) to every current subscriber of ``channel``, in
        publication order per publisher. Receivers must not mutate the message. When the transport is
        down the message is dropped with a log line, not raised: subscribers get ``RESYNC`` later."""
        ...

    async def subscribe(self, channel: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        """Call ``callback(message)`` for every message published on ``channel`` from the moment this
        returns, until the returned function is awaited (awaiting it again does nothing). Returns once
        the transport confirmed the subscription, or at once while the transport is down, in which case
        ``RESYNC`` follows when it is back. Callbacks run on the event loop and must not block or
        raise."""
        ...

    async def problem(self) -> str | None:
        """Why the bus does not carry messages between processes now (for readiness), or None."""
        ...

    async def close(self) -> None: ...


async def open_bus(url: str) -> Bus:
    """``memory:`` for the in-process default; ``redis://`` or ``rediss://`` (TLS) for several
    processes (widget_server/bus/redis.py; the ``prefix`` query parameter namespaces the channels)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from widget_server.bus.memory import MemoryBus

        return MemoryBus()
    if scheme in ("redis", "rediss"):
        try:
            from widget_server.bus.redis import RedisBus
        except ModuleNotFoundError as error:
            raise BusError(
                f"the Redis bus needs the cluster extra: pip install 'widget_server[cluster]' ({error})"
            ) from None
        return await RedisBus.open(url)
    raise BusError(f"unknown bus URL scheme {scheme!r}: use memory:, redis:// or rediss://")
