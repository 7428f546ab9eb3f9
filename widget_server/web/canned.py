"""The console's canned responses over HTTP (JSON), for the signed-in agent:

- ``GET /agent/canned``: ``{"responses": [...]}``, the shared ones and the agent's own, by shortcut;
- ``POST /agent/canned`` ``{scope, shortcut, title, text}``: 201 and the new one;
- ``PUT /agent/canned/{id}`` ``{shortcut, title, text}``: 200 and the changed one (the scope stays);
- ``DELETE /agent/canned/{id}``: 204.

Writes carry the page's CSRF token in ``X-CSRF-Token`` (as uploads do) and, when the browser names one,
our own Origin. A refusal is ``{error, message, field?}``: ``forbidden`` (403: not signed in, or no valid
token), ``bad_request`` and ``invalid_field`` (400), ``not_allowed`` (403: a shared one, and not an
operator), ``not_found`` (404: none, or another agent's own: whether it exists is nobody else's
business), ``shortcut_taken`` (409), ``too_many`` (409). Shared ones are audited.

Every change is told on the bus's console channel as ``{"t": "canned", "owner"}``, without the text; each
console it concerns (all for a shared one, the owner's for a personal one) gets a ``canned`` frame and
fetches the list again (web/agent.py). A console that missed it reloads on its next ``hello``.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from widget_server import canned, json_input
from widget_server.canned import CannedError
from widget_server.chat_service import CONSOLE
from widget_server.model import OPERATOR_ROLE, Actor, AuditEntry, CannedResponse, User, now_ms
from widget_server.runtime import Runtime
from widget_server.store import CannedNotFound, ShortcutTaken
from widget_server.web.security import own_origin, session_user

PATH = "/agent/canned"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _refused(error: CannedError) -> JSONResponse:
    return JSONResponse(error.to_json(), status_code=error.status)


async def _user(request: Request, *, writing: bool) -> User:
    user = await session_user(request, _runtime(request).store)
    if user is None:
        raise CannedError("forbidden", "Sign in to the agent console.", status=403)
    if writing:
        expected = request.session.get("csrf")
        given = request.headers.get("x-csrf-token", "")
        origin = request.headers.get("origin")
        foreign = origin is not None and origin.lower() != own_origin(request)
        if not expected or not hmac.compare_digest(expected, given) or foreign:
            raise CannedError("forbidden", "The page expired; reload the console.", status=403)
    return user


async def _body(request: Request) -> Any:
    try:
        return json_input.parse(await request.body())
    except json_input.InvalidJSON:
        raise CannedError("bad_request", "Send a JSON object with shortcut, title and text.") from None


def _may_edit(user: User, response: CannedResponse) -> bool:
    return response.owner == user.name if response.owner is not None else user.role == OPERATOR_ROLE


async def _own(request: Request, user: User) -> CannedResponse:
    """The response the path names, if this user may see it, and may change it."""
    found = await _runtime(request).store.get_canned(request.path_params["id"])
    if found is None or found.owner not in (None, user.name):
        raise CannedError("not_found", "There is no such canned response.", status=404)
    if not _may_edit(user, found):
        raise CannedError("not_allowed", "Only operators change shared canned responses.", status=403)
    return found


def _audit(request: Request, user: User, action: str, response: CannedResponse) -> AuditEntry | None:
    if response.owner is not None:
        return None  # an agent's own words are nobody's business
    actor = Actor(user.name, "console", request.client.host if request.client else None)
    return AuditEntry.of(actor, action, response.id, shortcut=response.shortcut)


async def _told(request: Request, response: CannedResponse) -> None:
    await _runtime(request).bus.publish(CONSOLE, {"t": "canned", "owner": response.owner})


async def list_responses(request: Request) -> Response:
    try:
        user = await _user(request, writing=False)
    except CannedError as error:
        return _refused(error)
    found = await _runtime(request).store.list_canned(user.name)
    return JSONResponse(
        {"responses": [canned.to_json(r, editable=_may_edit(user, r)) for r in found]},
        headers={"Cache-Control": "no-store"},
    )


async def create(request: Request) -> Response:
    store = _runtime(request).store
    try:
        user = await _user(request, writing=True)
        fields = canned.check(await _body(request), creating=True)
        shared = fields.scope == canned.SHARED
        if shared and user.role != OPERATOR_ROLE:
            raise CannedError(
                "not_allowed", "Only operators add shared canned responses.", field="scope", status=403
            )
        owner = None if shared else user.name
        if await store.count_canned(owner) >= (canned.MAX_SHARED if shared else canned.MAX_PERSONAL):
            raise CannedError("too_many", "There are as many as may be: delete some first.", status=409)
        at = now_ms()
        response = CannedResponse(
            str(uuid.uuid4()), owner, fields.shortcut, fields.title, fields.text, at, at, user.name
        )
        await _save(request, user, response, create=True)
    except CannedError as error:
        return _refused(error)
    return JSONResponse(canned.to_json(response, editable=True), status_code=201)


async def replace(request: Request) -> Response:
    try:
        user = await _user(request, writing=True)
        fields = canned.check(await _body(request), creating=False)
        found = await _own(request, user)
        response = CannedResponse(
            found.id,
            found.owner,
            fields.shortcut,
            fields.title,
            fields.text,
            found.created_at,
            now_ms(),
            user.name,
        )
        await _save(request, user, response, create=False)
    except CannedError as error:
        return _refused(error)
    return JSONResponse(canned.to_json(response, editable=True))


async def _save(request: Request, user: User, response: CannedResponse, *, create: bool) -> None:
    audit = _audit(request, user, "canned.create" if create else "canned.change", response)
    try:
        await _runtime(request).store.save_canned(response, create=create, audit=audit)
    except ShortcutTaken:
        where = "a shared one" if response.owner is None else "one of yours"
        raise CannedError(
            "shortcut_taken", f"/{response.shortcut} is {where} already.", field="shortcut", status=409
        ) from None
    except CannedNotFound:
        raise CannedError("not_found", "There is no such canned response.", status=404) from None
    await _told(request, response)


async def delete(request: Request) -> Response:
    try:
        user = await _user(request, writing=True)
        found = await _own(request, user)
    except CannedError as error:
        return _refused(error)
    if await _runtime(request).store.delete_canned(found.id, _audit(request, user, "canned.delete", found)):
        await _told(request, found)
    return Response(status_code=204)


routes = [
    Route(PATH, list_responses, methods=["GET"]),
    Route(PATH, create, methods=["POST"]),
    Route(PATH + "/{id}", replace, methods=["PUT"]),
    Route(PATH + "/{id}", delete, methods=["DELETE"]),
]
