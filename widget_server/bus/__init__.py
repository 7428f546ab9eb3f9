"""The bus: publish a message on a channel, and every subscriber in every process gets it.

It carries what happened (a stored event, typing, a queue change, a policy change) to the connections
that care. It is not the record: events are stored before they are published, and a receiver that sees a
gap in ``seq`` reads the missing events from the store. So a bus may lose or reorder messages across
processes without losing anything for the visitor.

``Bus`` is the interface; ``open_bus(url)`` picks an implementation by URL scheme with a lazy import.
Every implementation passes tests/test_bus_contract.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
Callback = Callable[[Message], None]


class Bus(Protocol):
    async def publish(self, channel: str, message: Message) -> None:
        """Deliver ``message`` to every current subscriber of ``channel``, in publication order for
        subscribers in this process. Receivers must not mutate the message."""
        ...

    async def subscribe(self, channel: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        """Call ``callback(message)`` for every message published on ``channel`` from the moment this
        returns, until the returned function is awaited. Callbacks run on the event loop and must not
        block or raise."""
        ...

    async def close(self) -> None: ...


async def open_bus(url: str) -> Bus:
    """``memory:`` for the in-process default."""
    scheme = url.partition(":")[0]
    if scheme == "memory":
        from widget_server.bus.memory import MemoryBus

        return MemoryBus()
    raise ValueError(f"unknown bus URL scheme {scheme!r}: use memory:")
