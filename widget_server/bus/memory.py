"""The in-process bus: the default when one server process serves everything."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from widget_server.bus import Callback, Message

log = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = {}

    async def publish(self, channel: str, message: Message) -> None:
        self.deliver(channel, message)

    def deliver(self, channel: str, message: Message) -> None:
        # A copy of the list: a callback may unsubscribe (or subscribe) while we iterate.
        for callback in tuple(self._subscribers.get(channel, ())):
            try:
                callback(message)
            except Exception:  # one broken receiver must not starve the others
                log.exception("bus subscriber of %s failed", channel)

    async def subscribe(self, channel: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        self._subscribers.setdefault(channel, []).append(callback)

        async def unsubscribe() -> None:
            callbacks = self._subscribers.get(channel)
            if callbacks and callback in callbacks:
                callbacks.remove(callback)
                if not callbacks:
                    del self._subscribers[channel]

        return unsubscribe

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def close(self) -> None:
        self._subscribers.clear()
