"""The chat history API: Zendesk Chat's Chats REST API over our own chats, under ``/api/v2/chat/``.

Scripts and tools written for Zendesk Chat work against widget_server: every chat and offline message of
every site and backend is here, as the chat object of widget_server/history/chat_object.py.

Every request carries ``Authorization: Bearer <token>`` with an admin API token (``widget-server tokens
create NAME``), as for the admin API, whose throttle of failed attempts per client address it shares.

=======  =============================  ======================================================================
GET      /api/v2/chat/chats             ``{"chats": [...], "count", "next_url", "prev_url"}``, newest first;
                                        ``count`` is the number of chats in all; paging: ``limit`` and
                                        ``cursor`` (widget_server/history/finder.py)
GET      /api/v2/chat/chats?ids=a,b     ``{"count", "docs": {id: chat}}``: 1 to 50 ids; unknown and deleted
                                        chats are left out of ``docs``, ``count`` is the number found
GET      /api/v2/chat/chats/search?q=   ``{"count", "next_url", "prev_url", "results": [{"id", "preview",
                                        "timestamp", "type", "url"}]}``, 40 a page, ``page`` 1 to 250
GET      /api/v2/chat/chats/{id}        the chat object
POST     /api/v2/chat/chats             create an offline message (widget_server/history/bodies.py): 201
PUT      /api/v2/chat/chats/{id}        change a chat (dotted keys, ``{"visitor.name": "Joe"}``): 200
DELETE   /api/v2/chat/chats/{id}        204
DELETE   /api/v2/chat/chats?ids=a,b     ``{"failed": {"already_deleted": [...], "invalid_id": [...],
                                        "not_found": [...]}, "number_fail", "number_success"}``
=======  =============================  ======================================================================

Errors are ``{"error": label, "description": sentence}`` (widget_server/history/errors.py): 400 for a
malformed query, an unknown parameter or field, a read-only field, more than 50 ids, a bad date, a page
past 250; 401 without a valid token; 404 for an unknown (or deleted) chat; 405 for another method.

Decisions where the seed is silent:

- Chat ids are UUIDs (as the server makes them), compared ignoring case; anything else is an
  ``invalid_id`` in a bulk delete and an unknown chat elsewhere.
- Deleting is soft (``deleted_at``): a deleted chat is gone from every endpoint, its log stays in the
  database. Deleting and changing are recorded in the audit log (who, through "api", from where).
- ``next_url`` and ``prev_url`` are absolute URLs of this server, as the client reached it, or null.
- Create Chat: the message goes through the chat service exactly like one left in the widget (stored,
  shown to agents, forwarded to Zendesk when the site forwards). The site: ``"site"`` in the body (our
  extension), which may be left out when the server has one site. ``timestamp``, ``session.start_date``
  and ``session.end_date`` are required or checked as documented, but the message is dated when it is
  stored. An ``Idempotency-Key`` header (1 to 64 printable characters) makes a retry return the message
  the first request created instead of creating another (409 if that message was deleted since). The
  per-address limit on new chats, meant for visitors, does not apply to an administrator's token.
- List Chats' ``count`` is the number of chats in all (not deleted), not the number on the page; the
  seed's example writes ``"next_url": "null"``, a string, which we take for a slip: we write null.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from widget_server import json_input, model
from widget_server.chat_service import ServiceError
from widget_server.config import Site
from widget_server.history import bodies, chat_object, finder
from widget_server.history.errors import RequestError, invalid, not_found, record_invalid
from widget_server.history.search import MAX_PAGE, PAGE_SIZE, QueryError, page_number, parse_query
from widget_server.model import Actor, AuditEntry, Chat
from widget_server.protocol import LeaveMessage
from widget_server.runtime import Runtime
from widget_server.site_admin import SiteAdmin
from widget_server.store import ChatNotFound, Store
from widget_server.web.security import FailureThrottle

log = logging.getLogger(__name__)

PREFIX = "/api/v2/chat"
MAX_IDS = 50
MAX_BODY = 64 * 1024
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,64}")
Handler = Callable[[Request, Actor], Awaitable[Response]]


def _error(status: int, label: str, description: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": label, "description": description}, status_code=status, headers=headers)


def _endpoint(handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate as the admin API does, then dispatch on the method; a ``RequestError`` is answered in
    the error envelope."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        admin: SiteAdmin = request.app.state.site_admin
        failures: FailureThrottle = request.app.state.api_failures
        ip = request.client.host if request.client else "?"
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        token = await admin.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            # Only failures are throttled (admin_api.authenticated says why).
            if await failures.blocked(ip):
                return _error(429, "TooManyRequests", "Too many failed authentications; wait a minute.")
            await failures.failed(ip)
            log.info("history API: refused a request without a valid token from %s", ip)
            return _error(
                401,
                "Unauthorized",
                "Send a valid API token: Authorization: Bearer <token>.",
                **{"WWW-Authenticate": 'Bearer realm="widget_server"'},
            )
        now = model.now_ms()
        if token.last_used_at is None or now - token.last_used_at > 60_000:
            await runtime.store.token_used(token.id, now)
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            allowed = ", ".join(handlers)
            return _error(
                405, "MethodNotAllowed", f"{request.method} is not served here; use {allowed}.", Allow=allowed
            )
        try:
            return await handler(request, Actor(f"token:{token.name}", "api", ip))
        except ChatNotFound as gone:  # deleted by someone else meanwhile
            refused = not_found(str(gone))
        except RequestError as error:
            refused = error
        return JSONResponse(refused.to_json(), status_code=refused.status)

    return endpoint


# --- parameters ------------------------------------------------------------------------------------------


def _only(request: Request, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for name in request.query_params:
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise invalid(f"Unknown parameter {name!r} (parameters here: {known}).")


def canonical_id(raw: str) -> str | None:
    """The chat id in the form the server makes them (a lower-case UUID), or None if it is not one."""
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    return str(parsed) if len(raw) == 36 else None


def _ids(request: Request) -> list[str]:
    raw = request.query_params["ids"]
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise invalid("ids is empty: give 1 to 50 chat ids separated by commas.")
    if len(ids) > MAX_IDS:
        raise invalid(f"ids may list at most {MAX_IDS} chat ids; {len(ids)} were given.")
    return ids


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _too_large(limit: int) -> RequestError:
    return RequestError(413, "RequestTooLarge", f"A request body may be at most {limit} bytes.")


def too_large(limit: int) -> dict[str, Any]:
    """The 413's body when the app refuses a body before it reaches us (web/body_limit.py)."""
    return _too_large(limit).to_json()


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _too_large(MAX_BODY)
    try:
        return json_input.parse(raw)
    except json_input.InvalidJSON as error:
        raise invalid(str(error)) from None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _visible_chat(store: Store, raw_id: str) -> Chat:
    chat_id = canonical_id(raw_id)
    chat = await store.get_chat(chat_id) if chat_id is not None else None
    if chat is None or chat.deleted_at is not None:
        raise not_found(raw_id)
    return chat


async def _object_of(store: Store, chat: Chat) -> dict[str, Any]:
    return chat_object.chat_object(chat, await store.events_after(chat.id, 0))


# --- the collection: list, ids, create, bulk delete -------------------------------------------------------


async def list_chats(request: Request, actor: Actor) -> Response:
    store = _runtime(request).store
    if "ids" in request.query_params:
        _only(request, ["ids"])
        ids = [chat_id for chat_id in map(canonical_id, _ids(request)) if chat_id is not None]
        chats = {i: chat for i, chat in (await store.get_chats(ids)).items() if chat.deleted_at is None}
        logs = await store.events_of_chats(list(chats))
        docs = {i: chat_object.chat_object(chat, logs.get(i, [])) for i, chat in chats.items()}
        return JSONResponse({"count": len(docs), "docs": docs})
    _only(request, ["cursor", "limit"])
    limit_given = request.query_params.get("limit")
    limit = finder.page_limit(limit_given)
    page = await finder.list_page(
        store,
        request.query_params.get("cursor"),
        limit,
        lambda chat, events: _json(chat_object.chat_object(chat, events)),
    )

    def url(cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = {"cursor": cursor, **({"limit": str(limit)} if limit_given is not None else {})}
        return f"{_base(request)}/chats?{urlencode(params)}"

    # The chats were rendered one by one as the page was filled (to know its size): joined, not again.
    rest = _json(
        {"count": await store.count_chats(), "next_url": url(page.older), "prev_url": url(page.newer)}
    )
    body = b'{"chats":[' + b",".join(page.documents) + b"]," + rest[1:]
    return Response(body, media_type="application/json")


def _json(value: Any) -> bytes:
    """As JSONResponse renders."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def delete_chats(request: Request, actor: Actor) -> Response:
    _only(request, ["ids"])
    if "ids" not in request.query_params:
        raise invalid("Deleting chats needs ids: DELETE /api/v2/chat/chats?ids=ID,ID (up to 50).")
    given = _ids(request)
    canonical = {raw: canonical_id(raw) for raw in given}
    valid = list(dict.fromkeys(chat_id for chat_id in canonical.values() if chat_id is not None))
    outcomes = await _runtime(request).store.delete_chats(valid, AuditEntry.of(actor, "chat.delete", ""))
    failed: dict[str, list[str]] = {"already_deleted": [], "invalid_id": [], "not_found": []}
    for raw, chat_id in canonical.items():
        if chat_id is None:
            failed["invalid_id"].append(raw)
        elif outcomes.get(chat_id) in ("already_deleted", "not_found"):
            failed[outcomes[chat_id]].append(raw)
    deleted = [chat_id for chat_id, outcome in outcomes.items() if outcome == "deleted"]
    if deleted:
        log.info("history API: %s deleted %d chats", actor.name, len(deleted))
        await _runtime(request).service.deleted(deleted)
    return JSONResponse(
        {
            "failed": failed,
            "number_fail": sum(len(ids) for ids in failed.values()),
            "number_success": len(deleted),
        }
    )


def _site_for(runtime: Runtime, named: str | None) -> Site:
    if named is not None:
        site = runtime.sites.get(named)
        if site is None:
            raise record_invalid(
                {"site": [{"error": "InvalidValue", "description": f"There is no site {named!r}."}]}
            )
        return site
    sites = runtime.sites.all()
    if len(sites) == 1:
        return sites[0]
    listed = ", ".join(site.id for site in sites[:10]) + (", ..." if len(sites) > 10 else "")
    raise record_invalid(
        {
            "site": [
                {
                    "error": "Missing",
                    "description": f"There are {len(sites)} sites ({listed}): "
                    'name the one this message is for with "site".',
                }
            ]
        }
    )


async def create_chat(request: Request, actor: Actor) -> Response:
    _only(request, [])
    runtime = _runtime(request)
    message = bodies.new_offline_message(await _json_body(request))
    site = _site_for(runtime, message.site)
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise invalid("The Idempotency-Key header must be 1 to 64 printable characters without spaces.")
    start_id = f"api:{key}" if key is not None else f"api:{uuid.uuid4()}"
    earlier = await runtime.store.find_started(site.id, start_id)
    if earlier is not None:
        if earlier.deleted_at is not None:
            raise RequestError(
                409, "Conflict", "The offline message this Idempotency-Key created was deleted."
            )
        return JSONResponse(await _object_of(runtime.store, earlier), status_code=201)
    request_message = LeaveMessage(
        id=start_id, name=message.name, email=message.email, message=message.message
    )
    try:
        # An administrator's token is not a visitor: the per-address limit on new chats does not apply.
        chat = await runtime.service.leave_message(
            site,
            request_message,
            ip=message.ip,
            user_agent=message.user_agent,
            created_at=message.created_at,
            limited=False,
        )
    except ServiceError as refused:
        raise RequestError(503, "ServiceUnavailable", refused.message) from None
    chat = await runtime.store.edit_chat(
        chat.id, meta=message.meta, audit=AuditEntry.of(actor, "chat.create", chat.id, site=site.id)
    )
    log.info("history API: %s created offline message %s on site %s", actor.name, chat.id, site.id)
    return JSONResponse(await _object_of(runtime.store, chat), status_code=201)


# --- one chat: show, update, delete ----------------------------------------------------------------------


async def show_chat(request: Request, actor: Actor) -> Response:
    _only(request, [])
    store = _runtime(request).store
    chat = await _visible_chat(store, request.path_params["chat_id"])
    return JSONResponse(await _object_of(store, chat))


async def update_chat(request: Request, actor: Actor) -> Response:
    _only(request, [])
    store = _runtime(request).store
    body = await _json_body(request)
    chat = await _visible_chat(store, request.path_params["chat_id"])
    edit = bodies.chat_edit(body, chat.type)
    # The audit entry names the fields, not their values: personal data stays in the chat, where deleting
    # the chat hides it.
    audit = AuditEntry.of(actor, "chat.update", chat.id, fields=list(edit.fields))
    try:
        chat = await store.edit_chat(chat.id, visitor=edit.visitor, meta=edit.meta, audit=audit)
    except ChatNotFound:
        raise not_found(chat.id) from None
    return JSONResponse(await _object_of(store, chat))


async def delete_chat(request: Request, actor: Actor) -> Response:
    _only(request, [])
    raw = request.path_params["chat_id"]
    chat_id = canonical_id(raw)
    if chat_id is None:
        raise not_found(raw)
    outcomes = await _runtime(request).store.delete_chats(
        [chat_id], AuditEntry.of(actor, "chat.delete", chat_id)
    )
    if outcomes.get(chat_id) != "deleted":
        raise not_found(raw)
    log.info("history API: %s deleted chat %s", actor.name, chat_id)
    await _runtime(request).service.deleted([chat_id])
    return Response(status_code=204)


# --- search ---------------------------------------------------------------------------------------------


async def search_chats(request: Request, actor: Actor) -> Response:
    _only(request, ["q", "page"])
    q = request.query_params.get("q")
    if q is None:
        raise invalid("q is required: the search query, e.g. q=rating:good.")
    try:
        query = parse_query(q)
        page = page_number(request.query_params.get("page"))
    except QueryError as error:
        raise invalid(error.message) from None
    found = await finder.search(_runtime(request).store, query, page)
    base = _base(request)

    def url(number: int) -> str:
        return f"{base}/chats/search?{urlencode({'q': q, 'page': str(number)})}"

    last = min(-(-found.count // PAGE_SIZE), MAX_PAGE)
    return JSONResponse(
        {
            "count": found.count,
            "next_url": url(page + 1) if page < last else None,
            "prev_url": url(min(page - 1, last)) if page > 1 and last >= 1 else None,
            "results": [
                chat_object.search_result(chat, found.events.get(chat.id, []), f"{base}/chats/{chat.id}")
                for chat in found.chats
            ],
        }
    )


async def no_such_endpoint(request: Request) -> Response:
    return _error(
        404, "InvalidEndpoint", "There is no such endpoint; widget_server serves the Chats resource only."
    )


#: The operations of each path (the others answer 405), as the OpenAPI document must list them.
OPERATIONS: dict[str, Any] = {
    f"{PREFIX}/chats": {"GET": list_chats, "POST": create_chat, "DELETE": delete_chats},
    f"{PREFIX}/chats/search": {"GET": search_chats},
    f"{PREFIX}/chats/{{chat_id}}": {"GET": show_chat, "PUT": update_chat, "DELETE": delete_chat},
}
_collection = _endpoint(OPERATIONS[f"{PREFIX}/chats"])
_one = _endpoint(OPERATIONS[f"{PREFIX}/chats/{{chat_id}}"])
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

routes = [
    Route(f"{PREFIX}/chats", _collection, methods=_METHODS),
    Route(f"{PREFIX}/chats/", _collection, methods=_METHODS),
    Route(f"{PREFIX}/chats/search", _endpoint(OPERATIONS[f"{PREFIX}/chats/search"]), methods=_METHODS),
    Route(f"{PREFIX}/chats/{{chat_id}}", _one, methods=_METHODS),
    Route(f"{PREFIX}/{{rest:path}}", no_such_endpoint, methods=_METHODS),
]
