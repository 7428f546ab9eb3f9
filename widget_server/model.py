"""The plain data the rest of the package passes around: chats, their visitors, and chat-log events.

A chat's log is append-only. Each event has a gapless sequence number ``seq`` (1, 2, 3, ...) within its
chat and a time in epoch milliseconds; the store assigns both. The event's kind-specific fields live in
``data`` exactly as they go on the wire (see docs/protocol.md), so formatting a frame is a dict merge.

Some events are for agents only (``AGENTS_ONLY``: an agent's internal note). They are in the log like
any other, with their ``seq``, and agents' consoles see every ``seq``. The visitor never receives them, and
their view is numbered apart, so that it stays gapless too: an event's ``visitor_seq`` is its ``seq`` less
the agents-only events before it (``hidden_before``, which the store writes with the event). A visitor
who saw events 1 to 5, then an agent's note (``seq`` 6), then a reply (``seq`` 7) receives the reply as
``seq`` 6, resumes "after 6", and cannot tell that a note exists. Numbering the visitor's view apart,
rather than leaving a gap in it, keeps the protocol's promise (a gap means something was missed, and a
client may ask for it again: it would never come) and tells the visitor nothing about notes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from widget_server.json_output import dumps
from widget_server.protocol import iso_time

# Chat states, as the visitor sees them in `state` events.
QUEUED = "queued"
ACTIVE = "active"
ENDED = "ended"
OPEN_STATES = (QUEUED, ACTIVE)

# Event kinds.
MESSAGE = "message"
STATE = "state"
JOINED = "joined"
LEFT = "left"
VISIT = "visit"
RATING = "rating"
ATTACHMENT = "attachment"
NOTE = "note"  # an agent's internal note: agents see it, the visitor never does
WATCH = "watch"  # a supervisor joined silently: agents see it, the visitor never does

#: Kinds of event that only agents see: never sent to a visitor, nor forwarded to a contact center, the
#: history API or Zendesk, and not counted in the visitor's ``seq`` (see the module doc).
AGENTS_ONLY = frozenset({NOTE, WATCH})

# Who wrote a message.
VISITOR = "visitor"
AGENT = "agent"
SYSTEM = "system"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the visitor told us at `start`, and where they came from."""

    nickname: str
    subject: str = ""
    email: str | None = None
    user_data: dict[str, str] = field(default_factory=dict)
    page: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: Which browser this is, the same for every chat it starts on the site: a random key the server
    #: gives the widget (signed, in its ``visitor`` token, tokens.py) and the widget keeps. How agents see
    #: a returning visitor's earlier chats (Store.find_visitor_chats); None for a chat started without one.
    #: A verified visitor's key is ``verified:`` and the id the site vouched for, the same on every device
    #: (widget_server/identity.py): how they find their own earlier chats.
    key: str | None = None
    #: The identity the site's backend signed and the server verified at `start`: ``{"id", "email"?}``;
    #: None for a visitor the site did not vouch for. Agents are shown who is verified.
    verified: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        obj = {
            "nickname": self.nickname,
            "subject": self.subject,
            "email": self.email,
            "userData": self.user_data,
            "page": self.page,
            "ip": self.ip,
            "userAgent": self.user_agent,
        }
        if self.key is not None:
            obj["key"] = self.key
        if self.verified is not None:
            obj["verified"] = dict(self.verified)
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Visitor:
        return cls(
            nickname=obj["nickname"],
            subject=obj.get("subject") or "",
            email=obj.get("email"),
            user_data=dict(obj.get("userData") or {}),
            page=obj.get("page"),
            ip=obj.get("ip"),
            user_agent=obj.get("userAgent"),
            key=obj.get("key"),
            verified=dict(obj["verified"]) if isinstance(obj.get("verified"), dict) else None,
        )


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat as the store keeps it. ``backend_ref`` is the chat's id at the contact center, if any;
    ``backend_state`` is the adapter's own small record (a polling cursor, say). ``preview`` is the last
    message (from, name, start of the text, at, seq), kept by the store for lists."""

    id: str
    site: str
    backend: str
    state: str
    visitor: Visitor
    created_at: int
    last_seq: int = 0
    ended_at: int | None = None
    agent: str | None = None
    agent_name: str | None = None
    backend_ref: str | None = None
    backend_state: dict[str, Any] = field(default_factory=dict)
    preview: dict[str, Any] | None = None
    start_id: str | None = None
    #: "chat", or "offline_msg" for a message left while nobody could answer.
    type: str = "chat"
    #: What people may change afterwards (the history API): rating, comment, tags, unread.
    meta: dict[str, Any] = field(default_factory=dict)
    deleted_at: int | None = None
    #: How many of the log's events are agents-only (internal notes): the visitor's view has that many
    #: fewer (see the module doc).
    hidden_events: int = 0
    #: How far an agent has read the chat, as its visitor numbers the events (0: nothing yet): the
    #: visitor's messages up to it are "Seen" (Store.agent_read, the `read` frame).
    read_seq: int = 0
    #: The team that answers the chat since it was transferred to one (widget_server/transfers.py);
    #: None: its site's team (``Site.team``), as for every chat never transferred to a team.
    team: str | None = None

    def team_of(self, site_team: str | None) -> str | None:
        """Which team answers the chat, given its site's team."""
        return self.team if self.team is not None else site_team

    @property
    def visitor_last_seq(self) -> int:
        """The ``seq`` of the chat's last event as its visitor numbers them."""
        return self.last_seq - self.hidden_events

    def summary(self) -> dict[str, Any]:
        """The chat as the agent console shows it in its lists."""
        return {
            "id": self.id,
            "site": self.site,
            "state": self.state,
            "createdAt": iso_time(self.created_at),
            "endedAt": iso_time(self.ended_at) if self.ended_at else None,
            "agent": self.agent,
            "agentName": self.agent_name,
            "lastSeq": self.last_seq,
            "lastMessage": self.preview,
            "type": self.type,
            "rating": self.meta.get("rating"),
            "comment": self.meta.get("comment"),
            "unread": bool(self.meta.get("unread", False)),
            "team": self.team,
            "visitor": {k: v for k, v in self.visitor.to_json().items() if k not in ("ip", "key")},
        }


@dataclass(frozen=True, slots=True)
class Event:
    chat_id: str
    seq: int
    at: int
    kind: str
    data: dict[str, Any]
    #: How many agents-only events come before this one in the log (see the module doc).
    hidden_before: int = 0

    @property
    def visitor_seq(self) -> int | None:
        """The event's ``seq`` in its visitor's view; None for an event the visitor never receives."""
        return None if self.kind in AGENTS_ONLY else self.seq - self.hidden_before

    def frame(self) -> dict[str, Any]:
        """The `event` frame as the agents' consoles get it: numbered by the log's ``seq``."""
        return {"type": "event", "seq": self.seq, "at": iso_time(self.at), "kind": self.kind, **self.data}

    def visitor_frame(self) -> dict[str, Any]:
        """The `event` frame of wire protocol v1, numbered by ``visitor_seq``. Never for an agents-only
        event: a visitor must not receive one, so asking is a bug that fails here, not a leak."""
        seq = self.visitor_seq
        if seq is None:
            raise ValueError(f"a {self.kind} event is not for visitors")
        return {"type": "event", "seq": seq, "at": iso_time(self.at), "kind": self.kind, **self.data}

    def visitor_frame_json(self) -> str:
        return dumps(self.visitor_frame())

    def to_json(self) -> dict[str, Any]:
        """For the bus: the event with its chat, as plain JSON."""
        obj = {"chat": self.chat_id, "seq": self.seq, "at": self.at, "kind": self.kind, "data": self.data}
        if self.hidden_before:
            obj["hidden"] = self.hidden_before
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        return cls(obj["chat"], obj["seq"], obj["at"], obj["kind"], obj["data"], obj.get("hidden", 0))


PREVIEW_LENGTH = 200


def preview_of(event: Event) -> dict[str, Any]:
    return {
        "from": event.data["from"],
        "name": event.data["name"],
        "text": event.data["text"][:PREVIEW_LENGTH],
        "at": iso_time(event.at),
        "seq": event.seq,
    }


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event not yet in the log: the store gives it its ``seq`` and time when it appends it.

    ``client_id`` makes the append idempotent: a second append with the same id in the same chat returns
    the event stored the first time.
    """

    kind: str
    data: dict[str, Any]
    client_id: str | None = None


def message(sender: str, name: str, text: str, client_id: str | None = None) -> NewEvent:
    data: dict[str, Any] = {"from": sender, "name": name, "text": text}
    if client_id is not None:
        data["id"] = client_id
    return NewEvent(MESSAGE, data, client_id=client_id)


def state(value: str, position: int | None = None) -> NewEvent:
    data: dict[str, Any] = {"state": value}
    if position is not None:
        data["position"] = position
    return NewEvent(STATE, data)


def joined(name: str) -> NewEvent:
    return NewEvent(JOINED, {"name": name})


def left(name: str) -> NewEvent:
    return NewEvent(LEFT, {"name": name})


def visit(url: str) -> NewEvent:
    return NewEvent(VISIT, {"url": url})


def note(name: str, text: str, client_id: str) -> NewEvent:
    """An agent's internal note (agents only). Its client id is kept apart from messages' ("note:..."), so
    that a note and a message that happen to share a console's client id are both stored."""
    return NewEvent(NOTE, {"name": name, "text": text, "id": client_id}, client_id=f"note:{client_id}")


def watch(user: str, name: str) -> NewEvent:
    """A supervisor (login ``user``, shown as ``name``) joined the chat silently (agents only): they follow
    it live and may write notes; the visitor is told nothing."""
    return NewEvent(WATCH, {"user": user, "name": name})


def rating(value: str, comment: str | None, client_id: str | None = None) -> NewEvent:
    data: dict[str, Any] = {"rating": value}
    if comment:
        data["comment"] = comment
    return NewEvent(RATING, data, client_id=f"rating:{client_id}" if client_id else None)


# Roles of people who log in (what each may do: widget_server/roles.py, docs/console.md). An agent answers
# the chats of their teams; a supervisor sees every chat, joins one silently or takes it over, and reads
# reports; an operator administers sites and users, and may do all a supervisor does.
AGENT_ROLE = "agent"
SUPERVISOR_ROLE = "supervisor"
OPERATOR_ROLE = "operator"
ROLES = (AGENT_ROLE, SUPERVISOR_ROLE, OPERATOR_ROLE)

# An agent's status, as they choose it in the console (widget_server/agent_status.py): online (visitors
# are offered a chat), away (stepped away: no new chats, their chats stay theirs) or offline.
ONLINE = "online"
AWAY = "away"
OFFLINE = "offline"
AGENT_STATUSES = (ONLINE, AWAY, OFFLINE)


@dataclass(frozen=True, slots=True)
class User:
    """Someone who logs in to the agent console or the admin page.

    ``session_version`` is part of every session cookie; bumping it (new password, removal) logs the
    user out everywhere, although the cookies themselves are stateless. ``status`` is the one they chose
    last (a new user starts online); only ``Store.set_user_status`` changes it.
    """

    name: str
    role: str
    password_hash: str
    display_name: str
    session_version: int = 1
    status: str = ONLINE


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changed something, and through what: for the audit log."""

    name: str
    via: str  # "admin page", "api", "cli", "config"
    address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: int
    actor: str
    via: str
    address: str | None
    action: str  # e.g. "site.create", "site.allow_origin", "user.add", "token.revoke"
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @classmethod
    def of(cls, actor: Actor, action: str, target: str, **detail: Any) -> AuditEntry:
        return cls(now_ms(), actor.name, actor.via, actor.address, action, target, detail)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso_time(self.at),
            "actor": self.actor,
            "via": self.via,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class StoredSite:
    """A site created through the admin page, the API or the CLI: its table, as it would be written
    under ``[sites.ID]`` in the configuration file (checked by the same code)."""

    id: str
    settings: dict[str, Any]
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An admin API token. Only a hash of the secret is kept: a stolen database does not hand out
    working tokens."""

    id: str
    name: str
    token_hash: str
    created_at: int
    created_by: str
    revoked_at: int | None = None
    last_used_at: int | None = None


OFFLINE_MESSAGE = "offline_msg"


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A reply agents insert by its shortcut (``/refund``), with placeholders the console fills in
    (widget_server/canned.py). ``owner`` None: shared, seen by every agent and changed by operators only;
    else the one agent's own, whom nobody else sees."""

    id: str
    owner: str | None
    shortcut: str
    title: str
    text: str
    created_at: int
    updated_at: int
    updated_by: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """Something to hand to another system (a Zendesk offline message), kept in the database until it
    is done, so that an outage or a restart loses nothing.

    ``state``: "pending" (to send at ``due_at``), "sent", or "failed" (refused for good). ``ambiguous``:
    the last attempt may have arrived although no answer came back; check before sending again.
    """

    id: int
    target: str
    site: str
    chat_id: str | None
    payload: dict[str, Any]
    created_at: int
    due_at: int
    attempts: int = 0
    state: str = "pending"
    last_error: str | None = None
    done_at: int | None = None
    remote_id: str | None = None
    ambiguous: bool = False
