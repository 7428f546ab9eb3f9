"""Attachment uploads and downloads over HTTP (not over the websocket: files are large, frames small).

Visitors: ``POST /attachments/{site}`` (multipart: ``file``, optional client ``id``) with the chat's
resume token as ``Authorization: Bearer``, from a page of an allowed origin (CORS answers only those);
the file comes back to every tab as an ``attachment`` event whose ``file.url`` is a signed link valid
for an hour. Agents: ``POST /agent/attachments/{chat}`` with their session and the CSRF token in
``X-CSRF-Token``; downloads at ``/agent/attachments/{chat}/{file}``. Every download is sent as an
attachment, with ``nosniff`` and a sandboxing policy, so a file never renders in our origin.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from widget_server import attachments, model
from widget_server.chat_service import ServiceError
from widget_server.config import Site
from widget_server.runtime import Runtime
from widget_server.store import ChatNotFound, WrongState
from widget_server.tokens import InvalidToken
from widget_server.web.security import session_user

log = logging.getLogger(__name__)

LINK_SALT = "widget_server.attachment-link.v1"
# An hour, as documented: every delivery of the event (a new tab, a resume, a reload) signs a fresh link, so
# only a link copied out of the page, or a page left open for more than an hour, stops working.
LINK_MAX_AGE = 3600
FORM_OVERHEAD = 16 * 1024  # multipart boundaries and headers around the file


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def links(runtime: Runtime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime.secret_key, salt=LINK_SALT)


def visitor_url(runtime: Runtime, chat_id: str, file_id: str) -> str:
    """A path the visitor's browser may fetch the file from, for an hour."""
    return f"/attachments/{chat_id}/{file_id}?k={links(runtime).dumps([chat_id, file_id])}"


def agent_url(chat_id: str, file_id: str) -> str:
    return f"/agent/attachments/{chat_id}/{file_id}"


def _error(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _cors(request: Request, site: Site | None) -> dict[str, str] | None:
    """CORS headers for an allowed origin and address, else None (and the browser refuses the answer)."""
    origin = request.headers.get("origin")
    ip = request.client.host if request.client else None
    if site is None or site.policy.refusal(origin, ip) is not None:
        return None
    return {
        "Access-Control-Allow-Origin": origin or "",
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Authorization",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


async def visitor_upload(request: Request) -> Response:
    runtime = _runtime(request)
    await runtime.refresh_sites()
    site = runtime.sites.get(request.path_params["site"])
    cors = _cors(request, site)
    if cors is None or site is None:
        log.warning(
            "refused attachment upload: site=%r origin=%r ip=%s",
            request.path_params["site"][:64],
            request.headers.get("origin"),
            request.client.host if request.client else None,
        )
        return Response(status_code=403)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=cors)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        chat_id = runtime.tokens.verify(token.strip(), site.id) if scheme.lower() == "bearer" else ""
    except InvalidToken:
        chat_id = ""
    if not chat_id:
        return _error("invalid_token", "Send the chat's token: Authorization: Bearer <token>.", 401, cors)
    if "attachments" not in runtime.adapter(site.id).capabilities:
        return _error("unsupported", "This site does not take files.", 403, cors)
    chat = await runtime.store.get_chat(chat_id)
    if chat is None or chat.deleted_at is not None:
        return _error("invalid_token", "This chat no longer exists.", 401, cors)
    return await _receive(request, runtime, site, chat, model.VISITOR, chat.visitor.nickname, cors)


async def _receive(
    request: Request,
    runtime: Runtime,
    site: Site,
    chat: model.Chat,
    sender: str,
    name: str,
    headers: dict[str, str],
) -> Response:
    rules = site.attachments
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > rules.max_bytes + FORM_OVERHEAD:
        return _error(
            "too_large", f"A file may be at most {attachments.size_text(rules.max_bytes)}.", 413, headers
        )
    malformed = _error(
        "bad_request", "Send the file as multipart/form-data in the field 'file'.", 400, headers
    )
    try:
        async with request.form(max_files=1, max_fields=2) as form:
            upload = form.get("file")
            client_id = form.get("id")
            if not isinstance(upload, UploadFile):
                return malformed
            data = await upload.read(rules.max_bytes + 1)
            filename = upload.filename
    except Exception:  # malformed multipart: python-multipart raises several kinds
        return malformed
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
        return _error("bad_request", "The field 'id' is 1 to 64 characters.", 400, headers)
    try:
        already = await runtime.service.files.count(chat.id)
        content_type = attachments.check(rules, data, already)
        file = await runtime.service.files.attach(
            chat.id,
            sender,
            name,
            filename,
            content_type,
            data,
            client_id=client_id,
            max_files=rules.max_files,
        )
    except attachments.Refused as refused:
        return _error(refused.code, refused.message, 413 if refused.code == "too_large" else 400, headers)
    except WrongState:
        return _error("chat_ended", "This chat has ended.", 409, headers)
    except ServiceError as error:
        return _error(error.code, error.message, 400, headers)
    return JSONResponse(file, status_code=201, headers=headers)


async def visitor_download(request: Request) -> Response:
    runtime = _runtime(request)
    chat_id, file_id = request.path_params["chat"], request.path_params["file"]
    try:
        signed = links(runtime).loads(request.query_params.get("k", ""), max_age=LINK_MAX_AGE)
    except BadSignature:
        return Response(status_code=404)
    if not isinstance(signed, list) or not hmac.compare_digest(str(signed), str([chat_id, file_id])):
        return Response(status_code=404)
    return await _send_file(runtime, chat_id, file_id)


async def agent_upload(request: Request) -> Response:
    runtime = _runtime(request)
    user = await session_user(request, runtime.store)
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token", "")
    if user is None or not expected or not hmac.compare_digest(expected, given):
        return _error("forbidden", "Log in to the agent console.", 403)
    try:
        chat = await runtime.service.get_chat(request.path_params["chat"])
    except ChatNotFound:
        return _error("not_found", "There is no such chat.", 404)
    if chat.agent != user.name:
        return _error("not_yours", "Accept the chat before sending files.", 403)
    site = runtime.sites.get(chat.site)
    if site is None or "attachments" not in runtime.adapter(site.id).capabilities:
        return _error("unsupported", "This site does not take files.", 403)
    return await _receive(request, runtime, site, chat, model.AGENT, user.display_name, {})


async def agent_download(request: Request) -> Response:
    runtime = _runtime(request)
    user = await session_user(request, runtime.store)
    if user is None:
        return Response(status_code=403)
    scope = runtime.scope_of(user)
    if not scope.everything:  # an agent of a team: only their teams' chats' files (roles.py)
        chat = await runtime.store.get_chat(request.path_params["chat"])
        if chat is None or not scope.sees(chat):
            return Response(status_code=404)
    return await _send_file(runtime, request.path_params["chat"], request.path_params["file"])


async def _send_file(runtime: Runtime, chat_id: str, file_id: str) -> Response:
    chat = await runtime.store.get_chat(chat_id)
    if chat is None or chat.deleted_at is not None:  # a deleted chat's links die with it
        return Response(status_code=404)
    found = await runtime.service.files.find(chat_id, file_id)
    if found is None:
        return Response(status_code=404)
    stored, info = found
    # Streamed from wherever the file store keeps it (a directory or the database). The name is ours
    # (attachments.safe_name: no quotes, no control characters); non-ASCII goes as RFC 6266 filename*.
    quoted = quote(info["name"])
    disposition = (
        f'attachment; filename="{info["name"]}"'
        if quoted == info["name"]
        else f"attachment; filename*=utf-8''{quoted}"
    )
    return StreamingResponse(
        stored.chunks(),
        media_type=info["type"],
        headers={
            "Content-Length": str(stored.size),
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


def file_frame(frame: dict[str, Any], url: str) -> dict[str, Any]:
    """An attachment event's frame with the link this reader may use."""
    return {**frame, "file": {**frame["file"], "url": url}}


routes = [
    Route("/attachments/{site}", visitor_upload, methods=["POST", "OPTIONS"]),
    Route("/attachments/{chat}/{file}", visitor_download, methods=["GET"]),
    Route("/agent/attachments/{chat}", agent_upload, methods=["POST"]),
    Route("/agent/attachments/{chat}/{file}", agent_download, methods=["GET"]),
]
