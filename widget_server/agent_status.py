"""Agents' status, as support teams know it: online, away or offline; what colleagues see of each other,
and whether the built-in contact center is available to visitors.

- **The choice is the agent's**, made in the console's top bar and stored with the user
  (``Store.set_user_status``), so that it holds across reloads, devices and restarts. A new user starts
  online. Signing out stores offline; signing in again brings an offline agent back online (a sign-in is
  the start of work), while away stays away, whichever device they sign in on.
- **What everyone sees** (``shown_status``) is the choice, except for an agent online by choice whose
  console has been closed everywhere for ``away_after`` seconds: they are shown away. Each process counts
  its consoles per agent in the shared state (``CONSOLES``) and takes a closed one off the count only
  ``away_after`` seconds later, so a reload within that time (on any process) changes nothing, and a
  process that dies takes its consoles with it (its share expires).
- **Availability** (a visitor's ``hello``): the built-in contact center is available while some agent is
  shown online. Away and offline agents keep their chats and can answer them; they only stop counting.

Every process keeps the roster in memory (users, their choices, whose consoles are open), so that a
``hello`` costs nothing. It reads it again: when a choice or a console count changes here; when another
process says so on the bus (``ROSTER``); after the bus may have lost messages; and on a cluster every
``refresh_every`` seconds (a process that dies says nothing: its share expires). Each process then tells
its own consoles what changed (``watch``) and its own widgets when availability did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from widget_server.bus import Bus, Message
from widget_server.model import AWAY, OFFLINE, ONLINE, User
from widget_server.shared_state import CONSOLES, SharedState
from widget_server.store import Store

log = logging.getLogger(__name__)

#: The bus channel on which a process says that the roster may have changed: an agent's choice
#: (``users``: read them again from the store) or the first console of an agent in it opened or its last
#: one was counted out.
ROSTER = "roster"


def shown_status(chosen: str, connected: bool) -> str:
    """What colleagues and availability see: the agent's choice, but away for one online by choice whose
    console is closed everywhere (counted out after ``away_after``)."""
    return AWAY if chosen == ONLINE and not connected else chosen


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    display_name: str
    chosen: str
    connected: bool
    #: The user was removed (told once, so that consoles drop them from their lists).
    removed: bool = False

    @property
    def status(self) -> str:
        return OFFLINE if self.removed else shown_status(self.chosen, self.connected)

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": self.name, "displayName": self.display_name, "status": self.status}
        if self.removed:
            shown["removed"] = True
        return shown


Watcher = Callable[[list[Member]], None]


class Roster:
    """Every user of the console with their status, as this process sees it (the whole staff: not
    a site's team of agents)."""

    def __init__(
        self,
        *,
        store: Store,
        state: SharedState,
        bus: Bus,
        away_after: float,
        availability_changed: Callable[[], None],
        spawn: Callable[[Awaitable[None]], object],
        refresh_every: float = 5.0,
    ) -> None:
        self.away_after = away_after
        self.refresh_every = refresh_every
        self._store = store
        self._state = state
        self._bus = bus
        self._availability_changed = availability_changed
        self._spawn = spawn
        self._users: dict[str, User] = {}  # as last read from the store
        self._members: dict[str, Member] = {}  # as last computed, what this process's consoles were told
        self._unknown: set[str] = set()  # consoles open under names that no user has (removed)
        self._anyone_online = False
        self._closed = False
        self._watchers: list[Watcher] = []
        self._lock = asyncio.Lock()  # one read at a time: a slower, older read never lands after a newer
        self._leaving: set[asyncio.TimerHandle] = set()
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh(users=True)
        self._unsubscribe = await self._bus.subscribe(ROSTER, self._on_notice)
        if self._state.spans_processes:
            self._refresher = asyncio.ensure_future(self._refresh_forever())

    # --- what the web layer reads -------------------------------------------------------------------------

    def members(self) -> list[Member]:
        return sorted(self._members.values(), key=lambda member: member.name)

    def status_of(self, name: str) -> str | None:
        member = self._members.get(name)
        return member.status if member is not None else None

    @property
    def anyone_online(self) -> bool:
        """Whether some agent is online (read by every visitor's `hello`: kept, not counted each time)."""
        return self._anyone_online

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher(changed)`` with the members whose status (or name) changed, as this process
        sees it; returns the function that stops it."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    # --- what changes it ----------------------------------------------------------------------------------

    async def console_opened(self, name: str) -> None:
        """A console socket of the user ``name`` opened in this process. The users are read again, so
        that its ``hello`` lists whoever was added since (a handful of rows, once per console load)."""
        share = await self._state.add(CONSOLES, name, 1)
        await self.refresh(users=True)
        if share == 1:
            await self._notify(users=False)

    def console_closed(self, name: str) -> None:
        """A console socket of ``name`` closed in this process: counted out ``away_after`` seconds from
        now, so that a reload meanwhile changes nothing. (Not once the process stops: its whole share
        goes then.)"""
        if self._closed:
            return
        loop = asyncio.get_running_loop()

        def count_out() -> None:
            self._leaving.discard(timer)
            self._spawn(self._console_gone(name))

        timer = loop.call_later(self.away_after, count_out)
        self._leaving.add(timer)

    async def _console_gone(self, name: str) -> None:
        share = await self._state.add(CONSOLES, name, -1)
        await self._refresh_logged()
        if share == 0:
            await self._notify(users=False)

    async def set_status(self, name: str, status: str) -> bool:
        """Store the agent's choice and tell every process; False if there is no such user."""
        if not await self._store.set_user_status(name, status):
            return False
        await self.refresh(users=True)
        await self._notify(users=True)
        return True

    async def _notify(self, *, users: bool) -> None:
        await self._bus.publish(ROSTER, {"t": "roster", "users": users, "from": self._state.process_id})

    def _on_notice(self, message: Message) -> None:
        if message["t"] == "resync":
            self._spawn(self._refresh_logged(users=True))
        elif message.get("from") != self._state.process_id:  # this process has read it already
            self._spawn(self._refresh_logged(users=bool(message.get("users", True))))

    # --- reading it -------------------------------------------------------------------------------------

    async def refresh(self, *, users: bool = False) -> None:
        """Read whose consoles are open (and with ``users`` every user's choice) and tell the watchers and,
        if it changed, availability."""
        async with self._lock:
            if users:
                self._users = {user.name: user for user in await self._store.list_users()}
            totals = await self._state.totals(CONSOLES)
            connected = {name for name, count in totals.items() if count > 0}
            if not users and connected - self._users.keys() - self._unknown:
                # A user created since the last read has a console open: read them all again (once: a
                # removed user's console may stay open a while).
                users = True
                self._users = {user.name: user for user in await self._store.list_users()}
            if users:
                self._unknown = connected - self._users.keys()
            members = {
                name: Member(name, user.display_name, user.status, name in connected)
                for name, user in self._users.items()
            }
            changed = [
                member
                for name, member in members.items()
                if name not in self._members or self._members[name].to_json() != member.to_json()
            ]
            changed += [
                Member(name, gone.display_name, gone.chosen, False, removed=True)
                for name, gone in self._members.items()
                if name not in members
            ]
            was_online = self._anyone_online
            self._members = members
            self._anyone_online = any(member.status == ONLINE for member in members.values())
            if changed:
                for watcher in list(self._watchers):
                    watcher(changed)
            if self._anyone_online != was_online:
                self._availability_changed()

    async def _refresh_logged(self, *, users: bool = False) -> None:
        try:
            await self.refresh(users=users)
        except Exception:
            log.exception("could not read the agents' status")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_every)
            await self._refresh_logged()

    async def close(self) -> None:
        self._closed = True
        for timer in self._leaving:
            timer.cancel()
        self._leaving.clear()
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._unsubscribe is not None:
            await self._unsubscribe()
