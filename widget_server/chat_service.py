"""The chat service: the one place where chats change.

Everything that happens in a chat (a visitor's message, an agent joining, the chat ending) goes through
here in the same order: stored in the chat's log first, then published on the bus, from where every
connection attached to the chat picks it up. Connections never write to the store or the bus themselves,
and adapters never touch either: they are called from here, or by the poller that reports back here.

Bus channels and what they carry (all plain JSON):
- ``chat:{id}``: ``{"t": "event", "e": event}``, ``{"t": "typing", "from", "name", "active"}``,
  ``{"t": "queue", "position"}``, ``{"t": "close", "code", "reason"}``, and ``{"t": "presence",
  "online"}`` when the visitor's first socket in a process opens or its last one closes (for the chat's
  poller, which may run in another process). Never an agents-only event (an internal note,
  ``model.AGENTS_ONLY``): whatever is published here may reach the visitor's sockets;
- ``console``: what the agent consoles show: the same events with their chat's ``site``, agents-only ones
  included, and typing with their chat, plus ``{"t": "chat", "chat": summary}`` when a chat is created
  or changes state or agent, and ``{"t": "presence", "chat", "online"}`` when its visitor comes or goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from widget_server import attachments, greetings, metrics, model, roles, zendesk
from widget_server.adapters import POLLING_BACKENDS, Adapter, BackendError, Polled
from widget_server.agent_status import Roster
from widget_server.bus import Bus, Callback, Message
from widget_server.config import Site
from widget_server.file_store import DirectoryFiles, FileStore
from widget_server.identity import VerifiedIdentity
from widget_server.model import ACTIVE, ENDED, OPEN_STATES, QUEUED, Chat, Event, NewEvent, User, Visitor
from widget_server.poll_policy import PollSettings
from widget_server.poller import Poller, Pollers
from widget_server.poller_leases import LeaseError, PollerLeases
from widget_server.presence import Presence
from widget_server.protocol import LeaveMessage, Start, merge_user_data
from widget_server.queue_positions import QueuePlaces
from widget_server.shared_state import SharedState
from widget_server.shared_state.memory import MemoryState
from widget_server.store import Appended, ChatNotFound, NoRoom, Store, WrongState

log = logging.getLogger(__name__)

CONSOLE = "console"


def chat_channel(chat_id: str) -> str:
    return f"chat:{chat_id}"


def console_actor(user: User) -> model.Actor:
    """Who did a chat action, for the audit log, when nobody says otherwise: the person, at the console."""
    return model.Actor(user.name, "console")


def watchers(events: Sequence[Event], agent: str | None) -> list[str]:
    """Who follows the chat silently, from its log: every supervisor with a ``watch`` event, in the order
    they joined, but the chat's ``agent`` (who took it over is in it, no longer watching)."""
    found = dict.fromkeys(str(e.data.get("user")) for e in events if e.kind == model.WATCH)
    return [user for user in found if user != agent]


class ChatEnded(Exception):
    """The chat is over: nothing more can be said in it."""


class ServiceError(Exception):
    """A request the service refuses, with a protocol error code and a human sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatService:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        adapter_for: Callable[[str], Adapter],
        *,
        abandon_after: float = 120.0,
        away_after: float = 60.0,
        poll_settings: PollSettings | None = None,
        outbox_queued: Callable[[], None] = lambda: None,
        availability_changed: Callable[[], None] = lambda: None,
        files: FileStore | None = None,
        leases: PollerLeases | None = None,
        state: SharedState | None = None,
    ) -> None:
        self.outbox_queued = outbox_queued
        self.store = store
        self.bus = bus
        self._adapter_for = adapter_for
        self._tasks: set[asyncio.Task[Any]] = set()
        default_files = DirectoryFiles(Path("data") / "attachments")
        self.files = attachments.ChatFiles(files or default_files, self)
        #: What the processes share: who is there, and the limits (widget_server/shared_state).
        self.state: SharedState = state or MemoryState()
        #: The agents' status (widget_server/agent_status.py), and with it whether anyone is online.
        self.roster = Roster(
            store=store,
            state=self.state,
            bus=bus,
            away_after=away_after,
            # When the first agent is online or the last one is not: open widgets hear it (runtime.py).
            availability_changed=availability_changed,
            spawn=self._spawn,
        )
        self.presence = Presence(
            state=self.state,
            roster=self.roster,
            abandon_after=abandon_after,
            abandon=self._abandon,
            spawn=self._spawn,
        )
        self.queue = QueuePlaces(store, bus)
        self.pollers = Pollers(self, poll_settings or PollSettings(), leases)
        self._sweeper: asyncio.Task[None] | None = None
        self._limits_logged: dict[tuple[str, str, str], float] = {}

    # --- the log: store, then publish --------------------------------------------------------------------

    async def append(
        self,
        chat_id: str,
        events: Sequence[NewEvent],
        *,
        changes: dict[str, Any] | None = None,
        require_states: Sequence[str] | None = None,
        fence: int | None = None,
        at_most: tuple[str, int] | None = None,
        room_for: tuple[str, int] | None = None,
    ) -> Appended:
        """Store, then publish. ``fence``: the writer is the chat's poller; ``at_most``: a limit on the
        events of a kind; ``room_for``: an agent's capacity (all as in Store.append)."""
        started = time.perf_counter()
        appended = await self.store.append(
            chat_id,
            events,
            changes=changes,
            require_states=require_states,
            fence=fence,
            at_most=at_most,
            room_for=room_for,
        )
        metrics.STORE_APPEND_SECONDS.observe(time.perf_counter() - started)
        if appended.new:
            for event in appended.events:
                if event.kind == model.MESSAGE:
                    sender = event.data.get("from", "")
                    (metrics.MESSAGES_FROM.get(sender) or metrics.MESSAGES.labels(sender)).inc()
            await self._publish(chat_id, appended, summary_changed=bool(changes))
        return appended

    async def _publish(self, chat_id: str, appended: Appended, *, summary_changed: bool) -> None:
        """The events to the chat's channel, and for the built-in contact center to the consoles, with the
        chat's summary when it changed (reading ``appended.chat`` only then: a message does not need it)."""
        channel = chat_channel(chat_id)
        console = appended.backend == "local"  # the console answers chats of the built-in contact center
        for event in appended.events:
            message = {"t": "event", "e": event.to_json()}
            # A note never goes where a visitor's socket or a poller listens: the first guard of several
            # (the visitor's connection and the store's visitor reads leave it out too).
            if event.kind not in model.AGENTS_ONLY:
                await self.bus.publish(channel, message)
            if console:  # with its site and team: a console shows only the chats its agent sees
                await self.bus.publish(CONSOLE, {**message, "site": appended.site, "team": appended.team})
        if summary_changed and console:
            await self.bus.publish(CONSOLE, await self._console_chat(appended.chat))

    async def _console_chat(self, chat: Chat) -> Message:
        """A chat's summary for the consoles, with whether its visitor is online: read here, once, rather
        than by every console that receives it."""
        online = await self.presence.visitor_online(chat.id)
        return {"t": "chat", "chat": {**chat.summary(), "online": online}}

    async def events_after(self, chat_id: str, after: int) -> list[Event]:
        return await self.store.events_after(chat_id, after)

    async def subscribe(self, chat_id: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        return await self.bus.subscribe(chat_channel(chat_id), callback)

    # --- the visitor's side ----------------------------------------------------------------------------

    async def start(
        self,
        site: Site,
        request: Start,
        *,
        ip: str | None,
        user_agent: str | None,
        visitor_key: str | None = None,
        verified: VerifiedIdentity | None = None,
    ) -> Chat:
        """Open a new chat: at the contact center first, then in the log. If either fails, nothing of it
        is left (the contact-center chat is ended again). A `start` repeated with the same client id gets
        the chat the first one created. ``visitor_key``: which browser this is (``Visitor.key``);
        ``verified``: the identity the caller verified (identity.verify), which gives the visitor their
        key and, if it has one, their email."""
        if request.id is not None:
            earlier = await self.store.find_started(site.id, request.id)
            if earlier is not None:
                return earlier
        if request.team is not None and request.team not in site.teams:
            raise ServiceError("team_not_offered", "This site does not offer that team; choose another.")
        await self._check_new_chats_limit(site, ip)
        adapter = self._adapter_for(site.id)
        # Answered a greeting: it is the chat's first event, the rule's text as configured (greetings.py).
        greeting = greetings.answered(site.greetings, site.name, request.greeting)
        user_data = request.user_data
        if site.backend != "local":
            user_data = greetings.for_contact_center(user_data, greeting)
        chat = Chat(
            id=str(uuid.uuid4()),
            site=site.id,
            backend=site.backend,
            state=QUEUED,
            visitor=Visitor(
                nickname=request.nickname,
                subject=request.subject,
                email=(verified.email if verified and verified.email else request.email),
                user_data=user_data,
                page=request.page,
                ip=ip,
                user_agent=user_agent[:512] if user_agent else None,
                key=verified.key if verified else visitor_key,
                verified=verified.to_json() if verified else None,
            ),
            created_at=model.now_ms(),
            start_id=request.id,
            team=request.team,  # the visitor's choice answers it, not the site's team
        )
        try:
            started = await adapter.start(chat)
        except BackendError as error:
            log.warning("site %s: %s backend could not start a chat: %s", site.id, site.backend, error.detail)
            raise ServiceError(
                "backend_unavailable", "The chat service is unavailable; please try again."
            ) from None
        chat = replace(chat, backend_ref=started.backend_ref, backend_state=started.backend_state)
        position = await self.queue.place_of_new(chat) if chat.backend == "local" else None
        first = [greeting] if greeting else []
        first.append(model.state(QUEUED, position))
        if request.page:
            first.append(model.visit(request.page))
        try:
            appended = await self.store.create_chat(chat, [*first, *started.events])
        except Exception:
            with contextlib.suppress(Exception):
                await adapter.end(chat)
            raise
        if not appended.new:  # the same start raced in twice: keep the first, end this one's twin
            with contextlib.suppress(Exception):
                await adapter.end(chat)
            return appended.chat
        metrics.CHATS_STARTED.labels(chat.backend).inc()
        if chat.backend == "local":
            self.queue.entered(appended.chat)
        await self._publish(chat.id, appended, summary_changed=True)
        await self.pollers.ensure(appended.chat, adapter)
        return appended.chat

    async def get_chat(self, chat_id: str) -> Chat:
        chat = await self.store.get_chat(chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        return chat

    async def say(self, chat_id: str, client_id: str, text: str, *, nickname: str) -> Appended:
        """A visitor's message, idempotent by its client id. The caller knows the visitor's nickname: a
        read of the chat here would cost every message a trip to the database's thread."""
        try:
            appended = await self.append(
                chat_id,
                [model.message(model.VISITOR, nickname, text, client_id)],
                require_states=OPEN_STATES,
            )
        except WrongState:
            raise ChatEnded() from None
        return appended

    async def _check_new_chats_limit(self, site: Site, ip: str | None) -> None:
        if ip is None:
            return
        hour_ago = model.now_ms() - 3_600_000
        if await self.store.count_recent_chats(site.id, ip, hour_ago) >= site.limits.chats_per_ip_per_hour:
            self._log_limit_once(site.id, ip, "chats_per_ip_per_hour")
            raise ServiceError(
                "rate_limited", "Too many new chats from your address; please try again later."
            )

    async def leave_message(
        self,
        site: Site,
        request: LeaveMessage,
        *,
        ip: str | None,
        user_agent: str | None,
        created_at: int | None = None,
        limited: bool = True,
        visitor_key: str | None = None,
    ) -> Chat:
        """A message left while nobody could answer: stored as a chat of type ``offline_msg`` and, for a
        site that forwards to Zendesk, queued in the outbox in the same transaction. Idempotent by the
        frame's id. ``created_at`` dates a message imported with its own time."""
        earlier = await self.store.find_started(site.id, request.id)
        if earlier is not None:
            return earlier
        if limited:  # a visitor's; an operator's API call (the history API) is not limited per address
            await self._check_new_chats_limit(site, ip)
        now = created_at if created_at is not None else model.now_ms()
        chat = Chat(
            id=str(uuid.uuid4()),
            site=site.id,
            backend=site.backend,
            state=ENDED,
            visitor=Visitor(
                nickname=request.name,
                email=request.email,
                page=request.page,
                ip=ip,
                user_agent=user_agent[:512] if user_agent else None,
                key=visitor_key,
            ),
            created_at=now,
            ended_at=now,
            start_id=request.id,
            type=model.OFFLINE_MESSAGE,
            meta={"unread": True},
        )
        events = [model.message(model.VISITOR, request.name, request.message, request.id)]
        if request.page:
            events.insert(0, model.visit(request.page))
        greeting = greetings.answered(site.greetings, site.name, request.greeting)
        if greeting is not None:  # left from an offline greeting's bubble: it comes first
            events.insert(0, greeting)
        outbox = [zendesk.outbox_item(site.id, chat, request.message, site.zendesk)] if site.zendesk else []
        appended = await self.store.create_chat(chat, events, outbox)
        if appended.new:
            metrics.CHATS_STARTED.labels("offline").inc()
            log.info("site %s: offline message %s left by %s", site.id, chat.id, ip)
            # Agents see offline messages of every site in the console, whatever its backend.
            await self.bus.publish(
                CONSOLE, {"t": "chat", "chat": {**appended.chat.summary(), "online": False}}
            )
            if outbox:
                self.outbox_queued()
        return appended.chat

    async def rate(
        self, chat_id: str, rating: str, comment: str | None, client_id: str | None = None
    ) -> None:
        """The visitor's rating of the chat (good or bad, and a comment), at its end or during it; a later
        rating replaces an earlier one."""
        chat = await self.get_chat(chat_id)
        if chat.type != "chat":
            raise ServiceError("invalid_field", "Only chats can be rated.")
        meta = {**chat.meta, "rating": rating, "comment": comment}
        await self.append(chat_id, [model.rating(rating, comment, client_id)], changes={"meta": meta})

    async def allow_message(self, chat_id: str, site: Site) -> bool:
        """The site's messages-per-minute limit, per chat (all of the visitor's tabs together, in any
        process)."""
        per_minute = site.limits.messages_per_minute
        # A third of the minute's allowance at once: a visitor pasting a few lines quickly is fine.
        rate, burst = per_minute / 60, max(1, per_minute // 3)
        return await self.state.rate_limit("messages", chat_id, rate, burst) == 0.0

    def _log_limit_once(self, site_id: str, ip: str, limit: str) -> None:
        """Once per address and limit an hour, however many times it is hit."""
        key = (site_id, ip, limit)
        now = asyncio.get_running_loop().time()
        if now - self._limits_logged.get(key, -1e9) > 3600:
            if len(self._limits_logged) > 10_000:
                self._limits_logged.clear()
            self._limits_logged[key] = now
            log.warning("site %s: %s is over the limit %s", site_id, ip, limit)

    async def visitor_typing(self, chat: Chat, active: bool) -> None:
        message = {"t": "typing", "from": model.VISITOR, "name": chat.visitor.nickname, "active": active}
        await self.bus.publish(chat_channel(chat.id), message)
        await self.bus.publish(CONSOLE, {**message, "chat": chat.id})
        await self._call_adapter(chat, lambda adapter: adapter.typing(chat, active))

    async def visit(self, chat_id: str, url: str) -> None:
        chat = await self.get_chat(chat_id)
        try:
            await self.append(chat_id, [model.visit(url)], require_states=OPEN_STATES)
        except WrongState:
            raise ChatEnded() from None
        await self._call_adapter(chat, lambda adapter: adapter.visit(chat, url))

    async def end_by_visitor(self, chat_id: str) -> None:
        chat = await self._end(chat_id, [])
        # A chat with a poller, in this process or another: it sees the end in the log, delivers what is
        # still pending, then tells the contact center, in that order.
        if chat is not None and not await self._poller_anywhere(chat_id):
            await self._call_adapter(chat, lambda adapter: adapter.end(chat))

    async def _poller_anywhere(self, chat_id: str) -> bool:
        if self.pollers.running(chat_id):
            return True
        try:
            return bool(await self.pollers.leases.held([chat_id]))
        except LeaseError as error:
            # Nobody can say: tell the contact center from here, rather than perhaps nobody telling it.
            log.info("chat %s: whether a poller runs is unknown (%s)", chat_id, error)
            return False

    async def end_for_absence(self, chat_id: str, *, fence: int | None = None) -> None:
        """The visitor has been gone for the grace period (the chat's poller says, with its fence)."""
        await self._end(chat_id, [model.message(model.SYSTEM, "", "The visitor left the chat.")], fence)

    async def end_by_contact_center(
        self, chat_id: str, before: list[NewEvent], *, fence: int | None = None
    ) -> None:
        await self._end(chat_id, before, fence)

    async def _end(self, chat_id: str, before: list[NewEvent], fence: int | None = None) -> Chat | None:
        """End the chat if it is open; return it as it was, or None if it had ended already."""
        # Queued first, then active: whether it was waiting decides whether the queue moves, and only the
        # write that ended it knows (a read before could see it queued just before an agent accepted it).
        for state in OPEN_STATES:
            try:
                appended = await self.append(
                    chat_id,
                    [*before, model.state(ENDED)],
                    changes={"state": ENDED, "ended_at": model.now_ms()},
                    require_states=[state],
                    fence=fence,
                )
            except WrongState as error:
                if error.chat.state == ENDED:
                    return None
                continue
            chat = appended.chat
            self.presence.keep(chat_id)
            if state == QUEUED and chat.backend == "local":
                self.queue.left(chat)
            return chat
        return None

    async def _call_adapter(self, chat: Chat, call: Callable[[Adapter], Awaitable[None]]) -> None:
        """Best-effort calls (typing, visits, end): a failure is logged, never shown to the visitor."""
        adapter = self._adapter_for(chat.site)
        if adapter.name == "local":
            return
        try:
            await call(adapter)
        except BackendError as error:
            log.info("chat %s: %s backend: %s", chat.id, chat.backend, error.detail)

    # --- what pollers report ---------------------------------------------------------------------------

    async def backend_typing(self, chat: Chat, name: str, active: bool) -> None:
        """An agent at the contact center is typing (not stored)."""
        await self.bus.publish(
            chat_channel(chat.id), {"t": "typing", "from": model.AGENT, "name": name, "active": active}
        )

    async def backend_queue(self, chat: Chat, position: int) -> None:
        """The contact center says where the chat is in its queue (not stored)."""
        await self.bus.publish(chat_channel(chat.id), {"t": "queue", "position": position})

    async def backend_unavailable(self, chat_id: str) -> None:
        """The contact center has been failing for a while: the visitor's tabs are told that their
        messages are kept and will follow."""
        await self.bus.publish(
            chat_channel(chat_id), {"t": "error", "code": "backend_unavailable", "id": None}
        )

    async def not_delivered(self, chat_id: str, client_id: str) -> None:
        """The contact center refused this visitor message for good: tell the visitor's tabs."""
        await self.bus.publish(
            chat_channel(chat_id), {"t": "error", "code": "not_delivered", "id": client_id}
        )

    async def from_contact_center(
        self,
        chat: Chat,
        reported: Polled,
        *,
        dedupe_key: str | None = None,
        seen: Sequence[Event] | None = None,
    ) -> bool:
        """Agent activity a contact center pushed (a webhook): the events go into the log, typing to the
        visitor, and an end ends the chat. ``dedupe_key`` makes a webhook delivered twice count once (it
        becomes the first event's client id). Returns whether anything new was stored. A webhook moves no
        cursor (``reported.cursor`` is ignored): the chat's ``backend_state`` belongs to its poller.

        Webhooks of one chat may land at once on several processes, each deciding from the log it read
        (``seen``) whether an agent is new. So an agent's arrival (the leading ``joined`` events, and
        ``active`` with them) is stored on its own, each ``joined`` with a client id naming the agent and
        how many times the log had seen them join: of two deliveries that both saw the agent absent, the
        database stores one arrival, and both store their messages after it."""
        for name, active in reported.typing:
            await self.backend_typing(chat, name, active)
        events = list(reported.events)
        if reported.ended:
            events.append(model.state(ENDED))
        if not events:
            return False
        arrival: list[NewEvent] = []
        while events and (
            events[0].kind == model.JOINED
            or (events[0].kind == model.STATE and events[0].data["state"] == ACTIVE)
        ):
            arrival.append(events.pop(0))
        arrived = False
        if arrival:
            if seen is None:
                seen = await self.store.events_after(chat.id, 0)
            joins = Counter(e.data["name"] for e in seen if e.kind == model.JOINED)
            arrival = [
                replace(e, client_id=f"join:{joins[e.data['name']]}:{e.data['name']}")
                if e.kind == model.JOINED
                else e
                for e in arrival
            ]
            try:
                arrived = await self._store_reported(chat.id, arrival)
            except WrongState:
                return False  # ended here already: what the contact center says now no longer matters
        if not events:
            return arrived
        if dedupe_key is not None:
            events[0] = replace(events[0], client_id=f"hook:{dedupe_key}")
        try:
            return await self._store_reported(chat.id, events) or arrived
        except WrongState:
            return arrived

    async def _store_reported(self, chat_id: str, events: list[NewEvent]) -> bool:
        changes: dict[str, Any] = {}
        states = [e.data["state"] for e in events if e.kind == model.STATE]
        if states:
            changes["state"] = states[-1]
            if states[-1] == ENDED:
                changes["ended_at"] = model.now_ms()
        appended = await self.append(chat_id, events, changes=changes, require_states=OPEN_STATES)
        return appended.new

    async def mark_read(self, chat_id: str) -> None:
        """An agent read an offline message: it is read for every agent (and in the history API)."""
        chat = await self.get_chat(chat_id)
        if chat.meta.get("unread"):
            await self.store.update_chat(chat_id, {"meta": {**chat.meta, "unread": False}})
            changed = replace(chat, meta={**chat.meta, "unread": False})
            await self.bus.publish(CONSOLE, await self._console_chat(changed))

    async def agent_read(self, chat_id: str, seq: int) -> None:
        """An agent has seen the chat up to ``seq`` (the console's numbering): stored first, then its
        visitor's sockets, in any process, are told how far (a `read` frame, in the visitor's numbering)."""
        mark = await self.store.agent_read(chat_id, seq)  # ChatNotFound: no such chat
        if mark is not None:
            await self.bus.publish(chat_channel(chat_id), {"t": "read", "seq": mark})

    async def deleted(self, chat_ids: Sequence[str]) -> None:
        """Chats an operator deleted: their visitors' sockets are closed (a resume is then refused), and a
        poller bridging one stops (in another process, on the same ``close`` message)."""
        for chat_id in chat_ids:
            await self.files.remove_all(chat_id)
            await self.bus.publish(chat_channel(chat_id), {"t": "close", "code": 1000, "reason": "deleted"})
            poller = self.pollers.get(chat_id)
            if poller is not None:
                await poller.stop()

    async def poller_finished(self, poller: Poller) -> None:
        await self.pollers.finished(poller)

    # --- the agent's side (built-in contact center) ----------------------------------------------------

    async def audit(self, actor: model.Actor, action: str, chat: Chat, **detail: Any) -> None:
        """Record what someone did in a chat (``chat.accept``, ``chat.note``, ...), after it is stored: the
        audit log names the chat and its site, never what was written (that stays in the chat, where
        deleting the chat deletes it)."""
        await self.store.add_audit(model.AuditEntry.of(actor, action, chat.id, site=chat.site, **detail))

    async def accept(
        self, chat_id: str, agent: User, actor: model.Actor | None = None, *, capacity: int | None = None
    ) -> Chat:
        """An agent takes a queued chat; exactly one of several agents accepting at once gets it.
        ``actor``: who did it, for the audit log (the agent through the console unless said otherwise).
        ``capacity``: only while the agent has fewer active chats (round robin; an agent's own Accept
        has no limit), else ``no_room``."""
        try:
            appended = await self.append(
                chat_id,
                [model.joined(agent.display_name), model.state(ACTIVE)],
                changes={"state": ACTIVE, "agent": agent.name, "agent_name": agent.display_name},
                require_states=[QUEUED],
                room_for=(agent.name, capacity) if capacity is not None else None,
            )
        except NoRoom:
            raise ServiceError("no_room", f"{agent.display_name} has no room for another chat.") from None
        except WrongState as error:
            if error.chat.state == ACTIVE:
                raise ServiceError("taken", "Another agent has already accepted this chat.") from None
            raise ServiceError("chat_ended", "This chat has ended.") from None
        self.presence.keep(chat_id)
        self.queue.left(appended.chat)
        if appended.new:
            await self.audit(actor or console_actor(agent), "chat.accept", appended.chat)
        return appended.chat

    async def agent_say(self, chat_id: str, agent: User, client_id: str, text: str) -> Appended:
        chat = await self.get_chat(chat_id)
        if chat.agent != agent.name:
            raise ServiceError("not_yours", "Accept the chat before replying.")
        try:
            return await self.append(
                chat_id,
                [model.message(model.AGENT, agent.display_name, text, f"agent:{client_id}")],
                require_states=[ACTIVE],
            )
        except WrongState:
            raise ServiceError("chat_ended", "This chat has ended.") from None

    async def add_note(
        self, chat_id: str, agent: User, client_id: str, text: str, actor: model.Actor | None = None
    ) -> Appended:
        """An agent's internal note in a chat of the built-in contact center, in any state and by any agent
        (a colleague may leave one for the agent in the chat, or after it ended). Stored in the log and
        published to the consoles only; idempotent by the console's client id."""
        chat = await self.get_chat(chat_id)
        if chat.deleted_at is not None:
            raise ChatNotFound(chat_id)
        if chat.backend != "local":
            # Its log is mirrored from another contact center, and no console shows it.
            raise ServiceError(
                "unsupported", "Notes can be added only to chats of the built-in contact center."
            )
        appended = await self.append(chat_id, [model.note(agent.display_name, text, client_id)])
        if appended.new:
            await self.audit(actor or console_actor(agent), "chat.note", chat, seq=appended.events[0].seq)
        return appended

    async def join_silently(self, chat_id: str, user: User, actor: model.Actor | None = None) -> Chat:
        """A supervisor joins an open chat of the built-in contact center without the visitor knowing:
        an agents-only ``watch`` event in the log (the consoles show who is watching; the visitor's
        view, and anything it reaches, leaves it out), and an audit entry. Joining a chat one watches
        already adds nothing."""
        if not roles.supervises(user):
            raise ServiceError("not_allowed", "Only supervisors and operators can join a chat silently.")
        chat = await self.get_chat(chat_id)
        if chat.deleted_at is not None:
            raise ChatNotFound(chat_id)
        if chat.backend != "local" or chat.type != "chat":
            raise ServiceError("unsupported", "Only chats of the built-in contact center can be joined.")
        if chat.agent == user.name and chat.state == ACTIVE:
            raise ServiceError("same_agent", "This chat is yours already.")
        if user.name in watchers(await self.store.events_after(chat_id, 0), chat.agent):
            return chat
        try:
            appended = await self.append(
                chat_id, [model.watch(user.name, user.display_name)], require_states=OPEN_STATES
            )
        except WrongState:
            raise ServiceError("chat_ended", "This chat has ended.") from None
        await self.audit(actor or console_actor(user), "chat.join_silently", appended.chat)
        return appended.chat

    async def agent_typing(self, chat_id: str, agent: User, active: bool) -> None:
        chat = await self.get_chat(chat_id)
        if chat.agent != agent.name or chat.state != ACTIVE:
            return
        message = {"t": "typing", "from": model.AGENT, "name": agent.display_name, "active": active}
        await self.bus.publish(chat_channel(chat_id), message)
        await self.bus.publish(CONSOLE, {**message, "chat": chat_id})

    async def end_by_agent(self, chat_id: str, agent: User, actor: model.Actor | None = None) -> None:
        chat = await self.get_chat(chat_id)
        if chat.agent not in (None, agent.name) and not roles.supervises(agent):
            raise ServiceError("not_yours", "Only the agent in this chat or a supervisor can end it.")
        ended = await self._end(chat_id, [model.left(agent.display_name)] if chat.agent == agent.name else [])
        if ended is not None:
            await self.audit(actor or console_actor(agent), "chat.end", ended)

    # --- who is there ---------------------------------------------------------------------------------

    async def widget_expanded(self, chat: Chat, expanded: bool) -> None:
        """The visitor opened or minimised the widget: for contact centers that want to know (Omnidesk)."""
        adapter = self._adapter_for(chat.site)
        tell = getattr(adapter, "widget_expanded", None)
        if tell is not None:
            await self._call_adapter(chat, lambda _: tell(chat, expanded))

    async def update_visitor(
        self, chat: Chat, email: str | None, user_data: Mapping[str, str | None]
    ) -> None:
        """The host page changed the visitor's email or attributes during the chat (``protocol.Update``):
        stored with the chat's visitor, then shown to the consoles. Attributes merge (None removes one);
        an update that changes nothing writes nothing (pages repeat theirs on every page view). Contact
        centers take the visitor once: GWS at RequestChat, HelpCrunch and Omnidesk with the visitor's
        first message (so a change before it goes along); none documents a call to change them later."""
        changes: dict[str, Any] = {}
        # An email the site vouched for (a verified identity) is not the page's to change unsigned.
        vouched = chat.visitor.verified is not None and "email" in chat.visitor.verified
        if email is not None and email != chat.visitor.email and not vouched:
            changes["email"] = email
        merged = merge_user_data(chat.visitor.user_data, user_data)
        if merged != chat.visitor.user_data:
            changes["userData"] = merged
        if not changes:
            return
        changed = await self.store.edit_chat(chat.id, visitor=changes)
        if changed.backend == "local":
            await self.bus.publish(CONSOLE, await self._console_chat(changed))

    async def visitor_attached(self, chat: Chat) -> None:
        if await self.presence.visitor_came(chat.id):
            # The chat's poller hears it wherever it runs (Poller._on_bus: visitor_back).
            await self.bus.publish(chat_channel(chat.id), {"t": "presence", "online": True})
            await self.bus.publish(CONSOLE, {"t": "presence", "chat": chat.id, "online": True})

    async def visitor_detached(self, chat_id: str) -> None:
        if not await self.presence.visitor_went(chat_id):
            return
        # The poller, wherever it runs, keeps going for the grace period, then ends the chat.
        await self.bus.publish(chat_channel(chat_id), {"t": "presence", "online": False})
        if self.pollers.get(chat_id) is not None:
            return
        await self.bus.publish(CONSOLE, {"t": "presence", "chat": chat_id, "online": False})
        self.presence.abandon_later(chat_id)

    async def _abandon(self, chat_id: str) -> None:
        """A queued chat whose visitor has been away too long (Presence): it ends as missed."""
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state != QUEUED or chat.backend != "local":
            return
        log.info("chat %s: the visitor left the queue", chat_id)
        await self._end(
            chat_id, [model.message(model.SYSTEM, "", "The visitor left before an agent answered.")]
        )

    async def recover(self) -> None:
        """On start: queued chats of the built-in contact center whose visitors do not come back are
        abandoned as usual; chats on polling contact centers get their pollers back (which resume at the
        stored cursor and deliver what was not delivered) in the first sweep, and the sweeper starts."""
        for chat in await self.store.list_chats(states=[QUEUED], limit=1_000_000):
            if chat.backend == "local":
                self.presence.abandon_later(chat.id)
        await self.sweep(first=True)
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_every(self.pollers.settings.sweep_interval))

    async def sweep(self, *, first: bool = False) -> None:
        """Adopt the open chats on polling contact centers that no process polls (their process died, or
        stopped): each gets a poller here if this process wins its lease."""
        # Only polling contact centers' chats: listing (and decoding) every open chat of the built-in one
        # every two seconds was 3 to 5 % of the server's CPU with 5,000 chats open (py-spy).
        open_chats = await self.store.list_chats(
            states=list(OPEN_STATES), backends=POLLING_BACKENDS, limit=1_000_000
        )
        chats = [chat for chat in open_chats if not self.pollers.running(chat.id)]
        if not chats:
            return
        held = await self.pollers.leases.held([chat.id for chat in chats])  # one question for all
        for chat in chats:
            if chat.id in held:
                continue
            try:
                adapter = self._adapter_for(chat.site)
            except KeyError:
                if first:  # once a start, not every sweep
                    log.warning("chat %s: its site %s is gone; leaving it", chat.id, chat.site)
                continue
            await self.pollers.ensure(chat, adapter)

    async def _sweep_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception as error:  # the store or Redis away: the next sweep tries again
                log.warning("could not look for chats without a poller: %s", error)

    # --- housekeeping ---------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.pollers.close()
        await self.presence.close()
        await self.roster.close()
        await self.queue.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
