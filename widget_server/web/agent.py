"""The agent console of the built-in contact center: login, the console page, and its websocket.

The console's websocket protocol (JSON text frames, like the visitor's):

console -> server: ``accept {chat}``, ``say {chat, id, text}``, ``note {chat, id, text}`` (an internal
note: for agents only, never for the visitor), ``typing {chat, active}``, ``end {chat}``,
``history {chat, after}``, ``read {chat}`` (an offline message was read: for every agent), ``read {chat,
seq}`` (this console shows the chat up to ``seq``: its visitor's messages until there are "Seen"), ``earlier
{chat}`` (the chat's visitor's earlier chats), ``transfer {chat, to, note?}`` (hand the chat to
the colleague named ``to``, widget_server/transfers.py; answered by ``transferred {chat, to, id?}``),
``join {chat}`` (a supervisor joins the chat silently: a ``watch`` event, for agents only; answered by
``watching {chat, id?}``), ``take_over {chat}`` (a supervisor makes the chat theirs: a transfer to
themselves, answered by ``transferred``),
``status {status}`` (this agent's status: ``online``,
``away`` or ``offline``, widget_server/agent_status.py), ``ping``; any of them may carry an ``id``, which
errors repeat.

server -> console: ``hello {me, sites, chats, team}`` first (open and recent chats of the built-in contact
center, and the recent offline messages of every site; ``me`` with this agent's ``status``, ``team``
every user's ``{name, displayName, status}``), and again whenever the bus may have lost
messages (a Redis reconnect): the console takes every ``hello`` as a reload of its lists and asks for the
``history`` of the transcripts it holds; then ``chat {chat}`` when a chat appears or
changes, ``event {chat, seq, at, kind, ...}`` for every stored event of a built-in-contact-center chat
(``note`` events included: ``name``, ``text`` and the ``id`` the console gave),
``typing {chat, name, active}`` for the visitor, ``presence {chat, online}``,
``history {chat, summary, events}`` answering ``history``, ``earlier {chat, chats, more}`` answering
``earlier`` (chats of the same site created before it by the same browser, ``Visitor.key``, or with the
same email, newest first: each a summary with ``firstMessage``; ``more``: there are older ones),
``canned`` (the shared canned responses or this agent's own changed: fetch them again, web/canned.py),
``agent {agent}`` when a user's status (as colleagues see it) changes, ``ack {id, chat, seq}``,
``error {code, message, id?, chat?, field?}`` (the visitor protocol's codes, and ``not_found``: no such
chat, ``taken``: another agent accepted it, ``not_yours``: accept it first; ``unsupported``: a note in a
chat of another contact center; ``not_allowed``: the frame is for supervisors), ``pong``.

What a console receives and may reach is its user's ``Scope`` (widget_server/roles.py): an agent in a
team gets only the chats of their teams' sites, in ``hello``, live, and in every answer; a frame about
another chat is answered ``not_found``, as for a chat that does not exist. A chat is its
``Chat.summary()`` plus ``online``. The console keeps the last ``seq`` it has of each chat it shows and
asks for ``history`` when it sees a gap. Its ``seq`` numbers the whole log, notes included; the visitor's
numbering leaves notes out (model.py), so the two differ once a chat has a note.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.websockets import WebSocket

from widget_server import json_input, logs, metrics, model, protocol, transfers
from widget_server.agent_status import Member
from widget_server.bus import Message
from widget_server.chat_service import CONSOLE, ServiceError
from widget_server.json_output import dumps
from widget_server.model import ACTIVE, AGENT_STATUSES, ENDED, OFFLINE, ONLINE, QUEUED, User
from widget_server.passwords import verify_password
from widget_server.ratelimit import TokenBucket
from widget_server.runtime import Runtime
from widget_server.store import ChatNotFound
from widget_server.web.attachments import agent_url, file_frame
from widget_server.web.pages import render
from widget_server.web.security import (
    LoginThrottle,
    csrf_ok,
    csrf_token,
    is_same_origin,
    log_in,
    log_out,
    session_user,
)
from widget_server.web.ws_protocol import CONSOLE_OUTBOX_BYTES, CONSOLE_OUTBOX_FRAMES, TOO_SLOW

log = logging.getLogger(__name__)

RECENT_ENDED = 30
RECENT_MESSAGES = 100
EARLIER_SHOWN = 20  # a visitor's earlier chats beside the one open
_ROUTING = ("transfer", "take_over")  # frames of widget_server/transfers.py
_CHAT_FRAMES = ("accept", "say", "note", "typing", "end", "history", "read", "earlier", "join", *_ROUTING)


def _runtime(request: Request | WebSocket) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def login_page(request: Request) -> Response:
    runtime = _runtime(request)
    next_url = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return render(request, "login.html", {"next": next_url, "csrf": csrf_token(request)})
    form = await request.form(max_files=0)  # text fields only: never spool a file to disk
    ip = request.client.host if request.client else "?"
    name = str(form.get("name", ""))[:64]
    context = {"next": next_url, "csrf": csrf_token(request), "name": name}
    if not csrf_ok(request, form):
        return render(request, "login.html", {**context, "error": "The form expired; please try again."}, 400)
    throttle: LoginThrottle = request.app.state.login_throttle
    if await throttle.blocked(ip, name):
        log.warning("login throttled: name=%r ip=%s", name, ip)
        return render(
            request, "login.html", {**context, "error": "Too many attempts. Wait a few minutes."}, 429
        )
    user = await runtime.store.get_user(name)
    password = str(form.get("password", ""))
    if user is None or not verify_password(user.password_hash, password):
        await throttle.failed(ip, name)
        log.info("login failed: name=%r ip=%s", name, ip)
        return render(request, "login.html", {**context, "error": "Wrong name or password."}, 401)
    log_in(request, user)
    log.info("login: %s from %s", user.name, ip)
    if user.status == OFFLINE:  # signed out (or chose offline) last time: a sign-in starts the day
        await runtime.service.roster.set_status(user.name, ONLINE)
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form(max_files=0)  # text fields only: never spool a file to disk
    if csrf_ok(request, form):
        runtime = _runtime(request)
        user = await log_out(request, runtime.store)
        if user is not None:  # signed out everywhere: offline at once, not away after a while
            await runtime.service.roster.set_status(user.name, OFFLINE)
    return RedirectResponse("/agent/login", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only our own paths: a login link must not send people to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/agent"


async def console_page(request: Request) -> Response:
    user = await session_user(request, _runtime(request).store)
    if user is None:
        return RedirectResponse("/agent/login?next=/agent", status_code=303)
    return render(request, "agent.html", {"user": user, "csrf": csrf_token(request)})


async def console_socket(websocket: WebSocket) -> None:
    logs.bind(client=websocket.client.host if websocket.client else None)
    runtime = _runtime(websocket)
    user = await session_user(websocket, runtime.store)
    if user is None or not is_same_origin(websocket):
        log.warning(
            "refused console websocket: user=%s origin=%r",
            user.name if user else None,
            websocket.headers.get("origin"),
        )
        await websocket.close(1008)
        return
    await AgentConnection(websocket, runtime, user).run()


class AgentConnection:
    def __init__(self, websocket: WebSocket, runtime: Runtime, user: User) -> None:
        self.ws = websocket
        self.runtime = runtime
        self.service = runtime.service
        self.user = user
        client = websocket.client
        self.actor = model.Actor(user.name, "console", client.host if client else None)
        #: Chats this console was shown (``hello``, ``chat``): a console that sees only some sites gets
        #: typing and presence (which name no site) for these only.
        self._shown: set[str] = set()
        self._outbox: deque[str] = deque()
        self._outbox_bytes = 0
        self._too_slow = False
        self._closing: asyncio.Future[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._frames = TokenBucket(rate=50, burst=200)
        self._reload: asyncio.Task[None] | None = None
        #: Frames from the bus before the first ``hello`` is out (the bus is subscribed to before the
        #: hello's reads, so that nothing falls between): sent after it, as the protocol promises.
        self._before_hello: list[dict[str, Any]] | None = []

    async def run(self) -> None:
        await self.ws.accept()
        unsubscribe = await self.runtime.bus.subscribe(CONSOLE, self._on_bus)
        roster = self.service.roster
        await roster.console_opened(self.user.name)
        unwatch: Callable[[], None] | None = None
        metrics.AGENT_SOCKETS.inc()
        try:
            await self._hello()
            unwatch = roster.watch(self._on_roster)  # from the roster the hello showed: nothing in between
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self._receive(message.get("text"))
        finally:
            metrics.AGENT_SOCKETS.dec()
            if unwatch is not None:
                unwatch()
            roster.console_closed(self.user.name)
            await unsubscribe()

    async def _hello(self) -> None:
        scope = self.runtime.scope_of(self.user)
        local = [site.id for site in self.runtime.sites.all() if site.backend == "local"]
        local_sites = scope.narrow(local)
        # Open chats of every local site, then those in sight: a chat transferred to a team (Chat.team) is the
        # team's, whichever site it began on. The open chats are few; the ended ones are read by site.
        open_chats = await self.runtime.store.list_chats(sites=local, states=[QUEUED, ACTIVE], limit=5000)
        open_chats = [chat for chat in open_chats if scope.sees(chat)]
        ended = await self.runtime.store.list_chats(
            sites=local_sites, states=[ENDED], limit=RECENT_ENDED, newest_first=True
        )
        ended = [chat for chat in ended if scope.sees(chat)]
        # Offline messages of every site (it sees), whatever its backend: agents answer them by email.
        keys = await self.runtime.store.find_chat_keys(
            types=[model.OFFLINE_MESSAGE], sites=scope.narrow(None), limit=RECENT_MESSAGES
        )
        found = await self.runtime.store.get_chats([chat_id for _, chat_id in keys])
        messages = [found[chat_id] for _, chat_id in reversed(keys) if chat_id in found]
        listed = [*open_chats, *reversed(ended), *messages]
        online = await self.service.presence.online_among(chat.id for chat in listed)
        chats = [{**chat.summary(), "online": chat.id in online} for chat in listed]
        self._shown.update(chat.id for chat in listed)
        roster = self.service.roster
        me = {
            "name": self.user.name,
            "displayName": self.user.display_name,
            "role": self.user.role,
            "status": roster.status_of(self.user.name) or self.user.status,
        }
        sites = {site.id: site.name for site in self.runtime.sites.all()}
        members = [member.to_json() for member in roster.members()]
        teams = [{"id": team.id, "name": team.name} for team in self.runtime.config.teams.values()]
        self.send(
            {"type": "hello", "me": me, "sites": sites, "chats": chats, "team": members, "teams": teams}
        )
        held, self._before_hello = self._before_hello, None
        for frame in held or ():
            self.send(frame)

    def _on_roster(self, changed: list[Member]) -> None:
        for member in changed:
            self.send({"type": "agent", "agent": member.to_json()})

    async def _hello_again(self) -> None:
        """After a bus resync: a new ``hello``, as after a reconnect, and the console reloads from it."""
        try:
            await self._hello()
        except Exception:
            log.exception("could not reload the console of %s after a bus resync", self.user.name)

    def _on_bus(self, message: Message) -> None:
        kind = message["t"]
        scope = self.runtime.scope_of(self.user)
        if kind == "resync":
            if self._reload is None or self._reload.done():
                self._reload = asyncio.ensure_future(self._hello_again())
        elif kind == "event":
            if not scope.sees_chat(message.get("site", ""), message.get("team")):
                return
            event = model.Event.from_json(message["e"])
            self.send({**_console_frame(event), "type": "event", "chat": event.chat_id})
        elif kind == "chat":  # with "online", read once by the process that published it
            chat = message["chat"]
            if not scope.sees_chat(chat["site"], chat.get("team")):
                if chat["id"] in self._shown:  # transferred to another team: out of this console's sight
                    self._shown.discard(chat["id"])
                    self.send({"type": "gone", "chat": chat["id"]})
                return
            self._shown.add(message["chat"]["id"])
            self.send({"type": "chat", "chat": message["chat"]})
        elif kind in ("typing", "presence") and not scope.everything and message["chat"] not in self._shown:
            return
        elif kind == "typing" and message["from"] == model.VISITOR:
            self.send(
                {
                    "type": "typing",
                    "chat": message["chat"],
                    "name": message["name"],
                    "active": message["active"],
                }
            )
        elif kind == "presence":
            self.send({"type": "presence", "chat": message["chat"], "online": message["online"]})
        elif kind == "canned" and message.get("owner") in (None, self.user.name):
            self.send({"type": "canned"})  # never another agent's own: not even that they changed

    async def _receive(self, text: str | None) -> None:
        frame_id = None
        try:
            if not self._frames.allow():
                raise ServiceError("rate_limited", "Too many frames; slow down.")
            frame = _parse(text)
            frame_id = frame.get("id")
            await self._handle(frame)
        except ServiceError as error:
            self.send(protocol.error_frame(error.code, error.message, id=frame_id))
        except protocol.FrameError as error:
            if error.id is None:
                error.id = _short_text(frame_id)  # so that the console knows which of its frames failed
            self.send(error.frame())
        except ChatNotFound:
            self.send(protocol.error_frame("not_found", "There is no such chat.", id=frame_id))
        except Exception:
            log.exception("console frame from %s failed", self.user.name)
            self.send(
                protocol.error_frame("internal_error", "Something went wrong; please try again.", id=frame_id)
            )

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            self.send(protocol.PONG)
            return
        if kind == "status":
            status = frame.get("status")
            if status not in AGENT_STATUSES:
                choices = ", ".join(f"'{choice}'" for choice in AGENT_STATUSES)
                raise protocol.FrameError(
                    "invalid_field", f"The field 'status' must be one of {choices}.", field="status"
                )
            await self.service.roster.set_status(self.user.name, status)  # every console hears `agent`
            return
        if kind not in _CHAT_FRAMES:
            raise protocol.FrameError("unknown_type", f"Unknown frame type {kind[:40]!r}.")
        chat_id = _text(frame, "chat", 1, 64)
        scope = self.runtime.scope_of(self.user)
        if not scope.everything and not scope.sees(await self.service.get_chat(chat_id)):
            raise ChatNotFound(chat_id)  # another team's chat: as if there were none
        if kind == "accept":
            await self.service.accept(chat_id, self.user, self.actor)
        elif kind == "say":
            client_id = _text(frame, "id", 1, protocol.MAX_CLIENT_ID)
            text = _text(frame, "text", 1, protocol.MAX_TEXT)
            appended = await self.service.agent_say(chat_id, self.user, client_id, text)
            self.send({"type": "ack", "id": client_id, "chat": chat_id, "seq": appended.events[0].seq})
        elif kind == "note":
            # Checked as a message is: the same client ids, the same length and emptiness rules.
            client_id = _text(frame, "id", 1, protocol.MAX_CLIENT_ID)
            text = _text(frame, "text", 1, protocol.MAX_TEXT)
            appended = await self.service.add_note(chat_id, self.user, client_id, text, self.actor)
            self.send({"type": "ack", "id": client_id, "chat": chat_id, "seq": appended.events[0].seq})
        elif kind == "typing":
            active = frame.get("active")
            if not isinstance(active, bool):
                raise protocol.FrameError(
                    "invalid_field", "The field 'active' must be true or false.", field="active"
                )
            await self.service.agent_typing(chat_id, self.user, active)
        elif kind == "end":
            await self.service.end_by_agent(chat_id, self.user, self.actor)
        elif kind == "transfer":
            await self._transfer(chat_id, frame)
        elif kind == "take_over":
            chat = await transfers.take_over(self.service, chat_id, self.user, self.actor)
            self._answer(frame, {"type": "transferred", "chat": chat_id, "to": chat.agent})
        elif kind == "join":
            await self.service.join_silently(chat_id, self.user, self.actor)
            self._answer(frame, {"type": "watching", "chat": chat_id})
        elif kind == "read":
            seq = frame.get("seq")
            if seq is None:  # an offline message opened
                await self.service.mark_read(chat_id)
            elif isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1:
                await self.service.agent_read(chat_id, seq)  # seen up to there: the visitor's receipt
            else:
                raise protocol.FrameError(
                    "invalid_field", "The field 'seq' must be a whole number from 1.", field="seq"
                )
        elif kind == "earlier":
            await self._earlier(chat_id)
        elif kind == "history":
            after = frame.get("after", 0)
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                raise protocol.FrameError(
                    "invalid_field", "The field 'after' must be a whole number.", field="after"
                )
            chat = await self.service.get_chat(chat_id)
            online = await self.service.presence.visitor_online(chat_id)
            events = await self.runtime.store.events_after(chat_id, after)
            self.send(
                {
                    "type": "history",
                    "chat": chat_id,
                    "summary": {**chat.summary(), "online": online},
                    "events": [_console_frame(event) for event in events],
                }
            )

    async def _transfer(self, chat_id: str, frame: dict[str, Any]) -> None:
        """Hand the chat to a colleague (``to``) or a team (``team``) (widget_server/transfers.py); the
        note is checked as a note is."""
        note = _text(frame, "note", 1, protocol.MAX_TEXT) if frame.get("note") not in (None, "") else None
        client_id = _short_text(frame.get("id"))
        if frame.get("team") is not None:
            if frame.get("to") is not None:
                raise protocol.FrameError(
                    "invalid_field", "Give either 'to' (a colleague) or 'team', not both.", field="team"
                )
            team_id = _text(frame, "team", 1, 64)
            teams = self.runtime.config.teams
            chat = await transfers.transfer_to_team(
                self.service, chat_id, self.user, team_id, teams, note, client_id, self.actor
            )
            self._answer(frame, {"type": "transferred", "chat": chat_id, "team": chat.team})
            return
        to = _text(frame, "to", 1, 64)
        target = await self.runtime.store.get_user(to)
        sees = target is None or self.runtime.scope_of(target).sees(await self.service.get_chat(chat_id))
        chat = await transfers.transfer(
            self.service, chat_id, self.user, to, note, client_id, self.actor, target_sees=sees
        )
        self._answer(frame, {"type": "transferred", "chat": chat_id, "to": chat.agent})

    def _answer(self, frame: dict[str, Any], answer: dict[str, Any]) -> None:
        """Send an answer, with the frame's ``id`` if it had a usable one."""
        client_id = _short_text(frame.get("id"))
        self.send({**answer, "id": client_id} if client_id is not None else answer)

    async def _earlier(self, chat_id: str) -> None:
        chat = await self.service.get_chat(chat_id)
        found = await self.runtime.store.find_visitor_chats(
            chat.site,
            key=chat.visitor.key,
            email=chat.visitor.email,
            before=(chat.created_at, chat.id),
            limit=EARLIER_SHOWN + 1,
        )
        shown = found[:EARLIER_SHOWN]
        first = await self.runtime.store.first_messages([other.id for other in shown])
        chats = [
            {
                **other.summary(),
                "firstMessage": model.preview_of(first[other.id]) if other.id in first else None,
            }
            for other in shown
        ]
        self.send({"type": "earlier", "chat": chat_id, "chats": chats, "more": len(found) > EARLIER_SHOWN})

    # --- ordered sending ------------------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        if self._before_hello is not None and frame["type"] != "hello":
            self._before_hello.append(frame)
            return
        if self._too_slow:
            return
        text = dumps(frame)
        self._outbox.append(text)
        self._outbox_bytes += len(text)
        if len(self._outbox) > CONSOLE_OUTBOX_FRAMES or self._outbox_bytes > CONSOLE_OUTBOX_BYTES:
            # A console that does not read (a frozen tab): it reloads everything when it reconnects.
            log.warning("closing the console of %s: it does not read its frames", self.user.name)
            self._too_slow = True
            self._outbox.clear()
            self._outbox_bytes = 0
            self._closing = asyncio.ensure_future(self.ws.close(TOO_SLOW, "too slow: reconnect"))
            return
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox:
                text = self._outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.ws.send_text(text)
        except Exception:
            self._outbox.clear()
            self._outbox_bytes = 0
        finally:
            self._drainer = None


def _console_frame(event: model.Event) -> dict[str, Any]:
    frame = event.frame()
    if event.kind == model.ATTACHMENT:
        return file_frame(frame, agent_url(event.chat_id, event.data["file"]["id"]))
    return frame


def _short_text(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= protocol.MAX_CLIENT_ID else None


def _parse(text: str | None) -> dict[str, Any]:
    if text is None:
        raise protocol.FrameError("bad_frame", "Binary frames are not supported.")
    if len(text) > protocol.MAX_FRAME_BYTES:
        raise protocol.FrameError("too_large", f"A frame may be at most {protocol.MAX_FRAME_BYTES} bytes.")
    try:
        frame = json_input.parse(text)
    except json_input.InvalidJSON as error:
        raise protocol.FrameError("bad_frame", str(error).replace("The JSON", "The frame")) from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise protocol.FrameError("bad_frame", "A frame must be a JSON object with a 'type'.")
    return frame


def _text(frame: dict[str, Any], name: str, min_len: int, max_len: int) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not (min_len <= len(value.strip() or "") and len(value) <= max_len):
        raise protocol.FrameError(
            "invalid_field",
            f"The field '{name}' must be text of {min_len} to {max_len} characters.",
            field=name,
        )
    return value
