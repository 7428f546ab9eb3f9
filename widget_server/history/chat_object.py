"""A chat and its log as Zendesk Chat's chat object (its API's "Chats"), and as the search sees it. No I/O.

``chat_object(chat, events)`` is the documented object of a chat or, for ``type == "offline_msg"``, of an
offline message; ``events`` is the chat's log in ``seq`` order. Everything is computed from the log and the
chat's record, nothing is stored twice. The keys are exactly those of the seed's examples.

How the log maps (the seed's fields, and the decisions where it is silent):

- Agents' internal notes (``model.AGENTS_ONLY``) are left out of everything here: the API's clients are
  other systems (a CRM, an export, another contact center), and a note is for the agents of this one.
  Zendesk shows its own agents' notes in a chat's history; we do not, so nothing written for agents
  only can travel on through this API. They change no count, time or duration either.

- ``history``: ``chat.memberjoin`` for the visitor when the chat starts and for every agent's ``joined``;
  ``chat.msg`` for every message: the visitor's, agents', and our own notices (``nick`` ``"system"``,
  ``name`` ``"System"``); ``chat.memberleave`` for every agent's ``left`` and for the visitor when the
  chat ends; ``chat.rating`` (``rating`` the previous rating, ``new_rating`` the new one) and
  ``chat.comment`` (``comment``, ``new_comment``) for the visitor's rating, named as Zendesk's Web SDK
  names these chat-log entries. Every entry has ``channel`` (``#supportchat:{chat id}``), ``name``,
  ``nick`` (``visitor:{visitor id}``, ``agent:{agent id}`` or ``system``), ``timestamp`` and ``type``;
  ``chat.msg`` has ``msg`` and ``options`` (always ``""``). A name is the one the log recorded at the time.
  State changes are not entries; page visits are ``webpath``. A site's greeting that the visitor answered
  (widget_server/greetings.py) is a ``chat.msg`` with ``nick`` ``"agent:trigger"``, as Zendesk writes its
  triggers' messages, named as the greeting is; it is no agent's message, so it counts nowhere. A greeting
  of the host page's own is left out: its words are the page's (or a visitor's), not the site's.
- ``count``: messages by the visitor and by agents; ``total`` is their sum (notices count in neither).
- ``duration``: whole seconds from the start to the end (to the last event while the chat is open).
- ``response_time``: for every run of visitor messages that an agent answered, the seconds from the run's
  first message to the answer; ``first`` the first such time, ``avg`` (rounded) and ``max``; all null
  when no agent ever answered.
- ``agent_names``: every agent who joined, left or wrote, in order of first appearance. ``agent_ids``: the
  same agents' ids, index for index: the chat's agent of the built-in contact center has their login
  name; an agent known only by the name a contact center reported has that name as id.
- ``missed``: the chat ended without any agent joining or writing.
- ``visitor``: ``id`` is the one given when the message was created through the API, else
  ``{site}.{chat id}`` (a visitor is known within one chat only); ``phone`` and ``notes`` are what the API
  set (``""`` until then); ``email`` ``""`` when unknown. Not Zendesk's: ``verified``, the identity the
  site's backend signed and the server verified (``{"id", "email"?}``, widget_server/identity.py), only
  for a visitor the site vouched for (absent otherwise: the object is then exactly Zendesk's).
- ``session``: ``id`` the chat's id; ``ip`` and ``user_agent`` the visitor's; ``browser`` and ``platform``
  read from the user agent; ``start_date`` the start, ``end_date`` the end (null while open); ``city``,
  ``region``, ``country_code`` and ``country_name`` are ``""`` (we do not geolocate) unless given when the
  offline message was created through the API.
- ``webpath``: one entry per ``visit`` event: ``to`` the page, ``from`` the page before it (``""`` for the
  first), ``title`` ``""`` (the widget does not send page titles), ``timestamp``.
- ``rating``, ``comment``, ``tags``, ``unread``: the chat's ``meta`` (the visitor's rating, the API's
  changes); null, null, ``[]`` and false when never set.
- Not ours, so always the same: ``conversions`` ``[]``, ``department_id`` and ``department_name`` null,
  ``started_by`` ``"visitor"``, ``triggered_response`` false, ``zendesk_ticket_id`` null;
  ``triggered`` is true for a chat that began with a site's greeting, else false.
- Offline messages: ``message`` is the visitor's message; no history, counts or agents, as documented.
- Times are ISO 8601 UTC to the second, as the seed writes them (``2014-10-09T05:28:35Z``).

``meta`` keys written by the history API besides the model's (rating, comment, tags, unread):
``visitor_id``, ``visitor_phone``, ``visitor_notes`` and ``session`` (the location fields given on creation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from widget_server import model
from widget_server.greetings import GREETING
from widget_server.history.search import SearchDoc
from widget_server.model import Chat, Event
from widget_server.zendesk import browser_and_platform

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREVIEW_LENGTH = 200
SESSION_LOCATION = ("city", "region", "country_code", "country_name")
SYSTEM_NAME = "System"
TRIGGER_NICK = "agent:trigger"  # Zendesk's nick for a message of one of its triggers


def iso(epoch_ms: int) -> str:
    """A time as the seed writes it: ``2014-10-09T05:28:35Z`` (UTC, whole seconds)."""
    return (EPOCH + timedelta(milliseconds=epoch_ms)).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(epoch_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=epoch_ms)


def _seconds(ms: float) -> int:
    return int(ms / 1000 + 0.5)


def visitor_id(chat: Chat) -> str:
    given = chat.meta.get("visitor_id")
    return given if isinstance(given, str) and given else f"{chat.site}.{chat.id}"


def _messages(events: Sequence[Event], sender: str | None = None) -> list[Event]:
    return [
        event
        for event in events
        if event.kind == model.MESSAGE and (sender is None or event.data.get("from") == sender)
    ]


def agents(chat: Chat, events: Sequence[Event]) -> list[tuple[str, str]]:
    """``(id, name)`` of every agent in the chat, in order of first appearance (see the module doc)."""
    names: dict[str, None] = {}
    for event in events:
        if event.kind in (model.JOINED, model.LEFT) or (
            event.kind == model.MESSAGE and event.data.get("from") == model.AGENT
        ):
            name = str(event.data.get("name") or "")
            if name:
                names.setdefault(name)
    if chat.agent_name:
        names.setdefault(chat.agent_name)
    return [(_agent_id(chat, name), name) for name in names]


def _agent_id(chat: Chat, name: str) -> str:
    return chat.agent if chat.agent and name == chat.agent_name else name


def visitor_object(chat: Chat) -> dict[str, Any]:
    visitor: dict[str, Any] = {
        "email": chat.visitor.email or "",
        "id": visitor_id(chat),
        "name": chat.visitor.nickname,
        "notes": str(chat.meta.get("visitor_notes") or ""),
        "phone": str(chat.meta.get("visitor_phone") or ""),
    }
    if chat.visitor.verified is not None:
        visitor["verified"] = dict(chat.visitor.verified)
    return visitor


def session_object(chat: Chat) -> dict[str, Any]:
    browser, platform = browser_and_platform(chat.visitor.user_agent)
    given = chat.meta.get("session")
    location = given if isinstance(given, dict) else {}
    session = {
        "browser": browser,
        "end_date": iso(chat.ended_at) if chat.ended_at is not None else None,
        "id": chat.id,
        "ip": chat.visitor.ip or "",
        "platform": platform,
        "start_date": iso(chat.created_at),
        "user_agent": chat.visitor.user_agent or "",
        **{key: str(location.get(key) or "") for key in SESSION_LOCATION},
    }
    return dict(sorted(session.items()))


def webpath(events: Sequence[Event]) -> list[dict[str, Any]]:
    path: list[dict[str, Any]] = []
    previous = ""
    for event in events:
        if event.kind == model.VISIT:
            url = str(event.data.get("url") or "")
            path.append({"from": previous, "timestamp": iso(event.at), "title": "", "to": url})
            previous = url
    return path


def history(chat: Chat, events: Sequence[Event]) -> list[dict[str, Any]]:
    channel = f"#supportchat:{chat.id}"
    visitor_nick = f"visitor:{visitor_id(chat)}"
    visitor_messages = _messages(events, model.VISITOR)
    # The name the visitor had in the chat, even if the API renamed them since.
    visitor_name = str(visitor_messages[0].data.get("name")) if visitor_messages else chat.visitor.nickname

    def entry(kind: str, at: int, name: str, nick: str, **extra: Any) -> dict[str, Any]:
        fields = {"channel": channel, "name": name, "nick": nick, "timestamp": iso(at), "type": kind, **extra}
        return dict(sorted(fields.items()))  # in the seed's order: alphabetical

    entries = [entry("chat.memberjoin", chat.created_at, visitor_name, visitor_nick)]
    rating: str | None = None
    comment: str | None = None
    visitor_left = False
    for event in events:
        data = event.data
        if event.kind == model.MESSAGE:
            sender = data.get("from")
            name = str(data.get("name") or "")
            if sender == model.VISITOR:
                nick = visitor_nick
            elif sender == model.AGENT:
                nick = f"agent:{_agent_id(chat, name)}"
            else:
                name, nick = SYSTEM_NAME, "system"
            entries.append(entry("chat.msg", event.at, name, nick, msg=data.get("text", ""), options=""))
        elif event.kind == GREETING and not data.get("page"):  # a site's greeting the visitor answered
            name = str(data.get("name") or "")
            entries.append(
                entry("chat.msg", event.at, name, TRIGGER_NICK, msg=data.get("text", ""), options="")
            )
        elif event.kind in (model.JOINED, model.LEFT):
            name = str(data.get("name") or "")
            kind = "chat.memberjoin" if event.kind == model.JOINED else "chat.memberleave"
            entries.append(entry(kind, event.at, name, f"agent:{_agent_id(chat, name)}"))
        elif event.kind == model.STATE and data.get("state") == model.ENDED and not visitor_left:
            entries.append(entry("chat.memberleave", event.at, visitor_name, visitor_nick))
            visitor_left = True
        elif event.kind == model.RATING:
            new_rating, new_comment = data.get("rating"), data.get("comment")
            entries.append(
                entry(
                    "chat.rating", event.at, visitor_name, visitor_nick, rating=rating, new_rating=new_rating
                )
            )
            if new_comment and new_comment != comment:
                entries.append(
                    entry(
                        "chat.comment",
                        event.at,
                        visitor_name,
                        visitor_nick,
                        comment=comment,
                        new_comment=new_comment,
                    )
                )
            rating, comment = new_rating, new_comment
    if chat.ended_at is not None and not visitor_left:  # ended without a state event: still a leave
        entries.append(entry("chat.memberleave", chat.ended_at, visitor_name, visitor_nick))
    return entries


def response_time(events: Sequence[Event]) -> dict[str, int | None]:
    waited: list[int] = []
    asked_at: int | None = None
    for event in _messages(events):
        sender = event.data.get("from")
        if sender == model.VISITOR and asked_at is None:
            asked_at = event.at
        elif sender == model.AGENT and asked_at is not None:
            waited.append(event.at - asked_at)
            asked_at = None
    if not waited:
        return {"avg": None, "first": None, "max": None}
    return {
        "avg": _seconds(sum(waited) / len(waited)),
        "first": _seconds(waited[0]),
        "max": _seconds(max(waited)),
    }


def duration(chat: Chat, events: Sequence[Event]) -> int:
    end = chat.ended_at if chat.ended_at is not None else max((e.at for e in events), default=chat.created_at)
    return max(0, _seconds(end - chat.created_at))


def offline_message_text(events: Sequence[Event]) -> str:
    messages = _messages(events, model.VISITOR) or _messages(events)
    return str(messages[0].data.get("text", "")) if messages else ""


def public_events(events: Sequence[Event]) -> list[Event]:
    """The events this API may show: every kind but the agents-only ones (internal notes)."""
    return [event for event in events if event.kind not in model.AGENTS_ONLY]


def chat_object(chat: Chat, events: Sequence[Event]) -> dict[str, Any]:
    """The chat (or offline message) as Zendesk Chat's API shows it; see the module doc."""
    events = public_events(events)
    if chat.type == model.OFFLINE_MESSAGE:
        return offline_message_object(chat, events)
    meta = chat.meta
    in_chat = agents(chat, events)
    visitor_count = len(_messages(events, model.VISITOR))
    agent_count = len(_messages(events, model.AGENT))
    return {
        "agent_ids": [agent_id for agent_id, _ in in_chat],
        "agent_names": [name for _, name in in_chat],
        "comment": meta.get("comment"),
        "conversions": [],
        "count": {"agent": agent_count, "total": agent_count + visitor_count, "visitor": visitor_count},
        "department_id": None,
        "department_name": None,
        "duration": duration(chat, events),
        "history": history(chat, events),
        "id": chat.id,
        "missed": chat.state == model.ENDED and not in_chat,
        "rating": meta.get("rating"),
        "response_time": response_time(events),
        "session": session_object(chat),
        "started_by": "visitor",
        "tags": list(meta.get("tags") or []),
        "timestamp": iso(chat.created_at),
        "triggered": any(e.kind == GREETING and not e.data.get("page") for e in events),
        "triggered_response": False,
        "type": chat.type,
        "unread": bool(meta.get("unread", False)),
        "visitor": visitor_object(chat),
        "webpath": webpath(events),
        "zendesk_ticket_id": None,
    }


def offline_message_object(chat: Chat, events: Sequence[Event]) -> dict[str, Any]:
    return {
        "department_id": None,
        "department_name": None,
        "id": chat.id,
        "message": offline_message_text(events),
        "session": session_object(chat),
        "started_by": "visitor",
        "timestamp": iso(chat.created_at),
        "type": model.OFFLINE_MESSAGE,
        "unread": bool(chat.meta.get("unread", False)),
        "visitor": visitor_object(chat),
        "webpath": webpath(events),
        "zendesk_ticket_id": None,
    }


# --- what the search sees -------------------------------------------------------------------------------


def search_doc(chat: Chat, events: Sequence[Event]) -> SearchDoc:
    """The chat for ``Query.matches``. ``events`` need only be the messages, joins and leaves."""
    events = public_events(events)
    return SearchDoc(
        agent_names=tuple(name for _, name in agents(chat, events)),
        visitor_name=chat.visitor.nickname,
        visitor_email=chat.visitor.email or "",
        timestamp=instant(chat.created_at),
        end_timestamp=instant(chat.ended_at) if chat.ended_at is not None else None,
        chat_type=chat.type,
        rating=chat.meta.get("rating"),
        text="\n".join(str(event.data.get("text", "")) for event in _messages(events)),
    )


def preview(events: Sequence[Event]) -> str:
    """What a search result shows of a chat: the visitor's first message (what the chat is about), else the
    first message of anyone, cut to ``PREVIEW_LENGTH`` characters."""
    return offline_message_text(public_events(events))[:PREVIEW_LENGTH]


def search_result(chat: Chat, events: Sequence[Event], url: str) -> dict[str, Any]:
    return {
        "id": chat.id,
        "preview": preview(events),
        "timestamp": iso(chat.created_at),
        "type": chat.type,
        "url": url,
    }
