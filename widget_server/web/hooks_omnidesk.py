"""Omnidesk's hookpoint: ``POST {chatServer}/messageForCustomer``, where agent replies arrive (D.4).

A site's ``chat_server`` is ``https://CHAT_HOST/hooks/omnidesk/{site}/{secret}``, so Omnidesk calls
``/hooks/omnidesk/{site}/{secret}/messageForCustomer``. Omnidesk signs nothing and its chatServer pattern
allows no query string, so the secret in the path is the authentication: it is compared in constant
time, and a wrong secret (or an unknown site) gets 404 with nothing read, exactly like a path that does
not exist. The answer Omnidesk expects is the text ``ok``.

The payload is not documented. It is read from multipart or urlencoded forms and from JSON alike, with
the site's field names (``hook_fields``; defaults in widget_server/adapters/omnidesk.py): the session
(our chat id), the message and the agent's name, and optionally an ``event`` (agent typing, joining,
closing the chat) and a message id (a repeated delivery then counts once). ``read_hook`` and
``agent_activity`` are the pure part; the route is the thin part around them.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from widget_server import json_input, model
from widget_server.adapters import Polled
from widget_server.adapters.omnidesk import (
    DEFAULT_HOOK_FIELDS,
    HOOK_EVENTS,
    HOOK_PATH,
    OmnideskAdapter,
    hook_secret,
)
from widget_server.model import Event, NewEvent
from widget_server.protocol import MAX_NICKNAME
from widget_server.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # an agent's message is text; files come another way
MAX_AGENT_TEXT = 20_000
DEFAULT_AGENT_NAME = "Agent"


# --- the payload (pure) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookCall:
    """What one call to the hookpoint said, read with the site's field names."""

    chat_session_id: str
    text: str
    agent_name: str
    event: str | None
    message_id: str | None


class HookPayloadError(ValueError):
    """The payload lacks what it needs; the message says what, for Omnidesk's log."""


def hook_fields(settings: Mapping[str, Any]) -> dict[str, str]:
    return {**DEFAULT_HOOK_FIELDS, **(settings.get("hook_fields") or {})}


def _lookup(payload: Mapping[str, Any], name: str) -> Any:
    """A field by its configured name; in JSON, "a.b" also reaches into nested objects."""
    if name in payload:
        return payload[name]
    value: Any = payload
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def read_hook(payload: Mapping[str, Any], fields: Mapping[str, str]) -> HookCall:
    """One hookpoint call as data; HookPayloadError when it names no session or says nothing."""
    session = _text(_lookup(payload, fields["chat_session_id"])).strip()
    if not session:
        raise HookPayloadError(f"no {fields['chat_session_id']}")
    text = _text(_lookup(payload, fields["message"])).strip()
    event = _text(_lookup(payload, fields["event"])).strip().lower() or None
    if event is not None and event not in HOOK_EVENTS:
        log.info("omnidesk hookpoint: ignoring the unknown event %r", event[:40])
        event = None
    if not text and event is None:
        raise HookPayloadError(f"no {fields['message']}")
    name = _text(_lookup(payload, fields["agent_name"])).strip()[:MAX_NICKNAME] or DEFAULT_AGENT_NAME
    message_id = _text(_lookup(payload, fields["message_id"])).strip()[:100] or None
    return HookCall(session, text[:MAX_AGENT_TEXT], name, event, message_id)


def agents_present(events: Sequence[Event]) -> set[str]:
    """The agents in the chat, from its log's joined and left events."""
    present: set[str] = set()
    for event in events:
        if event.kind == model.JOINED:
            present.add(event.data["name"])
        elif event.kind == model.LEFT:
            present.discard(event.data["name"])
    return present


def agent_activity(call: HookCall, present: set[str]) -> Polled:
    """A hookpoint call as chat-log events, given the agents already in the chat.

    The documented API has no "agent joined" notice, so an agent's first message (or a ``joinedchat``
    event) is their joining, and the first agent's makes the chat active. ``endedchat`` is the agent
    closing the chat. Order: the joining, the message, typing, the end."""
    events: list[NewEvent] = []
    typing: list[tuple[str, bool]] = []
    name = call.agent_name
    joins = bool(call.text or call.event == "joinedchat") and name not in present
    if joins:
        events.append(model.joined(name))
        if not present:
            events.append(model.state(model.ACTIVE))
    if call.text:
        events.append(model.message(model.AGENT, name, call.text))
    if call.event in ("startedtyping", "stoppedtyping"):
        typing.append((name, call.event == "startedtyping"))
    ended = call.event == "endedchat"
    if ended and (joins or name in present):
        events.append(model.left(name))
    return Polled(events=events, typing=typing, ended=ended)


# --- the route (thin) -----------------------------------------------------------------------------------


class _TooLarge(HookPayloadError):
    pass


async def message_for_customer(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    site_id = request.path_params["site"]
    site = runtime.sites.get(site_id)
    given = request.path_params["secret"].encode()
    expected = (
        hook_secret(site.backend_settings["chat_server"]) if site and site.backend == "omnidesk" else ""
    )
    # Compared even for an unknown site (against nothing), so that timing tells nothing either.
    if not hmac.compare_digest(given, expected.encode()) or not expected:
        log.warning("omnidesk hookpoint: wrong secret or site %r", site_id[:64])
        return PlainTextResponse("Not Found", status_code=404)
    assert site is not None
    try:
        payload = await _payload(request)
        call = read_hook(payload, hook_fields(site.backend_settings))
    except HookPayloadError as error:
        log.warning("site %s: omnidesk hookpoint: %s", site.id, error)
        return PlainTextResponse(str(error), status_code=413 if isinstance(error, _TooLarge) else 400)
    chat = await runtime.store.get_chat(call.chat_session_id[:100])
    if chat is None or chat.site != site.id or chat.backend != "omnidesk":
        log.warning(
            "site %s: omnidesk hookpoint: unknown chatSessionID %r", site.id, call.chat_session_id[:100]
        )
        return PlainTextResponse("unknown chatSessionID", status_code=404)
    # Calls of one chat may run at once, here or in other processes: two replies of a new agent arriving
    # together both see them absent, and the database stores their joining once (from_contact_center).
    seen = await runtime.store.events_after(chat.id, 0)
    activity = agent_activity(call, agents_present(seen))
    if activity.events:
        adapter = runtime.adapter(site.id)
        if isinstance(adapter, OmnideskAdapter):
            adapter.agent_answered(chat.id)  # out of the queue: stop asking for its place
    if chat.state == model.ENDED and activity.events:
        # The visitor is gone: say so, rather than "ok" for a reply nobody will read.
        return PlainTextResponse("chat ended", status_code=410)
    await runtime.service.from_contact_center(chat, activity, dedupe_key=call.message_id, seen=seen)
    return PlainTextResponse("ok")


async def _payload(request: Request) -> dict[str, Any]:
    """The body as a flat mapping of fields (or a JSON object): multipart, urlencoded or JSON."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge(f"the body is over {MAX_BODY} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart(request, bytes(body))
    text = bytes(body).decode("utf-8", "replace")
    if content_type == "application/json" or content_type.endswith("+json") or text.lstrip()[:1] == "{":
        try:
            parsed = json_input.parse(text)
        except ValueError:
            raise HookPayloadError("the body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise HookPayloadError("the JSON body is not an object")
        return parsed
    return dict(parse_qsl(text, keep_blank_values=True))


async def _multipart(request: Request, body: bytes) -> dict[str, Any]:
    sent = False

    async def replay() -> Message:  # the body was read already (with its limit): parse it again
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, replay).form(max_files=10, max_fields=100) as form:
            return {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
    except (HTTPException, MultiPartException) as error:
        detail = error.detail if isinstance(error, HTTPException) else error.message
        raise HookPayloadError(f"the form could not be read: {detail}") from None


routes = [
    Route(
        "/hooks/omnidesk/{site}/{secret}" + HOOK_PATH,
        message_for_customer,
        methods=["POST"],
    )
]
