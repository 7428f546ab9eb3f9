"""Places in the built-in contact center's queue: which one a waiting chat has, and telling every waiting
visitor theirs when the queue moves.

Places are told, not stored: they change for everyone whenever anyone leaves the queue, and storing each
change would put a queue's length of events into every waiting chat's log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from widget_server.bus import Bus
from widget_server.model import QUEUED, Chat
from widget_server.store import Store

COALESCE = 0.2  # seconds: a burst of accepts moves the queue once


class QueuePlaces:
    def __init__(
        self, store: Store, bus: Bus, channel: Callable[[str], str], spawn: Callable[[Awaitable[None]], Any]
    ) -> None:
        self.store = store
        self.bus = bus
        self._channel = channel
        self._spawn = spawn
        self._pending: set[str] = set()

    async def place(self, chat: Chat) -> int | None:
        """The chat's place (1 is next), if it is waiting and its contact center says."""
        if chat.state != QUEUED:
            return None
        if chat.backend != "local":  # the last place its contact center gave, if it gives places
            position = chat.backend_state.get("queue_position")
            return position if isinstance(position, int) else None
        # A count in the database's index, not a listing: every start asks, and the queue can be long.
        return await self.store.count_chats(sites=[chat.site], states=[QUEUED], up_to=chat)

    def moved(self, site_id: str) -> None:
        """Someone left the site's queue: every waiting visitor hears their new place, soon."""
        if site_id not in self._pending:
            self._pending.add(site_id)
            self._spawn(self._tell(site_id))

    async def _tell(self, site_id: str) -> None:
        try:
            await asyncio.sleep(COALESCE)
        finally:
            self._pending.discard(site_id)
        queued = await self.store.list_chats(sites=[site_id], states=[QUEUED], limit=100_000)
        for place, chat in enumerate(queued, start=1):
            await self.bus.publish(self._channel(chat.id), {"t": "queue", "position": place})
