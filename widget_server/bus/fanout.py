"""The subscribers of one process, by channel: the fan-out that every bus shares.

A bus implementation only moves messages between processes; handing a message to this process's
callbacks, isolating a broken one, and knowing when a channel gains its first or loses its last
subscriber (when a bus must subscribe or unsubscribe upstream) live here, once.
"""

from __future__ import annotations

import logging

from widget_server import metrics
from widget_server.bus import RESYNC, Callback, Message

log = logging.getLogger(__name__)


class Fanout:
    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}

    def add(self, channel: str, callback: Callback) -> bool:
        """Register ``callback``; True when it is the channel's first subscriber in this process."""
        callbacks = self._callbacks.setdefault(channel, [])
        callbacks.append(callback)
        return len(callbacks) == 1

    def remove(self, channel: str, callback: Callback) -> bool:
        """Unregister ``callback``; True when that left the channel without subscribers in this process.
        Removing one that is not there does nothing (False), so an unsubscribe may be repeated."""
        callbacks = self._callbacks.get(channel)
        if not callbacks or callback not in callbacks:
            return False
        callbacks.remove(callback)
        if callbacks:
            return False
        del self._callbacks[channel]
        return True

    def channels(self) -> list[str]:
        return list(self._callbacks)

    def count(self, channel: str) -> int:
        return len(self._callbacks.get(channel, ()))

    def deliver(self, channel: str, message: Message) -> None:
        metrics.BUS_RECEIVED.inc()
        # A copy of the list: a callback may unsubscribe (or subscribe) while we iterate.
        for callback in tuple(self._callbacks.get(channel, ())):
            try:
                callback(message)
            except Exception:  # one broken receiver must not starve the others
                log.exception("bus subscriber of %s failed", channel)

    def resync(self) -> None:
        """Tell every subscriber that messages may have been lost (see ``RESYNC``)."""
        for channel in self.channels():
            self.deliver(channel, RESYNC)

    def clear(self) -> None:
        self._callbacks.clear()
