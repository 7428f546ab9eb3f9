"""The in-process bus: the default when one server process serves everything.

Delivery is synchronous, inside ``publish``, and nothing is ever lost, so it never sends ``RESYNC``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from widget_server import metrics
from widget_server.bus import Callback, Message
from widget_server.bus.fanout import Fanout


class MemoryBus:
    def __init__(self) -> None:
        self._fanout = Fanout()

    async def publish(self, channel: str, message: Message) -> None:
        metrics.BUS_PUBLISHED.inc()
        self._fanout.deliver(channel, message)

    async def problem(self) -> str | None:
        return None  # in the process: up while the process is

    async def subscribe(self, channel: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        self._fanout.add(channel, callback)

        async def unsubscribe() -> None:
            self._fanout.remove(channel, callback)

        return unsubscribe

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.count(channel)

    async def close(self) -> None:
        self._fanout.clear()
