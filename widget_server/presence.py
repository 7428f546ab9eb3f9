"""Who is there: the visitors' sockets of each chat and the agents logged in to the console, in this
server process, and what follows when they come and go.

- A chat whose visitor has no socket left is "away": a poller goes on for its grace period (the poller
  knows when to stop); a chat queued at the built-in contact center ends as missed after
  ``abandon_after`` seconds, so that agents' queues hold only people still waiting. A reload is back in
  time.
- Availability: whether a live answer is likely now (business hours; for the built-in contact center,
  an agent online). When the first agent comes or the last one goes, ``availability_changed`` runs, so
  that open widgets can switch between a chat and the offline form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from widget_server.config import Site


class Presence:
    def __init__(
        self,
        *,
        abandon_after: float,
        abandon: Callable[[str], Awaitable[None]],
        availability_changed: Callable[[], None],
        spawn: Callable[[Awaitable[None]], object],
    ) -> None:
        self.abandon_after = abandon_after
        self._abandon = abandon
        self.availability_changed = availability_changed
        self._spawn = spawn
        self._visitor_sockets: dict[str, int] = {}
        self._abandon_timers: dict[str, asyncio.TimerHandle] = {}
        self._agents_online = 0

    # --- visitors -------------------------------------------------------------------------------------

    def visitor_online(self, chat_id: str) -> bool:
        return self._visitor_sockets.get(chat_id, 0) > 0

    def visitor_came(self, chat_id: str) -> bool:
        """A socket attached to the chat; True if it is the visitor's first (they are back)."""
        count = self._visitor_sockets.get(chat_id, 0) + 1
        self._visitor_sockets[chat_id] = count
        self.keep(chat_id)
        return count == 1

    def visitor_went(self, chat_id: str) -> bool:
        """A socket left the chat; True if it was the visitor's last (they are away)."""
        count = self._visitor_sockets.get(chat_id, 0) - 1
        if count > 0:
            self._visitor_sockets[chat_id] = count
            return False
        self._visitor_sockets.pop(chat_id, None)
        return True

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
        if not self.visitor_online(chat_id):
            await self._abandon(chat_id)

    # --- agents and availability ----------------------------------------------------------------------

    def agent_came(self) -> None:
        self._agents_online += 1
        if self._agents_online == 1:
            self.availability_changed()

    def agent_went(self) -> None:
        self._agents_online -= 1
        if self._agents_online == 0:
            self.availability_changed()

    def unavailable_because(self, site: Site, at: datetime | None = None) -> str | None:
        """Why no live answer is likely now: "hours" (outside business hours), "agents" (nobody online at
        the built-in contact center), or None (one is)."""
        if site.hours is not None and not site.hours.is_open(at or datetime.now(UTC)):
            return "hours"
        if site.backend == "local" and self._agents_online <= 0:
            return "agents"
        return None

    def available(self, site: Site, at: datetime | None = None) -> bool:
        return self.unavailable_because(site, at) is None

    def close(self) -> None:
        for timer in self._abandon_timers.values():
            timer.cancel()
        self._abandon_timers.clear()
