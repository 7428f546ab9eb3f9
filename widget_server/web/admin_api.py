"""The admin JSON API under ``/api/admin/``, for automation: sites, their origins and blocked addresses,
the audit log, people (their roles), live connections, reports. Described by the OpenAPI document at
``/api/admin/openapi.json``.

Every request carries ``Authorization: Bearer <token>`` with a token an operator created (CLI
``widget-server tokens create NAME``); a revoked token stops working at once. The reports (a read) also
answer a signed-in supervisor's or operator's session, without a token: what the reports page shows, as
JSON. Errors are JSON:
``{"error": code, "message": sentence, "field"?: name}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from widget_server import json_input, model, roles
from widget_server.model import Actor, User
from widget_server.report_reader import group_names, read_report
from widget_server.reports import QueryError, parse_query
from widget_server.runtime import Runtime
from widget_server.shared_state import SharedState
from widget_server.site_admin import AdminError, SiteAdmin, describe, identity_status
from widget_server.web.admin_openapi import OPENAPI
from widget_server.web.security import FailureThrottle, session_user

log = logging.getLogger(__name__)

PREFIX = "/api/admin/"
MAX_BODY = 64 * 1024
Handler = Callable[[Request, SiteAdmin, Actor], Awaitable[Response]]
NO_STORE = {"Cache-Control": "no-store"}  # an answer with a secret in it: for no cache to keep


def failure_throttle(state: SharedState) -> FailureThrottle:
    """Wrong tokens cost a try per client address: ten, then one every six seconds."""
    return FailureThrottle(state, "api_token", tries=10, per_seconds=60)


def error(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def authenticated(
    handler: Handler, session_may: Callable[[User], bool] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A token, or (for an endpoint with ``session_may``) the session of a person it lets in."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        admin: SiteAdmin = request.app.state.site_admin
        failures: FailureThrottle = request.app.state.api_failures
        ip = request.client.host if request.client else "?"
        if session_may is not None and "authorization" not in request.headers:
            user = await session_user(request, runtime.store)
            if user is not None and session_may(user):
                try:
                    return await handler(request, admin, Actor(user.name, "console", ip))
                except AdminError as refused:
                    return JSONResponse(refused.to_json(), status_code=refused.status)
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        token = await admin.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            # Only failures are throttled: a valid token always passes, so that a client sending bad
            # tokens from the same address (a misconfigured script, an attacker behind the same NAT)
            # cannot lock its holder out. Tokens are 256 random bits, looked up by their hash: guessing
            # is hopeless anyway; the throttle keeps a noisy client's failures cheap.
            if await failures.blocked(ip):
                return error("rate_limited", "Too many failed authentications; wait a minute.", 429)
            await failures.failed(ip)
            log.info("admin API: refused a request without a valid token from %s", ip)
            return JSONResponse(
                {
                    "error": "unauthorized",
                    "message": "Send a valid API token: Authorization: Bearer <token>.",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="widget_server"'},
            )
        now = model.now_ms()
        if token.last_used_at is None or now - token.last_used_at > 60_000:
            await runtime.store.token_used(token.id, now)
        try:
            return await handler(request, admin, Actor(f"token:{token.name}", "api", ip))
        except AdminError as refused:
            return JSONResponse(refused.to_json(), status_code=refused.status)

    return endpoint


async def body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise AdminError("too_large", f"A request body may be at most {MAX_BODY} bytes.", status=413)
    try:
        return json_input.parse(raw)
    except json_input.InvalidJSON as error:
        raise AdminError("invalid_json", str(error)) from None


async def site_json(request: Request, site: Any, live: int | None = None) -> dict[str, Any]:
    """``live``: the site's sockets, if read already (a list reads them all at once)."""
    runtime: Runtime = request.app.state.runtime
    if live is None:
        live = await runtime.live.count_site(site.id)
    described = describe(site, live=live)
    external = runtime.omnidesk.describe(site.id)
    if external is not None:
        described["external_policy"] = external  # the lists in force come from Omnidesk
    return described


async def list_sites(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    runtime: Runtime = request.app.state.runtime
    live = await runtime.live.counts()
    sites = [await site_json(request, site, live.get(site.id, 0)) for site in runtime.sites.all()]
    return JSONResponse({"sites": sites})


async def create_site(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    data = await body(request)
    if not isinstance(data, dict):
        raise AdminError("invalid", "A site is an object with an 'id' and its settings.")
    table = dict(data)
    site = await admin.create(actor, table.pop("id", None), table)
    return JSONResponse(await site_json(request, site), status_code=201)


async def show_site(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    return JSONResponse(await site_json(request, admin.get(request.path_params["site"])))


async def change_site(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site_id = request.path_params["site"]
    data = await body(request)
    if isinstance(data, dict) and "id" in data and data["id"] != site_id:
        raise AdminError("invalid", "A site's id cannot be changed.", field="id")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("id", "source", "editable", "live_connections")}
        if data.get("identity") == identity_status(admin.get(site_id)):
            del data["identity"]  # the site's GET output sent back as it was: the secret is not a setting
    if request.method == "PUT":
        site = await admin.replace(actor, site_id, data)
    else:
        site = await admin.update(actor, site_id, data)
    return JSONResponse(await site_json(request, site))


async def delete_site(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    await admin.remove(actor, request.path_params["site"])
    return Response(status_code=204)


def _member(field: str) -> str:
    return {"allowed_origins": "origin", "blocked_ips": "ip"}[field]


async def add_entry(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site_id, field = request.path_params["site"], request.path_params["field"]
    data = await body(request)
    value = data.get(_member(field)) if isinstance(data, dict) else None
    add = admin.allow_origin if field == "allowed_origins" else admin.block_ip
    return JSONResponse(await site_json(request, await add(actor, site_id, value)))


async def remove_entry(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site_id, field = request.path_params["site"], request.path_params["field"]
    value = request.query_params.get(_member(field))
    remove = admin.disallow_origin if field == "allowed_origins" else admin.unblock_ip
    return JSONResponse(await site_json(request, await remove(actor, site_id, value)))


async def rotate_identity_secret(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    """Create the site's identity secret, or replace it (the previous one stays valid for a grace period):
    the new secret is in the answer, for the site's backend."""
    site, secret = await admin.rotate_identity_secret(actor, request.path_params["site"])
    body = {"secret": secret, "site": await site_json(request, site)}
    return JSONResponse(body, status_code=201, headers=NO_STORE)


async def show_identity_secret(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site_id = request.path_params["site"]
    secret = admin.identity_secret(site_id)
    return JSONResponse({"secret": secret, "identity": identity_status(admin.get(site_id))}, headers=NO_STORE)


async def remove_identity_secret(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site = await admin.remove_identity_secret(actor, request.path_params["site"])
    return JSONResponse(await site_json(request, site))


async def end_identity_grace(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    site = await admin.end_identity_grace(actor, request.path_params["site"])
    return JSONResponse(await site_json(request, site))


def user_json(user: User) -> dict[str, Any]:
    """A person who signs in, without what only the server needs (the password's hash)."""
    return {"name": user.name, "display_name": user.display_name, "role": user.role, "status": user.status}


async def list_users(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    users = sorted(await admin.store.list_users(), key=lambda user: user.name)
    return JSONResponse({"users": [user_json(user) for user in users]})


async def add_user(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    data = await body(request)
    if not isinstance(data, dict):
        raise AdminError("invalid", "A user is an object with 'name', 'role' and 'password'.")
    user = await admin.add_user(
        actor,
        data.get("name"),
        data.get("role", model.AGENT_ROLE),
        data.get("password"),
        data.get("display_name"),
    )
    return JSONResponse(user_json(user), status_code=201)


async def change_user(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    """Only the role changes here (a password: ``widget-server users passwd``, typed, not sent around)."""
    data = await body(request)
    if not isinstance(data, dict) or set(data) - {"role"} or "role" not in data:
        raise AdminError("invalid", 'Send {"role": ...}: only a user\'s role changes here.', field="role")
    user = await admin.set_role(actor, request.path_params["name"], data["role"])
    return JSONResponse(user_json(user))


async def remove_user(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    await admin.remove_user(actor, request.path_params["name"])
    return Response(status_code=204)


async def audit(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    try:
        limit = min(max(int(request.query_params.get("limit", "100")), 1), 1000)
        before = int(request.query_params["before"]) if "before" in request.query_params else None
        if before is not None and not -(2**63) <= before < 2**63:  # beyond 64 bits the database refuses it
            raise ValueError
    except ValueError:
        raise AdminError("invalid", "'limit' and 'before' are whole numbers.") from None
    target = request.query_params.get("target") or None  # one chat's, site's or user's entries
    if target is not None and len(target) > 200:
        raise AdminError("invalid", "'target' is at most 200 characters.", field="target")
    entries = await admin.store.list_audit(limit, before, target=target)
    return JSONResponse({"entries": [entry.to_json() for entry in entries]})


async def connections(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    runtime: Runtime = request.app.state.runtime
    live = await runtime.live.counts()
    return JSONResponse({"sites": {site.id: live.get(site.id, 0) for site in runtime.sites.all()}})


async def stats(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(
        {
            "visitor_sockets": sum((await runtime.live.counts()).values()),
            "pollers": runtime.service.pollers.stats(),
            "backends": {
                site_id: {"healthy": h.healthy, "detail": h.detail, "since": h.since}
                for site_id, h in runtime.adapter_context.health.items()
            },
        }
    )


async def reports(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
    """The figures of a range of days (widget_server/reports.py, docs/reports.md)."""
    runtime: Runtime = request.app.state.runtime
    try:
        query = parse_query(request.query_params, now=model.now_ms())
    except QueryError as refused:
        raise AdminError(refused.code, refused.message, field=refused.field) from None
    sites = runtime.sites.all()
    names = await group_names(runtime.store, sites, query.group_by, runtime.config.teams.values())
    return JSONResponse(await read_report(runtime.store, query, names=names, sites=sites))


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


async def not_found(request: Request) -> Response:
    return error("not_found", "There is no such admin API endpoint.", 404)


def entry_field_ok(handler: Handler) -> Handler:
    async def checked(request: Request, admin: SiteAdmin, actor: Actor) -> Response:
        if request.path_params["field"] not in ("allowed_origins", "blocked_ips"):
            return error("not_found", "There is no such admin API endpoint.", 404)
        return await handler(request, admin, actor)

    return checked


routes = [
    Route("/api/admin/openapi.json", openapi),
    Route("/api/admin/sites", authenticated(list_sites), methods=["GET"]),
    Route("/api/admin/sites", authenticated(create_site), methods=["POST"]),
    Route("/api/admin/sites/{site}", authenticated(show_site), methods=["GET"]),
    Route("/api/admin/sites/{site}", authenticated(change_site), methods=["PUT", "PATCH"]),
    Route("/api/admin/sites/{site}", authenticated(delete_site), methods=["DELETE"]),
    Route("/api/admin/sites/{site}/identity_secret", authenticated(rotate_identity_secret), methods=["POST"]),
    Route("/api/admin/sites/{site}/identity_secret", authenticated(show_identity_secret), methods=["GET"]),
    Route(
        "/api/admin/sites/{site}/identity_secret", authenticated(remove_identity_secret), methods=["DELETE"]
    ),
    Route(
        "/api/admin/sites/{site}/identity_secret/previous",
        authenticated(end_identity_grace),
        methods=["DELETE"],
    ),
    Route("/api/admin/sites/{site}/{field}", authenticated(entry_field_ok(add_entry)), methods=["POST"]),
    Route("/api/admin/sites/{site}/{field}", authenticated(entry_field_ok(remove_entry)), methods=["DELETE"]),
    Route("/api/admin/audit", authenticated(audit), methods=["GET"]),
    Route("/api/admin/users", authenticated(list_users), methods=["GET"]),
    Route("/api/admin/users", authenticated(add_user), methods=["POST"]),
    Route("/api/admin/users/{name}", authenticated(change_user), methods=["PATCH"]),
    Route("/api/admin/users/{name}", authenticated(remove_user), methods=["DELETE"]),
    Route("/api/admin/connections", authenticated(connections), methods=["GET"]),
    Route("/api/admin/stats", authenticated(stats), methods=["GET"]),
    Route("/api/admin/reports", authenticated(reports, roles.reads_reports), methods=["GET"]),
    Route("/api/admin/{rest:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
]
