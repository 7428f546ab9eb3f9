"""Who is there: the visitors' sockets of each chat, in every process of the deployment
(widget_server/shared_state), and what follows when they come and go; and whether anyone can answer now.

- A chat whose visitor has no socket left in any process is "away": a poller goes on for its grace period
  (the poller knows when to stop, and asks here before it does); a chat queued at the built-in contact
  center ends as missed after ``abandon_after`` seconds, so that agents' queues hold only people still
  waiting. A reload, on this process or another, is back in time.
- Availability: whether a live answer is likely now (business hours; for the built-in contact center,
  an agent whose status is online, in any process: widget_server/agent_status.py, which keeps that in
  memory so that a `hello` costs no round trip, and tells open widgets when it changes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from widget_server.agent_status import Roster
from widget_server.config import Site
from widget_server.shared_state import VISITORS, SharedState


class Presence:
    def __init__(
        self,
        *,
        state: SharedState,
        roster: Roster,
        abandon_after: float,
        abandon: Callable[[str], Awaitable[None]],
        spawn: Callable[[Awaitable[None]], object],
    ) -> None:
        self.abandon_after = abandon_after
        self._state = state
        self._roster = roster
        self._abandon = abandon
        self._spawn = spawn
        self._abandon_timers: dict[str, asyncio.TimerHandle] = {}

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

    # --- availability -----------------------------------------------------------------------------------

    def unavailable_because(self, site: Site, at: datetime | None = None) -> str | None:
        """Why no live answer is likely now: "hours" (outside business hours), "agents" (nobody online at
        the built-in contact center), or None (one is). (The visitor socket adds "backend": a contact
        center that cannot work as configured.)"""
        if site.hours is not None and not site.hours.is_open(at or datetime.now(UTC)):
            return "hours"
        if site.backend == "local" and not self._roster.anyone_online:
            return "agents"
        return None

    def available(self, site: Site, at: datetime | None = None) -> bool:
        return self.unavailable_because(site, at) is None

    async def close(self) -> None:
        for timer in self._abandon_timers.values():
            timer.cancel()
        self._abandon_timers.clear()
