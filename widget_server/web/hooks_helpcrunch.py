"""``POST /hooks/helpcrunch/{site}``: HelpCrunch's webhooks, agent activity pushed to us
(HelpCrunch's "Chat webhooks" and "Message webhooks").

Only for a site on the HelpCrunch backend with ``webhook_secret_env`` set (404 otherwise). Every call is
authenticated before anything of it is read: ``X-HelpCrunch-Signature`` must be the hex HMAC-SHA1 of the
raw body with the site's signing key, or the answer is 401 and nothing changes.

An event is matched to our chat by its customer's ``userId`` (our chat id, adapters/helpcrunch.py), mapped
by ``map_hook`` and stored through ``ChatService.from_contact_center`` with the event's id as the dedupe
key, so a delivery HelpCrunch repeats is stored once. Events for chats we do not know, or that ended, are
answered 200 all the same, so that HelpCrunch stops retrying them.

Which agents are in the chat comes from the chat log, not from ``backend_state``: the chat's poller keeps
``backend_state`` in memory and writes all of it back after each delivery, so a cursor written from here
would be lost (or would turn its ``delivered_seq`` back). Events of one chat may be handled at once, here
or in another process: whether an agent is new is decided by the database (``from_contact_center``
stores an agent's arrival once, however many deliveries saw them absent).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from widget_server import json_input
from widget_server.adapters.helpcrunch import (
    RELAYED_EVENTS,
    SIGNATURE_HEADER,
    Hook,
    agents_in_log,
    map_hook,
    parse_hook,
    signature_valid,
    webhook_secret,
)
from widget_server.model import ENDED, Chat
from widget_server.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # HelpCrunch's events are a few KiB


def _answer(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None when it is too large."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _our_chat(runtime: Runtime, site_id: str, hook: Hook) -> Chat | None:
    chat = await runtime.store.get_chat(hook.user_id) if hook.user_id else None
    if chat is None and hook.chat_id is not None:
        chat = await runtime.store.find_by_backend_ref(site_id, str(hook.chat_id))
    if chat is None or chat.site != site_id or chat.backend != "helpcrunch":
        return None
    known = chat.backend_state.get("chat_id")
    if known is not None and hook.chat_id is not None and known != hook.chat_id:
        return None  # another HelpCrunch chat of the same customer (an agent's follow-up, say)
    return chat


async def receive(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    site_id = request.path_params["site"]
    site = runtime.sites.get(site_id)
    if site is None or site.backend != "helpcrunch":
        return _answer(404, "not_found", "There is no HelpCrunch site here.")
    secret = webhook_secret(site.backend_settings)
    if secret is None:
        return _answer(404, "not_found", "Webhooks are not enabled for this site.")
    raw = await _read_body(request)
    if raw is None:
        return _answer(413, "too_large", f"A webhook body may be at most {MAX_BODY} bytes.")
    if not signature_valid(raw, request.headers.get(SIGNATURE_HEADER), secret):
        client = request.client.host if request.client else "?"
        log.warning(
            "site %s: refused a HelpCrunch webhook without a valid signature from %s", site_id, client
        )
        return _answer(401, "bad_signature", f"{SIGNATURE_HEADER} does not match the body.")
    try:
        hook = parse_hook(json_input.parse(raw))
    except ValueError:
        hook = None
    if hook is None:
        return _answer(400, "bad_event", "The body is not a HelpCrunch webhook event.")
    if hook.event not in RELAYED_EVENTS:
        return JSONResponse({"ok": True, "stored": False})
    chat = await _our_chat(runtime, site_id, hook)
    if chat is None or chat.state == ENDED:
        log.debug("site %s: HelpCrunch event %s (%s) is for no open chat here", site_id, hook.id, hook.event)
        return JSONResponse({"ok": True, "stored": False})
    seen = await runtime.store.events_after(chat.id, 0)
    stored = await runtime.service.from_contact_center(
        chat, map_hook(hook, agents_in_log(seen)), dedupe_key=hook.id, seen=seen
    )
    return JSONResponse({"ok": True, "stored": stored})


routes = [Route("/hooks/helpcrunch/{site}", receive, methods=["POST"])]
