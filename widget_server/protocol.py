"""Wire protocol v1 of the visitor websocket: parse what a visitor sends, format what the server sends.

Pure functions over plain data, no I/O. docs/protocol.md is the prose version of this module; the two
change together.

Every visitor frame is one JSON object with a ``type``. ``parse_visitor_frame`` turns a text frame into
one of the request dataclasses below or raises ``FrameError`` carrying the machine-readable ``code`` and
a human sentence for the ``error`` frame. It never raises anything else, whatever the input.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from widget_server import json_input
from widget_server.identity import Claim

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
MAX_GREETING_ID = 32  # greetings.RULE_ID
MAX_TEAM_ID = 64  # a team's id, as a site's id (config.SITE_ID)
MAX_GREETING_TEXT = 1000  # greetings.MAX_TEXT
MAX_IDENTITY_ID = 256
MAX_SIGNATURE = 128

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
class PageGreeting:
    """A greeting the host page showed (``WidgetServer("greet", {text, from})``), as the visitor's frame
    says it: the page's words, or the visitor's, never vouched for by the site's settings (greetings.py)."""

    text: str
    sender: str | None = None


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
    #: Optional identity signed by the site's backend (widget_server/identity.py), not yet verified.
    identity: Claim | None = None
    #: The greeting the visitor answered: a rule's id, or the host page's own (greetings.py).
    greeting: str | PageGreeting | None = None
    #: The team the visitor chose, one of the site's ``teams`` (hello's ``teams``).
    team: str | None = None


@dataclass(frozen=True)
class Earlier:
    """A verified visitor asks for their earlier chats on the site (from any device)."""

    identity: Claim


@dataclass(frozen=True)
class Transcript:
    """A verified visitor asks for one of their chats, to read."""

    identity: Claim
    chat: str


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
    greeting: str | PageGreeting | None = None  # as in Start


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
class Update:
    """The host page changed the visitor's details during the chat (the widget's ``set`` command): an
    email, and attributes to merge into the chat's ``userData`` (``None`` removes one)."""

    email: str | None = None
    user_data: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Ping:
    pass


VisitorFrame = (
    Start
    | Resume
    | Say
    | Typing
    | Visit
    | End
    | LeaveMessage
    | Rate
    | Widget
    | Ping
    | Earlier
    | Transcript
    | Update
)
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

    def greeting(self, name: str) -> str | PageGreeting | None:
        """A rule's id (a string), or the page's own greeting (an object: ``text``, ``from``?)."""
        value = self.obj.get(name)
        if value is None or isinstance(value, str):
            return self.text(name, 1, MAX_GREETING_ID, required=False)
        if not isinstance(value, dict):
            raise FrameError(
                "invalid_field", f"The field '{name}' must be a greeting's id or an object.", field=name
            )
        inner = _Fields(value)
        try:
            text = inner.required_text("text", 1, MAX_GREETING_TEXT)
            sender = inner.text("from", 1, MAX_NICKNAME, required=False)
        except FrameError as error:
            raise FrameError("invalid_field", f"In '{name}': {error.message}", field=name) from None
        return PageGreeting(text.strip(), sender.strip() or None if sender else None)

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
        """The visitor's attributes: see ``attributes``."""
        found = self.attributes(name)
        for key, item in found.items():
            if item is None:
                raise FrameError("invalid_field", f"The attribute {key[:40]!r} has no value.", field=name)
        return {key: item for key, item in found.items() if item is not None}

    def attributes(self, name: str) -> dict[str, str | None]:
        """An object of at most MAX_USERDATA_KEYS attributes: names of 1 to MAX_USERDATA_KEY characters,
        values strings, numbers or booleans, kept as text (``"true"``, ``"42"``: every contact center that
        takes them, GWS first, takes strings), at most MAX_USERDATA_VALUE characters; ``null`` (None)
        where ``Update`` allows it. No control characters in either."""
        value = self.obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or len(value) > MAX_USERDATA_KEYS:
            raise FrameError(
                "invalid_field",
                f"The field '{name}' must be an object of at most {MAX_USERDATA_KEYS} attributes.",
                field=name,
            )
        found: dict[str, str | None] = {}
        for key, item in value.items():
            if (
                not (0 < len(key) <= MAX_USERDATA_KEY)
                or not key.strip()
                or _has_control_chars(key, allow_newlines=False)
            ):
                raise FrameError(
                    "invalid_field",
                    f"An attribute's name in '{name}' must be 1 to {MAX_USERDATA_KEY} characters, no control"
                    " characters.",
                    field=name,
                )
            try:
                text = _attribute_text(item)
            except ValueError:
                raise FrameError(
                    "invalid_field",
                    f"The attribute {key[:40]!r} must be a string, a number or true/false.",
                    field=name,
                ) from None
            if text is not None and (
                len(text) > MAX_USERDATA_VALUE or _has_control_chars(text, allow_newlines=False)
            ):
                raise FrameError(
                    "invalid_field",
                    f"The attribute {key[:40]!r} may be at most {MAX_USERDATA_VALUE} characters, no control"
                    " characters.",
                    field=name,
                )
            found[key] = text
        return found

    def identity(self, name: str, *, required: bool) -> Claim | None:
        """An identity as the site's backend signed it: ``{id, email?, expires, signature}`` (and the
        unsigned ``name`` the widget may carry along, which is not read here). Only its shape is checked
        here; whether it is signed is the identity module's (a missing signature is its refusal too, with
        its own code)."""
        value = self.obj.get(name)
        if value is None and not required:
            return None
        problem = FrameError(
            "invalid_field",
            f"The field '{name}' must be an object with 'id', 'expires' and 'signature' (and 'email').",
            field=name,
        )
        if not isinstance(value, dict):
            raise problem
        inner = _Fields(value)
        try:
            identity_id = inner.required_text("id", 1, MAX_IDENTITY_ID)
            email = inner.email("email", required=False) or ""
            expires = inner.count("expires")
            signature = inner.text("signature", 0, MAX_SIGNATURE, required=False)
        except FrameError as error:
            raise FrameError(
                "invalid_field", f"In '{name}': {error.message[0].lower()}{error.message[1:]}", field=name
            ) from None
        return Claim(identity_id, email, expires, signature)


def _attribute_text(value: object) -> str | None:
    """An attribute's value as text; None for null; ValueError for what an attribute may not be (an
    object, a list, a number beyond JavaScript's exact integers or not finite)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) <= 2**53:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise ValueError(value)


def merge_user_data(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """``current`` with an ``Update``'s attributes: set, or removed by None; at most MAX_USERDATA_KEYS."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_USERDATA_KEYS:
        raise FrameError(
            "invalid_field",
            f"A chat's visitor may have at most {MAX_USERDATA_KEYS} attributes; remove some first (null).",
            field="userData",
        )
    return merged


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
        identity=f.identity("identity", required=False),
        greeting=f.greeting("greeting"),
        team=f.text("team", 1, MAX_TEAM_ID, required=False),
    )


def _earlier(f: _Fields) -> Earlier:
    claim = f.identity("identity", required=True)
    assert claim is not None
    return Earlier(claim)


def _transcript(f: _Fields) -> Transcript:
    claim = f.identity("identity", required=True)
    assert claim is not None
    return Transcript(claim, f.required_text("chat", 1, MAX_CLIENT_ID))


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
        greeting=f.greeting("greeting"),
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


def _update(f: _Fields) -> Update:
    return Update(email=f.email("email", required=False), user_data=f.attributes("userData"))


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
    "update": _update,
    "ping": lambda f: Ping(),
    "earlier": _earlier,
    "transcript": _transcript,
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


def read_frame(seq: int) -> dict[str, Any]:
    """An agent has seen the chat up to event ``seq`` (the visitor's numbering): a read receipt."""
    return {"type": "read", "seq": seq}


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
