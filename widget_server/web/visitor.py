"""One visitor's websocket: wire protocol v1 between a browser tab and the chat service.

The gate (gate.py) has already admitted the connection. From here on every frame is parsed by the pure
protocol module, every refusal is an ``error`` frame, and the connection stays usable after any
recoverable error; only sustained abuse closes it (1008).

Outgoing frames go through one ordered queue per connection, drained by a task that exists only while
there is something to send. Events are sent strictly in ``seq`` order without gaps or repeats: an event
that arrives ahead of its predecessors (published out of order, or by another process) makes the
connection read the missing ones from the store first. That is how "after seq N" resumes exactly.

The ``seq`` a visitor sees is the event's ``visitor_seq`` (model.py): agents' internal notes are in the
chat's log but not in the visitor's view of it, which is numbered without them, so it has no gaps either.
A note is kept from a visitor three times over: never published on the chat's channel, left out by the
store's visitor reads, and refused by ``_deliver`` should one reach it anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.websockets import WebSocket

from widget_server import identity, json_input, logs, metrics, model, protocol
from widget_server.bus import Message
from widget_server.chat_service import ChatEnded, ServiceError
from widget_server.config import Site
from widget_server.identity import VERIFIED_KEY_PREFIX, IdentityRefused, VerifiedIdentity
from widget_server.json_output import dumps
from widget_server.model import ATTACHMENT, ENDED, Chat, Event
from widget_server.queue_positions import Watch
from widget_server.ratelimit import TokenBucket
from widget_server.runtime import Runtime
from widget_server.store import ChatNotFound
from widget_server.tokens import InvalidToken
from widget_server.web.attachments import file_frame, visitor_url
from widget_server.web.hello import hello_for
from widget_server.web.ws_protocol import OUTBOX_BYTES, OUTBOX_FRAMES, TOO_SLOW

log = logging.getLogger(__name__)

#: A verified visitor's `earlier` lists this many of their chats, the newest.
EARLIER_SHOWN = 10

# Sustained abuse: this many refused frames within ABUSE_WINDOW seconds closes the connection.
ABUSE_LIMIT = 30
ABUSE_WINDOW = 10.0


class _CatchUp:
    """Queue marker: send every stored event after the last one sent."""


CATCH_UP = _CatchUp()


async def visitor_socket(websocket: WebSocket) -> None:
    connection = VisitorConnection(websocket, websocket.app.state.runtime)
    await connection.run()


class VisitorConnection:
    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.ws = websocket
        self.runtime = runtime
        self.service = runtime.service
        self.site: Site = websocket.scope["widget.site"]
        self.ip: str | None = websocket.scope["widget.ip"]
        self.origin: str | None = websocket.scope["widget.origin"]
        self.site_id = self.site.id
        self.user_agent = websocket.headers.get("user-agent")
        self.chat_id: str | None = None
        self.chat_state: str | None = None
        self.nickname = ""  # the chat's visitor's, for the messages they send
        self.last_seq = 0  # the last event sent, as the visitor numbers them (Event.visitor_seq)
        self._unsubscribe: Any = None
        self._queue_place: Watch | None = None  # while the chat waits in the built-in queue
        # Lists, not deques: an empty deque costs 760 bytes, and thousands of these wait idle.
        self._outbox: list[str | Event | _CatchUp] = []
        self._outbox_bytes = 0  # roughly: the text frames' length, an event's text and a little more
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False
        limits = self.site.limits
        self._frames = TokenBucket(limits.frames_per_second, limits.frame_burst)
        self._refusals: list[float] = []
        self._told_rate_limited = 0.0
        self._typing_active = False
        self._closing: asyncio.Future[None] | None = None

    # --- the read loop --------------------------------------------------------------------------------

    def send_hello(self) -> None:
        """`hello`: what the widget needs before anything else, sent first and again when availability
        changes (an agent comes or goes), so an open widget can switch between chat and offline form."""
        self.send(hello_for(self.runtime, self.site))

    def kick(self, code: int, reason: str) -> None:
        """Close from our side (a policy change no longer admits this visitor)."""
        self._closed = True
        self._closing = asyncio.ensure_future(self.ws.close(code, reason))

    async def run(self) -> None:
        logs.bind(site=self.site_id, client=self.ip)  # on every line this connection's task logs
        await self.runtime.live.add(self)
        metrics.VISITOR_SOCKETS.inc()
        try:
            await self._run()
        finally:
            metrics.VISITOR_SOCKETS.dec()
            await self.runtime.live.remove(self)

    async def _run(self) -> None:
        await self.ws.accept()
        self.send_hello()
        try:
            while not self._closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self._receive(message.get("text"), message.get("bytes"))
        finally:
            self._closed = True
            await self._detach()

    async def _receive(self, text: str | None, data: bytes | None) -> None:
        if not self._frames.allow():
            now = time.monotonic()
            if now - self._told_rate_limited > 1.0:  # one error a second, not one per dropped frame
                if self._told_rate_limited == 0.0:
                    log.info("site %s: visitor %s is over the frame rate limit", self.site.id, self.ip)
                self._told_rate_limited = now
                self.send(
                    protocol.error_frame("rate_limited", "Too many frames; slow down.", id=_frame_id(text))
                )
            await self._refused()
            return
        try:
            frame = protocol.parse_visitor_frame(text, data)
            await self._handle(frame)
        except protocol.FrameError as error:
            self.send(error.frame())
            await self._refused()
        except ServiceError as error:
            self.send(protocol.error_frame(error.code, error.message, id=_frame_id(text)))
        except ChatNotFound:
            self.chat_id = None
            self.send(protocol.error_frame("not_started", "This chat no longer exists; start a new one."))
        except Exception:
            # A bug of ours must not cost the visitor the connection, nor show them a traceback.
            log.exception("site %s: frame from %s failed", self.site.id, self.ip)
            self.send(
                protocol.error_frame(
                    "internal_error", "Something went wrong; please try again.", id=_frame_id(text)
                )
            )

    async def _refused(self) -> None:
        """Count a refused frame; close the connection (1008) if they keep coming."""
        now = time.monotonic()
        self._refusals = [t for t in self._refusals if t >= now - ABUSE_WINDOW]
        self._refusals.append(now)
        if len(self._refusals) >= ABUSE_LIMIT:
            log.warning("site %s: closing visitor %s for repeated invalid frames", self.site.id, self.ip)
            self._closed = True
            await self._flush()
            await self.ws.close(1008, "too many invalid frames")

    async def _handle(self, frame: protocol.VisitorFrame) -> None:
        match frame:
            case protocol.Ping():
                self.send(protocol.PONG)
            case protocol.Start():
                await self._start(frame)
            case protocol.Resume():
                await self._resume(frame)
            case protocol.Say():
                await self._say(frame)
            case protocol.Typing():
                chat = await self._open_chat()
                if frame.active != self._typing_active:
                    self._typing_active = frame.active
                    await self.service.visitor_typing(chat, frame.active)
            case protocol.Visit():
                chat = await self._open_chat()
                await self._guard_ended(self.service.visit(chat.id, frame.url))
            case protocol.End():
                chat = await self._attached_chat()
                await self.service.end_by_visitor(chat.id)
            case protocol.LeaveMessage():
                chat = await self.service.leave_message(
                    self.site,
                    frame,
                    ip=self.ip,
                    user_agent=self.user_agent,
                    visitor_key=self.runtime.tokens.visitor_key(frame.visitor, self.site.id),
                )
                self.send(protocol.ack_frame(frame.id, chat=chat.id, visitor=self._visitor_token(chat)))
            case protocol.Rate():
                chat = await self._attached_chat()
                await self.service.rate(chat.id, frame.rating, frame.comment, frame.id)
            case protocol.Widget():
                chat = await self._open_chat()
                await self.service.widget_expanded(chat, frame.expanded)
            case protocol.Earlier():
                await self._earlier(frame)
            case protocol.Transcript():
                await self._transcript(frame)
            case protocol.Update():
                chat = await self._open_chat()
                await self.service.update_visitor(chat, frame.email, frame.user_data)

    async def _start(self, frame: protocol.Start) -> None:
        if self.chat_id is not None and self.chat_state != ENDED:
            chat = await self.service.get_chat(self.chat_id)
            if chat.state != ENDED:
                raise protocol.FrameError(
                    "already_started", "This connection already has a chat; end it first."
                )
        if frame.team is not None and frame.team not in self.runtime.config.teams:
            # Offered by a site stored in the database but not declared in the file: not in `hello`.
            raise ServiceError("team_not_offered", "This site does not offer that team; choose another.")
        verified = await self._verify(frame.identity) if frame.identity is not None else None
        chat = await self.service.start(
            self.site,
            frame,
            ip=self.ip,
            user_agent=self.user_agent,
            visitor_key=self.runtime.tokens.visitor_key(frame.visitor, self.site.id),
            verified=verified,
        )
        logs.bind(chat=chat.id)
        log.info("site %s: chat %s started by %s", self.site.id, chat.id, self.ip)
        await self._attach(chat, after=0)

    # --- verified identities (widget_server/identity.py) ------------------------------------------------

    async def _verify(self, claim: identity.Claim) -> VerifiedIdentity:
        """The identity, if the site's backend signed it with a secret the site has now (read again: a
        rotation or an ended grace counts at once, in every process); else a refusal, and nothing of it
        is used."""
        await self.runtime.sites.refresh()
        site = self.runtime.sites.get(self.site_id) or self.site
        try:
            return identity.verify(claim, site.identity, time.time())
        except IdentityRefused as refused:
            # Only the refusal is logged: neither the id (a customer of the site's) nor the signature.
            log.info("site %s: identity refused (%s) from %s", self.site_id, refused.code, self.ip)
            raise protocol.FrameError(refused.code, refused.message, field="identity") from None

    async def _earlier(self, frame: protocol.Earlier) -> None:
        """The verified visitor's chats on this site, newest first: found by their verified id alone (never
        by an email or a browser, which anyone could claim)."""
        verified = await self._verify(frame.identity)
        found = await self.service.store.find_visitor_chats(
            self.site_id, key=verified.key, email=None, limit=EARLIER_SHOWN + 1
        )
        shown = found[:EARLIER_SHOWN]
        first = await self.service.store.first_messages([chat.id for chat in shown])
        chats = [
            {
                "chat": chat.id,
                "createdAt": protocol.iso_time(chat.created_at),
                "state": chat.state,
                "type": chat.type,
                "agent": chat.agent_name,
                "first": first[chat.id].data["text"][: model.PREVIEW_LENGTH] if chat.id in first else None,
            }
            for chat in shown
        ]
        self.send({"type": "earlier", "chats": chats, "more": len(found) > EARLIER_SHOWN})

    async def _transcript(self, frame: protocol.Transcript) -> None:
        """One of the verified visitor's chats, as its visitor saw it (no agents' notes): to read only."""
        verified = await self._verify(frame.identity)
        chat = await self.service.store.get_chat(frame.chat)
        if (
            chat is None
            or chat.site != self.site_id
            or chat.deleted_at is not None
            or chat.visitor.key != verified.key
        ):
            # The same answer for a chat that is not theirs as for none: nothing to learn by trying ids.
            raise protocol.FrameError("not_found", "There is no such chat of yours.")
        events = await self.service.store.visitor_events_after(chat.id, 0)
        frames = []
        for event in events:
            if event.kind == ATTACHMENT:
                url = visitor_url(self.runtime, chat.id, event.data["file"]["id"])
                frames.append(file_frame(event.visitor_frame(), url))
            else:
                frames.append(event.visitor_frame())
        self.send({"type": "transcript", "chat": chat.id, "events": frames})

    async def _resume(self, frame: protocol.Resume) -> None:
        try:
            chat_id = self.runtime.tokens.verify(frame.token, self.site.id)
        except InvalidToken as error:
            log.info("site %s: resume refused (%s) from %s", self.site.id, error.reason, self.ip)
            raise protocol.FrameError(
                "invalid_token", "This chat cannot be resumed; start a new one."
            ) from None
        chat = await self.service.store.get_chat(chat_id)
        if chat is None or chat.site != self.site.id or chat.deleted_at is not None:
            raise protocol.FrameError("invalid_token", "This chat cannot be resumed; start a new one.")
        if frame.after > chat.visitor_last_seq:
            raise protocol.FrameError(
                "invalid_field",
                f"'after' is beyond the end of this chat ({chat.visitor_last_seq}); resume with after=0.",
                field="after",
            )
        await self._attach(chat, after=frame.after)

    async def _say(self, frame: protocol.Say) -> None:
        # No read of the chat first: the append checks that it is open, in its write transaction.
        received = time.perf_counter()
        chat_id = self.chat_id
        if chat_id is None:
            raise protocol.FrameError("not_started", "Start or resume a chat first.")
        if not await self.service.allow_message(chat_id, self.site):
            raise protocol.FrameError("rate_limited", "You are sending messages too fast.", id=frame.id)
        try:
            appended = await self.service.say(chat_id, frame.id, frame.text, nickname=self.nickname)
        except ChatEnded:
            raise protocol.FrameError("chat_ended", "This chat has ended.", id=frame.id) from None
        self.send(protocol.ack_frame(frame.id, appended.events[0].visitor_seq))
        metrics.ACK_SECONDS.observe(time.perf_counter() - received)

    async def _guard_ended(self, call: Any) -> None:
        try:
            await call
        except ChatEnded:
            raise protocol.FrameError("chat_ended", "This chat has ended.") from None

    async def _attached_chat(self) -> Chat:
        if self.chat_id is None:
            raise protocol.FrameError("not_started", "Start or resume a chat first.")
        return await self.service.get_chat(self.chat_id)

    async def _open_chat(self) -> Chat:
        chat = await self._attached_chat()
        if chat.state == ENDED:
            raise protocol.FrameError("chat_ended", "This chat has ended.")
        return chat

    # --- attaching to a chat --------------------------------------------------------------------------

    async def _attach(self, chat: Chat, *, after: int) -> None:
        await self._detach()
        self.chat_id = chat.id
        logs.bind(chat=chat.id)
        self.chat_state = chat.state
        self.nickname = chat.visitor.nickname
        self.last_seq = after
        token = self.runtime.tokens.issue(self.site.id, chat.id)
        self.send(protocol.welcome_frame(chat.id, token, self._visitor_token(chat)))
        self._unsubscribe = await self.service.subscribe(chat.id, self._on_bus)
        await self.service.visitor_attached(chat)
        self._push(CATCH_UP)
        if chat.read_seq:  # after the replay: how far an agent has read (later marks come on the bus)
            self.send(protocol.read_frame(chat.read_seq))
        self._queue_place = await self.service.queue.watch(chat, self._tell_place)
        for client_id in chat.backend_state.get("undelivered", []):
            self.send(not_delivered_frame(client_id))

    def _visitor_token(self, chat: Chat) -> str | None:
        """The visitor token for the widget to keep and send with its next `start` (a chat from before
        visitor keys has none)."""
        key = chat.visitor.key
        if not key or key.startswith(VERIFIED_KEY_PREFIX):
            return None  # a verified visitor is known by their identity, never by a token (tokens.py)
        return self.runtime.tokens.issue_visitor(self.site.id, key)

    def _tell_place(self, position: int) -> None:
        self.send(protocol.queue_frame(position))

    async def _detach(self) -> None:
        if self._queue_place is not None:
            watch, self._queue_place = self._queue_place, None
            await watch.stop()
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            await unsubscribe()
            if self.chat_id is not None:
                await self.service.visitor_detached(self.chat_id)
            if self._typing_active and self.chat_id is not None:
                self._typing_active = False
                chat = await self.service.store.get_chat(self.chat_id)
                if chat is not None and chat.state != ENDED:
                    await self.service.visitor_typing(chat, False)

    def _on_bus(self, message: Message) -> None:
        kind = message["t"]
        if kind == "event":
            self._push(Event.from_json(message["e"]))
        elif kind == "resync":  # the bus may have lost events: the store has them all
            self._push(CATCH_UP)
        elif kind == "typing":
            if message["from"] != "visitor":
                self.send(protocol.typing_frame(message["name"], message["active"]))
        elif kind == "queue":
            self.send(protocol.queue_frame(message["position"]))
        elif kind == "read":
            self.send(protocol.read_frame(message["seq"]))
        elif kind == "error" and message["code"] == "not_delivered":
            self.send(not_delivered_frame(message["id"]))
        elif kind == "error" and message["code"] == "backend_unavailable":
            self.send(
                protocol.error_frame(
                    "backend_unavailable",
                    "Our support system is not answering right now. Your messages are saved and will reach"
                    " it as soon as it is back.",
                )
            )
        elif kind == "close":
            self.kick(message.get("code", 1008), message.get("reason", ""))

    # --- the ordered outbox ---------------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        self._push(dumps(frame))

    def _push(self, item: str | Event | _CatchUp) -> None:
        if self._closed and self._closing is not None:
            return  # closing for good: nothing more goes out
        self._outbox.append(item)
        self._outbox_bytes += len(item) if isinstance(item, str) else _size(item)
        if len(self._outbox) > OUTBOX_FRAMES or self._outbox_bytes > OUTBOX_BYTES:
            # A client that does not read: its frames stay in the store, it catches up when it is back.
            log.info("site %s: closing visitor %s: it does not read its frames", self.site.id, self.ip)
            self._outbox, self._outbox_bytes = [], 0
            self.kick(TOO_SLOW, "too slow: reconnect")
            return
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())

    async def _flush(self) -> None:
        if self._drainer is not None:
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        try:
            while self._outbox:
                batch, self._outbox, self._outbox_bytes = self._outbox, [], 0
                for item in batch:
                    if isinstance(item, str):
                        await self.ws.send_text(item)
                    elif isinstance(item, Event):
                        await self._send_event(item)
                    else:
                        await self._catch_up()
        except Exception:  # the socket is gone; the read loop will see the disconnect
            self._outbox, self._outbox_bytes = [], 0
        finally:
            self._drainer = None

    async def _send_event(self, event: Event) -> None:
        seq = event.visitor_seq
        if event.chat_id != self.chat_id or seq is None or seq <= self.last_seq:
            return  # another chat's, not for visitors, or already sent
        if seq == self.last_seq + 1:
            await self._deliver(event)
        else:
            await self._catch_up()

    async def _catch_up(self) -> None:
        if self.chat_id is None:
            return
        for event in await self.service.store.visitor_events_after(self.chat_id, self.last_seq):
            await self._deliver(event)

    async def _deliver(self, event: Event) -> None:
        seq = event.visitor_seq
        if event.chat_id != self.chat_id or seq is None or seq <= self.last_seq:
            return
        self.last_seq = seq
        if event.kind == "state":
            self.chat_state = event.data["state"]
        if event.kind == ATTACHMENT:
            url = visitor_url(self.runtime, event.chat_id, event.data["file"]["id"])
            await self.ws.send_text(dumps(file_frame(event.visitor_frame(), url)))
            return
        await self.ws.send_text(event.visitor_frame_json())


def not_delivered_frame(client_id: str) -> dict[str, Any]:
    return protocol.error_frame(
        "not_delivered", "The contact center did not accept this message; it was not delivered.", id=client_id
    )


def _size(item: Event | _CatchUp) -> int:
    """About what an event's frame weighs, without writing it: its text, and the rest of a frame."""
    if isinstance(item, Event):
        return 150 + sum(len(value) for value in item.data.values() if isinstance(value, str))
    return 0


def _frame_id(text: str | None) -> str | None:
    """The client id of a frame that failed after parsing, so the error can name it."""
    try:
        value = json_input.parse(text or "").get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) <= protocol.MAX_CLIENT_ID else None
