"""The bodies of the history API's writes, checked (Zendesk Chat: "Update Chat", "Create Chat"). No I/O.

``chat_edit(body, chat_type)`` reads an Update Chat body, ``new_offline_message(body)`` a Create Chat body.
Each returns plain data for the store and the chat service, or raises ``RequestError`` (``RecordInvalid``)
listing every problem under its field's path, the first one in the description.

Update Chat. The seed's example sends dotted keys, ``{"visitor.name": "Joe"}``; a ``visitor`` object,
``{"visitor": {"name": "Joe"}}``, is read as the same dotted keys. What may change is what the seed's
tables mark as not read-only, plus the visitor's fields its example writes:

- a chat: ``visitor.name``, ``visitor.email``, ``visitor.phone``, ``visitor.notes``, ``tags``, ``comment``,
  ``rating``, ``unread``;
- an offline message: ``visitor.name``, ``visitor.email``, ``visitor.phone``, ``visitor.notes``, ``unread``.

Any other field of the object (``history``, ``session.ip``, ``visitor.id``...) is refused as read-only,
naming it; a field of the other kind of object (``rating`` of an offline message) as not one of its fields;
anything else as unknown. Values: ``visitor.name`` 1 to 64 characters (as in the widget's forms);
``visitor.email`` an email address, or ``""``/null to remove it; ``visitor.phone`` up to 64 characters and
``visitor.notes`` up to 4000, null for ``""``; ``tags`` a list of up to 50 distinct tags of 1 to 64
characters (it replaces the chat's tags); ``comment`` up to 1000 characters, null or ``""`` to remove it;
``rating`` ``"good"``, ``"bad"`` or null; ``unread`` true or false. A body that changes nothing is refused.

Create Chat, as documented: ``type`` (must be ``"offline_msg"``: "The API only supports creating offline
messages"), ``visitor`` (``name`` and ``email`` required; ``phone``, ``notes``, ``id`` optional strings),
``message`` (1 to 4000 characters), ``session`` (an object of the documented keys, all optional strings;
``start_date``/``end_date`` ISO 8601, ``ip`` an IP address) and ``timestamp`` (Unix seconds, or ISO 8601)
are required; ``unread`` optional (false when not given, as the seed's example answers).
``department_id`` may only be null: widget_server has no departments. Our own extension ``site`` names
the site the message is for. The server-assigned fields (``id``, ``department_name``, ``started_by``,
``webpath``, ``zendesk_ticket_id``) and unknown fields are refused. Of the session, ``ip``,
``user_agent`` and the location fields are kept; ``browser`` and ``platform`` are read from the user
agent again, and ``id`` is the chat's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from widget_server.history.errors import Details, record_invalid
from widget_server.model import OFFLINE_MESSAGE
from widget_server.protocol import _EMAIL, MAX_COMMENT, MAX_EMAIL, MAX_NICKNAME, MAX_TEXT

MAX_PHONE = 64
MAX_NOTES = 4000
MAX_TAGS = 50
MAX_TAG = 64
MAX_USER_AGENT = 512
RATINGS = ("good", "bad")

CHAT_FIELDS = (
    "agent_ids",
    "agent_names",
    "comment",
    "conversions",
    "count",
    "department_id",
    "department_name",
    "duration",
    "history",
    "id",
    "missed",
    "rating",
    "response_time",
    "session",
    "started_by",
    "tags",
    "timestamp",
    "triggered",
    "triggered_response",
    "type",
    "unread",
    "visitor",
    "webpath",
    "zendesk_ticket_id",
)
OFFLINE_FIELDS = (
    "department_id",
    "department_name",
    "id",
    "message",
    "session",
    "started_by",
    "timestamp",
    "type",
    "unread",
    "visitor",
    "webpath",
    "zendesk_ticket_id",
)
_VISITOR_WRITABLE = ("visitor.name", "visitor.email", "visitor.phone", "visitor.notes")
WRITABLE = {
    "chat": (*_VISITOR_WRITABLE, "tags", "comment", "rating", "unread"),
    OFFLINE_MESSAGE: (*_VISITOR_WRITABLE, "unread"),
}
SESSION_FIELDS = (
    "browser",
    "city",
    "country_code",
    "country_name",
    "end_date",
    "id",
    "ip",
    "platform",
    "region",
    "start_date",
    "user_agent",
)
CREATE_REQUIRED = ("visitor", "message", "type", "session", "timestamp")
CREATE_OPTIONAL = ("unread", "department_id", "site")
CREATE_SERVER_ASSIGNED = ("id", "department_name", "started_by", "webpath", "zendesk_ticket_id")


def _problem(details: Details, path: str, code: str, description: str) -> None:
    details.setdefault(path, []).append({"error": code, "description": description})


def _has_control_chars(value: str, *, newlines: bool) -> bool:
    return any((ord(char) < 32 or ord(char) == 127) and not (newlines and char in "\n\r\t") for char in value)


def _text(
    details: Details,
    path: str,
    value: Any,
    max_len: int,
    *,
    required: bool = False,
    newlines: bool = False,
) -> str | None:
    """A string field; ``None`` (with a problem recorded) when it is not acceptable."""
    if not isinstance(value, str):
        _problem(details, path, "InvalidType", f"{path} must be a string.")
        return None
    if required and not value.strip():
        _problem(details, path, "BlankValue", f"{path} cannot be blank.")
        return None
    if len(value) > max_len:
        _problem(details, path, "TooLong", f"{path} may be at most {max_len} characters.")
        return None
    if _has_control_chars(value, newlines=newlines):
        _problem(details, path, "InvalidValue", f"{path} contains control characters.")
        return None
    return value


def _email(details: Details, path: str, value: Any) -> str | None:
    text = _text(details, path, value, MAX_EMAIL, required=True)
    if text is None:
        return None
    if not _EMAIL.match(text.strip()):
        _problem(details, path, "InvalidValue", f"{path} is not an email address: {text!r}.")
        return None
    return text.strip()


# --- Update Chat ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatEdit:
    """What an Update Chat body changes: the visitor's fields (``Visitor.to_json`` names), ``meta`` keys,
    and the API fields named, for the audit log."""

    visitor: dict[str, Any]
    meta: dict[str, Any]
    fields: tuple[str, ...]


def _dotted(details: Details, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        pairs = (
            [(f"visitor.{sub}", item) for sub, item in value.items()]
            if key == "visitor" and isinstance(value, dict)
            else [(key, value)]
        )
        for path, item in pairs:
            if path in changes:
                _problem(details, path, "Duplicate", f"{path} is given twice.")
            changes[path] = item
    return changes


def chat_edit(body: Any, chat_type: str) -> ChatEdit:
    """Check an Update Chat body for a chat of this type (see the module doc)."""
    details: Details = {}
    writable = WRITABLE[chat_type]
    if not isinstance(body, dict):
        _problem(
            details, "base", "InvalidType", 'The body must be a JSON object, e.g. {"visitor.name": "Joe"}.'
        )
        raise record_invalid(details)
    if not body:
        _problem(
            details,
            "base",
            "Empty",
            f"The body changes nothing; fields you can change: {', '.join(writable)}.",
        )
        raise record_invalid(details)
    own_fields = CHAT_FIELDS if chat_type == "chat" else OFFLINE_FIELDS
    other_fields = OFFLINE_FIELDS if chat_type == "chat" else CHAT_FIELDS
    what = "a chat" if chat_type == "chat" else "an offline message"
    visitor: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for path, value in _dotted(details, body).items():
        top = path.split(".", 1)[0]
        if path not in writable:
            if top in own_fields:
                _problem(
                    details,
                    path,
                    "ReadOnly",
                    f"{path} is read-only; the fields you can change are {', '.join(writable)}.",
                )
            elif top in other_fields:
                _problem(details, path, "UnknownField", f"{path} is not a field of {what}.")
            else:
                _problem(
                    details,
                    path,
                    "UnknownField",
                    f"Unknown field {path!r}; the fields you can change are {', '.join(writable)}.",
                )
            continue
        _edit_value(details, path, value, visitor, meta)
    if details:
        raise record_invalid(details)
    return ChatEdit(visitor, meta, tuple(_dotted({}, body)))


def _edit_value(
    details: Details, path: str, value: Any, visitor: dict[str, Any], meta: dict[str, Any]
) -> None:
    if path == "visitor.name":
        name = _text(details, path, value, MAX_NICKNAME, required=True)
        if name is not None:
            visitor["nickname"] = name.strip()
    elif path == "visitor.email":
        if value is None or value == "":
            visitor["email"] = None
        elif (email := _email(details, path, value)) is not None:
            visitor["email"] = email
    elif path in ("visitor.phone", "visitor.notes"):
        key = "visitor_phone" if path == "visitor.phone" else "visitor_notes"
        limit = MAX_PHONE if path == "visitor.phone" else MAX_NOTES
        if value is None:
            meta[key] = ""
        elif (text := _text(details, path, value, limit, newlines=path == "visitor.notes")) is not None:
            meta[key] = text.strip()
    elif path == "tags":
        tags = _tags(details, value)
        if tags is not None:
            meta["tags"] = tags
    elif path == "comment":
        if value is None:
            meta["comment"] = None
        elif (comment := _text(details, path, value, MAX_COMMENT, newlines=True)) is not None:
            meta["comment"] = comment.strip() or None
    elif path == "rating":
        if value is not None and value not in RATINGS:
            _problem(details, path, "InvalidValue", f"rating must be good, bad or null, not {value!r}.")
        else:
            meta["rating"] = value
    elif path == "unread":
        if not isinstance(value, bool):
            _problem(details, path, "InvalidType", "unread must be true or false.")
        else:
            meta["unread"] = value


def _tags(details: Details, value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        _problem(details, "tags", "InvalidType", 'tags must be a list of strings, e.g. ["billing", "vip"].')
        return None
    tags = list(dict.fromkeys(tag.strip() for tag in value))
    if len(tags) > MAX_TAGS:
        _problem(details, "tags", "TooLong", f"A chat may have at most {MAX_TAGS} tags.")
        return None
    for tag in tags:
        if not tag or len(tag) > MAX_TAG or _has_control_chars(tag, newlines=False):
            _problem(
                details,
                "tags",
                "InvalidValue",
                f"Each tag must be 1 to {MAX_TAG} characters without control characters; {tag!r} is not.",
            )
            return None
    return tags


# --- Create Chat (offline messages) ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewOfflineMessage:
    """A checked Create Chat body: what ``ChatService.leave_message`` takes, the site it names (our
    extension; None: not named), and the ``meta`` keys the documented fields it cannot take become."""

    site: str | None
    name: str
    email: str
    message: str
    ip: str | None
    user_agent: str | None
    meta: dict[str, Any]
    #: When the message was left (``timestamp``), epoch ms; None: now.
    created_at: int | None = None


def _keys(
    details: Details,
    obj: dict[str, Any],
    prefix: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    assigned: tuple[str, ...] = (),
) -> None:
    for key in required:
        if key not in obj:
            _problem(details, prefix + key, "Missing", f"{prefix + key} is required.")
    for key in obj:
        if key in assigned:
            _problem(details, prefix + key, "ReadOnly", f"{prefix + key} is set by the server, not by you.")
        elif key not in required and key not in optional:
            _problem(
                details, prefix + key, "UnknownField", f"{prefix + key} is not a field of an offline message."
            )


def _time(details: Details, path: str, value: Any) -> int | None:
    """A documented time (Unix seconds or ISO 8601, UTC when it names no zone) as epoch ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return int(datetime.fromtimestamp(value, UTC).timestamp() * 1000)
        except (OverflowError, OSError, ValueError):
            _problem(details, path, "InvalidValue", f"{path} {value} is out of range.")
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            _problem(details, path, "InvalidValue", f"{path} {value!r} is not an ISO 8601 time.")
            return None
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    what = (
        "Unix seconds (a whole number) or an ISO 8601 string" if path == "timestamp" else "an ISO 8601 string"
    )
    _problem(details, path, "InvalidType", f"{path} must be {what}.")
    return None


def new_offline_message(body: Any) -> NewOfflineMessage:
    """Check a Create Chat body (see the module doc)."""
    details: Details = {}
    if not isinstance(body, dict):
        _problem(details, "base", "InvalidType", "The body must be a JSON object: an offline message.")
        raise record_invalid(details)
    _keys(details, body, "", CREATE_REQUIRED, CREATE_OPTIONAL, CREATE_SERVER_ASSIGNED)
    if "type" in body and body["type"] != OFFLINE_MESSAGE:
        _problem(
            details,
            "type",
            "InvalidValue",
            f'type must be "offline_msg", not {body["type"]!r}: the API only creates offline messages.',
        )
    message = (
        _text(details, "message", body["message"], MAX_TEXT, required=True, newlines=True)
        if "message" in body
        else None
    )
    created_at = _time(details, "timestamp", body["timestamp"]) if "timestamp" in body else None
    if body.get("department_id") is not None:
        _problem(
            details,
            "department_id",
            "InvalidValue",
            'widget_server has no departments: leave department_id out (name the site with "site").',
        )
    # Unread unless said otherwise? The seed's example answers false: the agent who creates it has read it.
    meta: dict[str, Any] = {"unread": False}
    if "unread" in body:
        if isinstance(body["unread"], bool):
            meta["unread"] = body["unread"]
        else:
            _problem(details, "unread", "InvalidType", "unread must be true or false.")
    site = None
    if "site" in body:
        site = _text(details, "site", body["site"], 64, required=True)
    name = email = None
    visitor = body.get("visitor")
    if "visitor" in body and not isinstance(visitor, dict):
        _problem(details, "visitor", "InvalidType", "visitor must be an object with name and email.")
    elif isinstance(visitor, dict):
        _keys(details, visitor, "visitor.", ("name", "email"), ("phone", "notes", "id"))
        if "name" in visitor:
            name = _text(details, "visitor.name", visitor["name"], MAX_NICKNAME, required=True)
        if "email" in visitor:
            email = _email(details, "visitor.email", visitor["email"])
        for key, limit in (("phone", MAX_PHONE), ("notes", MAX_NOTES), ("id", 64)):
            if key in visitor:
                text = _text(details, f"visitor.{key}", visitor[key], limit, newlines=key == "notes")
                if text:
                    meta[f"visitor_{key}"] = text.strip()
    ip = user_agent = None
    session = body.get("session")
    if "session" in body and not isinstance(session, dict):
        _problem(details, "session", "InvalidType", "session must be an object.")
    elif isinstance(session, dict):
        _keys(details, session, "session.", (), SESSION_FIELDS)
        location: dict[str, str] = {}
        for key in SESSION_FIELDS:
            if key not in session:
                continue
            path = f"session.{key}"
            if key in ("start_date", "end_date"):
                _time(details, path, session[key])
                continue
            text = _text(details, path, session[key], MAX_USER_AGENT if key == "user_agent" else 100)
            if not text:
                continue
            if key == "ip":
                try:
                    ip = str(ipaddress.ip_address(text.strip()))
                except ValueError:
                    _problem(details, path, "InvalidValue", f"session.ip is not an IP address: {text!r}.")
            elif key == "user_agent":
                user_agent = text
            elif key in ("city", "region", "country_code", "country_name"):
                location[key] = text.strip()
            # browser, platform: read from the user agent; id: the session is the chat, its id the chat's.
        if location:
            meta["session"] = location
    if details:
        raise record_invalid(details)
    assert name is not None and email is not None and message is not None
    return NewOfflineMessage(site, name.strip(), email, message, ip, user_agent, meta, created_at)
