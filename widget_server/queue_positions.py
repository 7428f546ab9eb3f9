"""Places in the built-in contact center's queue: which one a waiting chat has, and telling every waiting
visitor theirs when the queue moves.

Places are told, not stored: they change for everyone whenever anyone leaves the queue, and storing each
change would put a queue's length of events into every waiting chat's log.

Nor are they recounted for everyone at every move: with thousands waiting, listing the queue and
publishing each chat its place on every accept was most of the server's work (the soak in
docs/performance.md). A waiting visitor's connection counts its place once, when it attaches (a count in
the database's index), and keeps it from then on: whoever takes chats out of a site's queue publishes
their keys (``created_at``, id: the queue's order) on the site's queue channel, one message per burst, and
every connection moves up by the number of those ahead of it. A connection that may have missed a
message (the bus says ``resync``, or the queue moved while it counted) counts again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from widget_server.bus import Bus, Message
from widget_server.model import QUEUED, Chat
from widget_server.store import Store

log = logging.getLogger(__name__)

COALESCE = 0.2  # seconds: a burst of accepts is one message, and moves each visitor once
RECOUNTS = 3  # a queue that keeps moving while a place is counted: take the last count after this many

Key = tuple[int, str]  # (created_at, id): a chat's place in the queue's order, as count_chats counts


def queue_channel(site_id: str) -> str:
    return f"queue:{site_id}"


def _key(chat: Chat) -> Key:
    return (chat.created_at, chat.id)


class QueuePlaces:
    def __init__(self, store: Store, bus: Bus, spawn: Callable[[Awaitable[None]], Any]) -> None:
        self.store = store
        self.bus = bus
        self.spawn = spawn
        self._left: dict[str, list[Key]] = {}  # site -> keys that left and are not published yet
        self._telling: set[asyncio.Task[None]] = set()

    async def watch(self, chat: Chat, tell: Callable[[int], None]) -> Watch | None:
        """Tell the chat's visitor its place (1 is next) now and whenever it changes, until the chat leaves
        the queue or ``Watch.stop``. None when the chat is not waiting or its contact center gives no
        place (a polling contact center's places come with its poller, on the chat's channel)."""
        if chat.state != QUEUED:
            return None
        if chat.backend != "local":  # the last place its contact center gave, if it gives places
            position = chat.backend_state.get("queue_position")
            if isinstance(position, int):
                tell(position)
            return None
        watch = Watch(self, chat, tell)
        await watch.start()
        return watch

    def left(self, chat: Chat) -> None:
        """The chat has left its site's queue (accepted, ended, abandoned): the others move up, soon."""
        keys = self._left.get(chat.site)
        if keys is None:
            self._left[chat.site] = [_key(chat)]
            task = asyncio.ensure_future(self._publish(chat.site))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)
        else:
            keys.append(_key(chat))

    async def _publish(self, site_id: str, *, wait: float = COALESCE) -> None:
        try:
            await asyncio.sleep(wait)
        finally:  # on shutdown too: the leavers are told before the process goes
            keys = self._left.pop(site_id, [])
            if keys:
                await self.bus.publish(queue_channel(site_id), {"t": "left", "keys": keys})

    async def close(self) -> None:
        """Publish what has left and is not told yet (a graceful shutdown)."""
        for task in list(self._telling):
            task.cancel()
        await asyncio.gather(*self._telling, return_exceptions=True)

    async def count(self, chat: Chat) -> int:
        return await self.store.count_chats(sites=[chat.site], states=[QUEUED], up_to=chat)


class Watch:
    """One waiting visitor connection's place, kept up to date from the site's queue channel."""

    def __init__(self, places: QueuePlaces, chat: Chat, tell: Callable[[int], None]) -> None:
        self._places = places
        self._chat = chat
        self._key = _key(chat)
        self._tell = tell
        self.place: int | None = None  # None while counting
        self._moved = False  # the queue moved while counting
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._recount: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._unsubscribe = await self._places.bus.subscribe(queue_channel(self._chat.site), self._on_bus)
        await self._count()

    async def stop(self) -> None:
        if self._recount is not None:
            self._recount.cancel()
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            await unsubscribe()

    async def _count(self) -> None:
        """Count the place; again if the queue moved meanwhile (a leaver this count may or may not have
        seen would otherwise be counted twice)."""
        for _ in range(RECOUNTS):
            self.place, self._moved = None, False
            place = await self._places.count(self._chat)
            if not self._moved:
                break
        if self._unsubscribe is not None:  # not stopped meanwhile
            self.place = place
            self._tell(place)

    def _on_bus(self, message: Message) -> None:
        if self._unsubscribe is None:
            return
        if message["t"] == "resync":  # messages may have been lost: count again
            self._count_later()
        elif message["t"] == "left":
            keys = [(k[0], k[1]) for k in message["keys"]]
            if self._key in keys:  # this chat left the queue: no more places
                self._unsubscribe_later()
            elif self.place is None:
                self._moved = True
            else:
                ahead = sum(1 for key in keys if key < self._key)
                if ahead:
                    self.place = max(1, self.place - ahead)
                    self._tell(self.place)

    def _count_later(self) -> None:
        if self._recount is None or self._recount.done():
            self._recount = asyncio.ensure_future(self._count_or_log())

    async def _count_or_log(self) -> None:
        try:
            await self._count()
        except Exception as error:  # the store is down: the place stays as it was, told again later
            log.warning("chat %s: cannot count its place in the queue: %s", self._chat.id, error)

    def _unsubscribe_later(self) -> None:
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            self._places.spawn(unsubscribe())
