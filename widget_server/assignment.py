"""Round-robin assignment: the I/O around widget_server/routing.py's rules.

Every process runs one ``Assigner``. It looks again (``wake``) whenever a chat of the built-in contact
center is created or changes state or agent (the consoles' bus channel, which every process hears) and
whenever an agent's status changes (``agent_status.Team.watch``): a new queued chat, a chat that ended
or was transferred, an agent who came online may each let a waiting chat through. A look reads the
queued chats whose team (the one a chat was transferred to, else its site's) assigns round robin and
the active chats, asks ``routing.plan``
who gets what, and accepts each chat for its agent as the agent would (``ChatService.accept``: the log
gets ``joined``). That write is conditional on the chat still being queued, so when several processes
look at once, each chat is assigned exactly once; the others' attempts are refused and they look again.

Capacity is a limit, not a target: the accept is also conditional on the agent holding fewer active
chats than their capacity, counted in the store under a lock of that agent (``Store.append``'s
``room_for``), so two processes giving an agent their last free place at once cannot both succeed; the
one refused looks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from widget_server import routing, teams
from widget_server.bus import Message
from widget_server.chat_service import CONSOLE, ChatService, ServiceError
from widget_server.model import ACTIVE, ONLINE, QUEUED, Actor
from widget_server.sites import SiteDirectory

log = logging.getLogger(__name__)

LISTED = 10_000  # open chats read per look: far more than a team answers at once


class Assigner:
    def __init__(
        self, service: ChatService, sites: SiteDirectory, teams_by_id: Mapping[str, teams.Team]
    ) -> None:
        self.service = service
        self.sites = sites
        self.teams = {tid: team for tid, team in teams_by_id.items() if team.assignment == teams.ROUND_ROBIN}
        #: agent -> when this process last saw them get a chat (from the bus: any process's assignment).
        self.last_assigned: dict[str, float] = {}
        self._agent_of: dict[str, str] = {}  # active chat -> its agent, as last seen on the bus
        self._wanted = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._unwatch: Callable[[], None] | None = None

    async def start(self) -> None:
        if not self.teams:
            return  # nothing to do in this deployment: not even listening
        self._unsubscribe = await self.service.bus.subscribe(CONSOLE, self._on_console)
        self._unwatch = self.service.roster.watch(lambda changed: self.wake())
        self._loop = asyncio.ensure_future(self._run())
        self.wake()

    def wake(self) -> None:
        self._wanted.set()

    def _on_console(self, message: Message) -> None:
        if message["t"] == "resync":
            self.wake()
        if message["t"] != "chat":
            return
        chat = message["chat"]
        if chat["state"] == ACTIVE and chat.get("agent") and self._agent_of.get(chat["id"]) != chat["agent"]:
            self._agent_of[chat["id"]] = chat["agent"]
            self.last_assigned[chat["agent"]] = time.monotonic()
        elif chat["state"] != ACTIVE:
            self._agent_of.pop(chat["id"], None)
        self.wake()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()  # what happens during a look wakes the next one
            try:
                await self.assign()
            except Exception:  # the store away: the next change tries again
                log.exception("round-robin assignment failed")
                await asyncio.sleep(1.0)

    async def assign(self) -> int:
        """One look: assign what can be assigned now. Returns how many chats this process assigned."""
        # A queued chat's team: the one it was transferred to (Chat.team), else its site's.
        site_team = {site.id: site.team for site in self.sites.all() if site.backend == "local"}
        if not site_team:
            return 0
        store = self.service.store
        queued = [
            (chat.id, team_id)
            for chat in await store.list_chats(sites=list(site_team), states=[QUEUED], limit=LISTED)
            if chat.type == "chat" and (team_id := chat.team_of(site_team[chat.site])) in self.teams
        ]
        if not queued:
            return 0
        active: dict[str, int] = {}
        for chat in await store.list_chats(states=[ACTIVE], limit=LISTED):
            if chat.agent is not None:
                active[chat.agent] = active.get(chat.agent, 0) + 1
        online = {member.name for member in self.service.roster.members() if member.status == ONLINE}
        candidates = {
            team_id: [
                routing.Candidate(
                    name, active.get(name, 0), team.capacity_of(name), self.last_assigned.get(name, 0.0)
                )
                for name in team.agents
                if name in online
            ]
            for team_id, team in self.teams.items()
        }
        plan = routing.plan(queued, candidates, time.monotonic())
        capacity: dict[str, int] = {}  # as routing.plan counts an agent of two teams: the first's
        for each in candidates.values():
            for candidate in each:
                capacity.setdefault(candidate.name, candidate.capacity)
        done = 0
        for chat_id, agent in plan:
            user = await store.get_user(agent)
            if user is None:
                continue
            try:
                await self.service.accept(
                    chat_id, user, Actor(agent, "round robin"), capacity=capacity[agent]
                )
            except ServiceError:  # another process assigned it or filled the agent, or the visitor left:
                self.wake()  # look again
                continue
            self.last_assigned[agent] = time.monotonic()
            done += 1
            log.info("chat %s: assigned to %s (round robin)", chat_id, agent)
        return done

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._unwatch is not None:
            self._unwatch()
        if self._unsubscribe is not None:
            await self._unsubscribe()
