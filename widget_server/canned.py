"""Canned responses: replies agents insert by a shortcut (``/refund``) instead of typing them again.

Shared ones are made by operators and seen by every agent; personal ones belong to one agent, whom alone
they reach. Their text may hold placeholders that the console fills in when it inserts one:
``{{visitor.name}}``, ``{{visitor.email}}``, ``{{agent.name}}``, ``{{site.name}}`` (``PLACEHOLDERS``;
filled in static/agent/canned.js, documented in docs/console.md). This module is the pure part: what a
canned response may be (``check``), as plain data in and a ``CannedError`` out. The web layer
(widget_server/web/canned.py) stores them and tells the consoles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from widget_server.model import CannedResponse
from widget_server.protocol import MAX_TEXT, iso_time
from widget_server.refusal import Refused

SHARED = "shared"
PERSONAL = "personal"
SCOPES = (SHARED, PERSONAL)
MAX_SHORTCUT = 32
MAX_TITLE = 100
#: How many a deployment keeps shared, and each agent of their own: far above what anyone scrolls through.
MAX_SHARED = 1000
MAX_PERSONAL = 300
PLACEHOLDERS = ("visitor.name", "visitor.email", "agent.name", "site.name")

# Lower-case letters, digits, "-" and "_", beginning with a letter or digit: typed after "/" in the composer.
_SHORTCUT = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_SHORTCUT - 1}}}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs are text


class CannedError(Refused):
    """A request about canned responses that is refused."""


@dataclass(frozen=True)
class Fields:
    """A canned response as a person wrote it, checked: shortcut without its "/", trimmed title and text."""

    shortcut: str
    title: str
    text: str
    scope: str = PERSONAL


def check(body: Any, *, creating: bool) -> Fields:
    """The fields of a create (``creating``: with its ``scope``) or replace request's JSON body; unknown
    fields are ignored. A shortcut may be given with its "/" and in capitals: it is kept without, in lower
    case."""
    if not isinstance(body, dict):
        raise CannedError("bad_request", "Send a JSON object with shortcut, title and text.")
    raw = body.get("shortcut")
    shortcut = raw.strip().removeprefix("/").lower() if isinstance(raw, str) else ""
    if not _SHORTCUT.fullmatch(shortcut):
        raise CannedError(
            "invalid_field",
            f"A shortcut is 1 to {MAX_SHORTCUT} letters a-z, digits, - or _, like /refund.",
            field="shortcut",
        )
    title = _text(body, "title", MAX_TITLE, newlines=False)
    text = _text(body, "text", MAX_TEXT, newlines=True)
    scope = body.get("scope", PERSONAL) if creating else PERSONAL
    if scope not in SCOPES:
        raise CannedError("invalid_field", "The scope is 'shared' or 'personal'.", field="scope")
    return Fields(shortcut, title, text, scope)


def _text(body: dict[str, Any], name: str, limit: int, *, newlines: bool) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CannedError("invalid_field", f"Write a {name}.", field=name)
    value = value.strip()
    if len(value) > limit:
        raise CannedError(
            "invalid_field", f"The {name} may be at most {limit} characters ({len(value)} now).", field=name
        )
    if _CONTROL.search(value) or (not newlines and ("\n" in value or "\r" in value or "\t" in value)):
        raise CannedError("invalid_field", f"The {name} contains control characters.", field=name)
    return value


def scope_of(response: CannedResponse) -> str:
    return SHARED if response.owner is None else PERSONAL


def to_json(response: CannedResponse, *, editable: bool) -> dict[str, Any]:
    """As the console's JSON API gives it; ``editable``: whether the reader may change it."""
    return {
        "id": response.id,
        "scope": scope_of(response),
        "shortcut": response.shortcut,
        "title": response.title,
        "text": response.text,
        "updatedAt": iso_time(response.updated_at),
        "updatedBy": response.updated_by,
        "editable": editable,
    }
