"""Wire protocol v1 of the visitor websocket: parse what a visitor sends, format what the server sends.

Pure functions over plain data, no I/O. docs/protocol.md is the prose version of this module; the two
change together.

Every visitor frame is one JSON object with a ``type``. ``parse_visitor_frame`` turns a text frame into
one of the request dataclasses below or raises ``FrameError`` carrying the machine-readable ``code`` and
a human sentence for the ``error`` frame. It never raises anything else, whatever the input.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from widget_server import json_input

MAX_FRAME_BYTES = 16 * 1024
MAX_NICKNAME = 64
MAX_SUBJECT = 200
MAX_TEXT = 4000
MAX_CLIENT_ID = 64
MAX_URL = 2048
MAX_EMAIL = 254
MAX_USERDATA_KEYS = 20
MAX_USERDATA_KEY = 64
MAX_USERDATA_VALUE = 1000
MAX_COMMENT = 1000
MAX_TOKEN = 1024  # a resume or visitor token

# Deliberately loose: the full RFC 5322 grammar accepts addresses no mail system delivers to, and a
# strict one refuses real ones. One "@", no spaces, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class FrameError(Exception):
    """A frame the server refuses; becomes an ``error`` frame for the visitor, never a traceback."""

    def __init__(self, code: str, message: str, *, id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.field = field

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, id=self.id, field=self.field)


# --- visitor -> server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    nickname: str
    subject: str = ""
    email: str | None = None
    user_data: dict[str, str] = field(default_factory=dict)
    page: str | None = None
    #: Optional client id: a second `start` with the same id (a retry) attaches to the same chat.
    id: str | None = None
    #: Optional visitor token of an earlier `welcome` (tokens.py): the new chat is the same visitor's.
    visitor: str | None = None


@dataclass(frozen=True)
class Resume:
    token: str
    after: int


@dataclass(frozen=True)
class Say:
    id: str
    text: str


@dataclass(frozen=True)
class Typing:
    active: bool


@dataclass(frozen=True)
class Visit:
    url: str


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class LeaveMessage:
    id: str
    name: str
    email: str
    message: str
    page: str | None = None
    visitor: str | None = None  # as in Start


@dataclass(frozen=True)
class Rate:
    rating: str  # "good" or "bad"
    comment: str | None = None
    #: Optional client id: the same rating sent again (after a reconnect) is stored once.
    id: str | None = None


@dataclass(frozen=True)
class Widget:
    """The visitor opened (expanded) or minimised the widget: told to contact centers that want it."""

    expanded: bool


@dataclass(frozen=True)
class Ping:
    pass


VisitorFrame = Start | Resume | Say | Typing | Visit | End | LeaveMessage | Rate | Widget | Ping
RATINGS = ("good", "bad")


def parse_visitor_frame(text: str | None, data: bytes | None = None) -> VisitorFrame:
    """Parse one websocket message from a visitor.

    ``text`` is the text frame's content, ``data`` a binary frame's (always refused: the protocol is
    text-only). The size limit is measured in UTF-8 bytes, as the browser sent them.
    """
    if text is None:
        raise FrameError("bad_frame", "Binary frames are not supported; send JSON text frames.")
    if len(text) > MAX_FRAME_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise FrameError("too_large", f"A frame may be at most {MAX_FRAME_BYTES} bytes.")
    try:
        obj = json_input.parse(text)
    except json_input.InvalidJSON as error:
        raise FrameError("bad_frame", str(error).replace("The JSON", "The frame")) from None
    if not isinstance(obj, dict):
        raise FrameError("bad_frame", "A frame must be a JSON object with a 'type'.")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise FrameError("bad_frame", "A frame must be a JSON object with a 'type'.")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise FrameError("unknown_type", f"Unknown frame type {kind[:40]!r}.")
    client_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    try:
        frame: VisitorFrame = parser(_Fields(obj))
        return frame
    except FrameError as error:
        if error.id is None and client_id is not None and len(client_id) <= MAX_CLIENT_ID:
            error.id = client_id
        raise


class _Fields:
    """Typed access to a frame's fields, each failure a ``FrameError`` naming the field."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj

    def _missing(self, name: str) -> FrameError:
        return FrameError("invalid_field", f"The field '{name}' is required.", field=name)

    def text(self, name: str, min_len: int, max_len: int, *, required: bool = True) -> str | None:
        value = self.obj.get(name)
        if value is None:
            if required:
                raise self._missing(name)
            return None
        if not isinstance(value, str):
            raise FrameError("invalid_field", f"The field '{name}' must be a string.", field=name)
        if min_len > 0 and not value.strip():
            raise FrameError("invalid_field", f"The field '{name}' must not be empty.", field=name)
        if len(value) > max_len:
            raise FrameError(
                "invalid_field", f"The field '{name}' may be at most {max_len} characters.", field=name
            )
        if _has_control_chars(value, allow_newlines=name in ("text", "message", "comment")):
            raise FrameError("invalid_field", f"The field '{name}' contains control characters.", field=name)
        return value

    def required_text(self, name: str, min_len: int, max_len: int) -> str:
        value = self.text(name, min_len, max_len)
        assert value is not None
        return value

    def email(self, name: str, *, required: bool) -> str | None:
        if not required and self.obj.get(name) == "":
            return None  # an optional field left empty in a form
        value = self.text(name, 1, MAX_EMAIL, required=required)
        if value is None:
            return None
        value = value.strip()
        if not _EMAIL.match(value):
            raise FrameError("invalid_field", f"The field '{name}' is not an email address.", field=name)
        return value

    def url(self, name: str, *, required: bool) -> str | None:
        value = self.text(name, 1, MAX_URL, required=required)
        if value is None:
            return None
        if not is_web_url(value):
            raise FrameError("invalid_field", f"The field '{name}' must be an http(s) URL.", field=name)
        return value

    def boolean(self, name: str) -> bool:
        value = self.obj.get(name)
        if not isinstance(value, bool):
            raise FrameError("invalid_field", f"The field '{name}' must be true or false.", field=name)
        return value

    def count(self, name: str) -> int:
        value = self.obj.get(name)
        # bool is an int in Python; true is not a sequence number.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**53:
            raise FrameError(
                "invalid_field", f"The field '{name}' must be a whole number of 0 or more.", field=name
            )
        return value

    def user_data(self, name: str) -> dict[str, str]:
        value = self.obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or len(value) > MAX_USERDATA_KEYS:
            raise FrameError(
                "invalid_field",
                f"The field '{name}' must be an object of at most {MAX_USERDATA_KEYS} strings.",
                field=name,
            )
        for key, item in value.items():
            if not (0 < len(key) <= MAX_USERDATA_KEY) or not isinstance(item, str):
                raise FrameError(
                    "invalid_field", f"The field '{name}' must map short names to strings.", field=name
                )
            if len(item) > MAX_USERDATA_VALUE:
                raise FrameError(
                    "invalid_field",
                    f"Each value in '{name}' may be at most {MAX_USERDATA_VALUE} characters.",
                    field=name,
                )
        return dict(value)


def _has_control_chars(value: str, *, allow_newlines: bool) -> bool:
    for char in value:
        code = ord(char)
        if code < 32 or code == 127:
            if allow_newlines and char in "\n\r\t":
                continue
            return True
    return False


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host: what a page address may be."""
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _start(f: _Fields) -> Start:
    return Start(
        nickname=f.required_text("nickname", 1, MAX_NICKNAME).strip(),
        subject=(f.text("subject", 0, MAX_SUBJECT, required=False) or "").strip(),
        email=f.email("email", required=False),
        user_data=f.user_data("userData"),
        page=f.url("page", required=False),
        id=f.text("id", 1, MAX_CLIENT_ID, required=False),
        visitor=f.text("visitor", 1, MAX_TOKEN, required=False),
    )


def _resume(f: _Fields) -> Resume:
    return Resume(token=f.required_text("token", 1, MAX_TOKEN), after=f.count("after"))


def _say(f: _Fields) -> Say:
    return Say(id=f.required_text("id", 1, MAX_CLIENT_ID), text=f.required_text("text", 1, MAX_TEXT))


def _leave_message(f: _Fields) -> LeaveMessage:
    email = f.email("email", required=True)
    assert email is not None
    return LeaveMessage(
        id=f.required_text("id", 1, MAX_CLIENT_ID),
        name=f.required_text("name", 1, MAX_NICKNAME).strip(),
        email=email,
        message=f.required_text("message", 1, MAX_TEXT),
        page=f.url("page", required=False),
        visitor=f.text("visitor", 1, MAX_TOKEN, required=False),
    )


def _visit(f: _Fields) -> Visit:
    url = f.url("url", required=True)
    assert url is not None
    return Visit(url=url)


def _rate(f: _Fields) -> Rate:
    rating = f.required_text("rating", 1, 10)
    if rating not in RATINGS:
        raise FrameError("invalid_field", "The field 'rating' must be 'good' or 'bad'.", field="rating")
    comment = f.text("comment", 0, MAX_COMMENT, required=False)
    client_id = f.text("id", 1, MAX_CLIENT_ID, required=False)
    return Rate(rating, comment.strip() or None if comment is not None else None, client_id)


_PARSERS: dict[str, Any] = {
    "start": _start,
    "resume": _resume,
    "say": _say,
    "typing": lambda f: Typing(active=f.boolean("active")),
    "visit": _visit,
    "end": lambda f: End(),
    "leave_message": _leave_message,
    "rate": _rate,
    "widget": lambda f: Widget(expanded=f.boolean("expanded")),
    "ping": lambda f: Ping(),
}


# --- server -> visitor -------------------------------------------------------------------------------


def iso_time(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-21T05:44:00.123Z``."""
    second, millisecond = divmod(epoch_ms, 1000)
    return f"{_iso_second(second)}.{millisecond:03d}Z"


@functools.lru_cache(maxsize=256)
def _iso_second(second: int) -> str:
    # Cached: every event frame carries its time, and a burst's events share their second (formatting a
    # datetime was 7 % of the server's CPU in a burst of messages).
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def hello_frame(
    *,
    available: bool,
    capabilities: list[str],
    name: str,
    opens_at: str | None = None,
    reason: str | None = None,
    locale: str | None = None,
    strings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "hello",
        "available": available,
        "capabilities": capabilities,
        "name": name,
    }
    if opens_at is not None:
        frame["opensAt"] = opens_at  # outside business hours: when a live answer is likely again
    if reason is not None:
        frame["reason"] = reason  # why not: "hours" (closed), "agents" (nobody online), "backend"
    if locale is not None:
        frame["locale"] = locale  # the site's language, when the page and the browser name none we have
    if strings:
        frame["strings"] = dict(strings)  # the site's own wording, by string id
    return frame


def welcome_frame(chat_id: str, token: str, visitor: str | None = None) -> dict[str, Any]:
    frame = {"type": "welcome", "chat": chat_id, "token": token}
    if visitor is not None:
        frame["visitor"] = visitor
    return frame


def ack_frame(
    client_id: str, seq: int | None = None, *, chat: str | None = None, visitor: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "ack", "id": client_id}
    if seq is not None:
        frame["seq"] = seq
    if chat is not None:
        frame["chat"] = chat
    if visitor is not None:
        frame["visitor"] = visitor
    return frame


def typing_frame(name: str, active: bool) -> dict[str, Any]:
    return {"type": "typing", "name": name, "active": active}


def queue_frame(position: int) -> dict[str, Any]:
    return {"type": "queue", "position": position}


def error_frame(
    code: str, message: str, *, id: str | None = None, field: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if id is not None:
        frame["id"] = id
    if field is not None:
        frame["field"] = field
    return frame


PONG: dict[str, Any] = {"type": "pong"}
