"""Who is there: the visitors' sockets of each chat and the agents logged in to the console, in every
process of the deployment (widget_server/shared_state), and what follows when they come and go.

- A chat whose visitor has no socket left in any process is "away": a poller goes on for its grace period
  (the poller knows when to stop, and asks here before it does); a chat queued at the built-in contact
  center ends as missed after ``abandon_after`` seconds, so that agents' queues hold only people still
  waiting. A reload, on this process or another, is back in time.
- Availability: whether a live answer is likely now (business hours; for the built-in contact center,
  an agent online in any process). When the first agent comes or the last one goes, ``availability_changed``
  runs in every process, so that open widgets can switch between a chat and the offline form. The count
  of agents is kept here, per process, so that a `hello` costs no round trip: it is read again when an
  agent comes or goes here, when another process says so on the bus, and every ``refresh_every`` seconds
  (a process that dies with the last agent says nothing: its share expires).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from widget_server.bus import Bus, Message
from widget_server.config import Site
from widget_server.shared_state import AGENTS, VISITORS, SharedState

log = logging.getLogger(__name__)

#: The bus channel on which a process says that agents online went from none to some or back.
AVAILABILITY = "availability"


class Presence:
    def __init__(
        self,
        *,
        state: SharedState,
        bus: Bus,
        abandon_after: float,
        abandon: Callable[[str], Awaitable[None]],
        availability_changed: Callable[[], None],
        spawn: Callable[[Awaitable[None]], object],
        refresh_every: float = 5.0,
    ) -> None:
        self.abandon_after = abandon_after
        self.refresh_every = refresh_every
        self._state = state
        self._bus = bus
        self._abandon = abandon
        self.availability_changed = availability_changed
        self._spawn = spawn
        self._abandon_timers: dict[str, asyncio.TimerHandle] = {}
        self._agents_online = 0  # in the whole deployment, as last read
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh_agents()
        self._unsubscribe = await self._bus.subscribe(AVAILABILITY, self._on_notice)
        if self._state.spans_processes:
            self._refresher = asyncio.ensure_future(self._refresh_forever())

    # --- visitors -------------------------------------------------------------------------------------

    async def visitor_online(self, chat_id: str) -> bool:
        """Whether any process has a socket of the chat's visitor."""
        return await self._state.total(VISITORS, chat_id) > 0

    async def online_among(self, chat_ids: Iterable[str]) -> set[str]:
        """The chats whose visitors are online, of these (one round trip)."""
        totals = await self._state.totals_of(VISITORS, chat_ids)
        return {chat_id for chat_id, count in totals.items() if count > 0}

    async def visitor_came(self, chat_id: str) -> bool:
        """A socket attached to the chat; True if it is the visitor's first in this process (they are
        back, as far as this process's poller and the consoles know; saying so twice is harmless)."""
        self.keep(chat_id)
        return await self._state.add(VISITORS, chat_id, 1) == 1

    async def visitor_went(self, chat_id: str) -> bool:
        """A socket left the chat; True if it was the visitor's last in any process (they are away)."""
        if await self._state.add(VISITORS, chat_id, -1) > 0:
            return False
        return not await self.visitor_online(chat_id)

    def abandon_later(self, chat_id: str) -> None:
        """End the queued chat if its visitor is still away after ``abandon_after`` seconds."""
        self.keep(chat_id)
        self._abandon_timers[chat_id] = asyncio.get_running_loop().call_later(
            self.abandon_after, lambda: self._spawn(self._abandon_if_away(chat_id))
        )

    def keep(self, chat_id: str) -> None:
        """Do not abandon the chat (its visitor came back, an agent took it, it ended)."""
        timer = self._abandon_timers.pop(chat_id, None)
        if timer is not None:
            timer.cancel()

    async def _abandon_if_away(self, chat_id: str) -> None:
        self._abandon_timers.pop(chat_id, None)
        if not await self.visitor_online(chat_id):
            await self._abandon(chat_id)

    # --- agents and availability ----------------------------------------------------------------------

    async def agent_came(self) -> None:
        await self._state.add(AGENTS, "", 1)
        await self._agents_changed()

    async def agent_went(self) -> None:
        await self._state.add(AGENTS, "", -1)
        await self._agents_changed()

    async def _agents_changed(self) -> None:
        if await self.refresh_agents():
            await self._bus.publish(AVAILABILITY, {"t": "agents"})  # the other processes read it again

    async def refresh_agents(self) -> bool:
        """Read the deployment's agents online; if that changed availability, say so. True if it did."""
        count = await self._state.total(AGENTS, "")
        changed = (count > 0) != (self._agents_online > 0)
        self._agents_online = count
        if changed:
            self.availability_changed()
        return changed

    def _on_notice(self, message: Message) -> None:
        self._spawn(self._refresh_once())

    async def _refresh_once(self) -> None:
        await self.refresh_agents()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_every)
            try:
                await self.refresh_agents()
            except Exception:
                log.exception("could not read the agents online")

    def unavailable_because(self, site: Site, at: datetime | None = None) -> str | None:
        """Why no live answer is likely now: "hours" (outside business hours), "agents" (nobody online at
        the built-in contact center), or None (one is). (The visitor socket adds "backend": a contact
        center that cannot work as configured.)"""
        if site.hours is not None and not site.hours.is_open(at or datetime.now(UTC)):
            return "hours"
        if site.backend == "local" and self._agents_online <= 0:
            return "agents"
        return None

    def available(self, site: Site, at: datetime | None = None) -> bool:
        return self.unavailable_because(site, at) is None

    async def close(self) -> None:
        for timer in self._abandon_timers.values():
            timer.cancel()
        self._abandon_timers.clear()
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._unsubscribe is not None:
            await self._unsubscribe()
