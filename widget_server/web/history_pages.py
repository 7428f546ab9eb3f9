"""Past chats in the console: search them, read one, export it.

- ``GET /agent/history``: the search form and a page of results, newest first. The fields (words,
  visitor, email, agent, site, rating, type, dates) become a query of the history API's language
  (widget_server/history/search.py), so both search alike; the words box takes that language too.
- ``GET /agent/history/{chat}``: one chat's transcript, read-only, with the agents' internal notes shown
  as notes (only people signed in to the console see this page).
- ``GET /agent/history/{chat}/transcript.txt`` and ``.../chat.json``: the export. Both are what the visitor
  saw, without notes, so that an export can be sent on: the text as lines, the JSON as the history API's
  chat object.

Who sees what is the console's rule (widget_server/roles.py): an agent in a team finds and opens only
the chats of their teams' sites (another chat's page and exports answer 404, as for no such chat); an
agent in no team, a supervisor and an operator, every chat. Each export is in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from widget_server import model
from widget_server.greetings import GREETING
from widget_server.history import chat_object, finder
from widget_server.history.search import MAX_PAGE, PAGE_SIZE, QueryError, parse_query
from widget_server.model import Chat, Event, User
from widget_server.runtime import Runtime
from widget_server.web.pages import render
from widget_server.web.security import csrf_token, session_user

FIELDS = ("q", "visitor", "email", "agent", "site", "rating", "type", "from", "to")
RATINGS = {"good": "Good", "bad": "Bad"}
TYPES = {"chat": "Chats", "offline_msg": "Offline messages"}
MAX_FIELD = 200  # characters of one search field


@dataclass
class Search:
    """The search form as sent: its values, the query they make, and what is wrong with them."""

    values: dict[str, str]
    query: str = ""
    error: str | None = None
    field: str | None = None  # the field the error is about, to show it there

    @property
    def asked(self) -> bool:
        return any(self.values.values())


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(values: dict[str, str], sites: set[str]) -> Search:
    """The search language's query for the form's values (no I/O). No condition at all: every chat."""
    search = Search(values)
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            search.error, search.field = f"Keep it under {MAX_FIELD} characters.", name
            return search
    parts = [values["q"]] if values["q"] else []
    for name, term in (("visitor", "visitor_name"), ("agent", "agent_names")):
        if values[name]:
            parts.append(f"{term}:{_quoted(values[name])}")
    if values["email"]:
        parts.append(f"visitor_email:{_quoted(values['email'])}")
    if values["rating"]:
        if values["rating"] not in RATINGS:
            search.error, search.field = "Choose good or bad, or any rating.", "rating"
            return search
        parts.append(f"rating:{values['rating']}")
    if values["type"]:
        if values["type"] not in TYPES:
            search.error, search.field = "Choose chats or offline messages, or both.", "type"
            return search
        parts.append(f"chat_type:{values['type']}")
    if values["site"] and values["site"] not in sites:
        search.error, search.field = "There is no such site.", "site"
        return search
    ends = []
    for name in ("from", "to"):
        if not values[name]:
            ends.append("*")
            continue
        try:
            ends.append(date.fromisoformat(values[name]).isoformat())
        except ValueError:
            search.error, search.field = "Give a date as YYYY-MM-DD.", name
            return search
    if ends != ["*", "*"]:
        if "*" not in ends and ends[0] > ends[1]:
            search.error, search.field = "The range ends before it starts.", "to"
            return search
        parts.append(f"timestamp:[{ends[0]} TO {ends[1]}]")
    search.query = " AND ".join(parts) if parts else "timestamp:[* TO *]"
    return search


def _when(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(chat: Chat, events: list[Event], site_names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": chat.id,
        "url": f"/agent/history/{chat.id}",
        "when": _when(chat.created_at),
        "at": _iso(chat.created_at),
        "site": site_names.get(chat.site, chat.site),
        "visitor": chat.visitor.nickname,
        "email": chat.visitor.email or "",
        "agents": ", ".join(name for _, name in chat_object.agents(chat, events)),
        "rating": RATINGS.get(str(chat.meta.get("rating") or ""), ""),
        "type": "Offline message" if chat.type == model.OFFLINE_MESSAGE else "Chat",
        "state": chat.state,
        "preview": chat_object.preview(events),
    }


async def _signed_in(request: Request) -> User | Response:
    user = await session_user(request, _runtime(request).store)
    if user is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/agent/login?{urlencode({'next': back})}", status_code=303)
    return user


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request, user: User, title: str, **more: Any) -> dict[str, Any]:
    return {"user": user, "csrf": csrf_token(request), "title": title, "nav": "history", **more}


async def search_page(request: Request) -> Response:
    user = await _signed_in(request)
    if isinstance(user, Response):
        return user
    runtime = _runtime(request)
    await runtime.refresh_sites()
    scope = runtime.scope_of(user)
    site_names = {
        site.id: site.name
        for site in sorted(runtime.sites.all(), key=lambda site: site.name)
        if scope.sees_site(site.id)
    }
    values = {name: request.query_params.get(name, "").strip() for name in FIELDS}
    search = build_query(values, set(site_names))
    page_number, rows, count = 1, [], 0
    raw_page = request.query_params.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        search.error, search.field = f"Pages run from 1 to {MAX_PAGE}.", None
    else:
        page_number = int(raw_page)
    if search.error is None:
        try:
            query = parse_query(search.query)
        except QueryError as error:
            search.error, search.field = str(error), "q"
        else:
            sites = scope.narrow([values["site"]] if values["site"] else None)
            found = await finder.search(runtime.store, query, page_number, sites=sites)
            count = found.count
            rows = [_row(chat, found.events.get(chat.id, []), site_names) for chat in found.chats]
    kept = {name: value for name, value in values.items() if value}
    pages = {
        "newer": urlencode({**kept, "page": page_number - 1}) if page_number > 1 else None,
        "older": urlencode({**kept, "page": page_number + 1}) if page_number * PAGE_SIZE < count else None,
    }
    context = _context(
        request,
        user,
        "Chat history",
        search=search,
        rows=rows,
        count=count,
        page=page_number,
        pages=pages,
        first=(page_number - 1) * PAGE_SIZE + 1,
        sites=site_names,
        ratings=RATINGS,
        types=TYPES,
    )
    return render(request, "history_search.html", context, 400 if search.error else 200)


# --- one chat --------------------------------------------------------------------------------------------


def transcript_lines(chat: Chat, events: list[Event], *, notes: bool) -> list[dict[str, Any]]:
    """The chat as lines to read: who, when, what (no I/O). What only agents see (notes, a supervisor's
    silent join) only with ``notes``."""
    lines = []
    for event in events:
        data, kind = event.data, event.kind
        line: dict[str, Any] = {"at": _iso(event.at), "when": _when(event.at), "kind": kind}
        if kind == model.MESSAGE:
            line.update(who=str(data.get("name") or data.get("from") or ""), text=str(data.get("text", "")))
            line["from"] = data.get("from")
        elif kind == GREETING:  # the greeting the visitor answered (greetings.py); a page's is said so
            sender = f" · {data['name']}" if data.get("name") else ""
            who = ("Greeting shown by the page" if data.get("page") else "Greeting") + sender
            line.update(who=who, text=str(data.get("text", "")))
        elif kind == model.NOTE:
            if not notes:
                continue
            line.update(who=str(data.get("name") or ""), text=str(data.get("text", "")))
        elif kind == model.WATCH:
            if not notes:
                continue
            line.update(text=f"{data.get('name', 'A supervisor')} joined silently (only agents see this)")
        elif kind == model.ATTACHMENT:
            file = data["file"] if isinstance(data.get("file"), dict) else {}
            line.update(
                who=str(data.get("name") or data.get("from") or ""), text=f"File: {file.get('name', '')}"
            )
            line["from"] = data.get("from")
        elif kind == model.JOINED:
            line.update(text=f"{data.get('name', 'An agent')} joined the chat")
        elif kind == model.LEFT:
            line.update(text=f"{data.get('name', 'An agent')} left the chat")
        elif kind == model.STATE and data.get("state") == model.ENDED:
            line.update(text="The chat ended")
        elif kind == model.RATING:
            comment = f": “{data['comment']}”" if data.get("comment") else ""
            line.update(text=f"The visitor rated the chat {data.get('rating')}{comment}")
        elif kind == model.VISIT:
            line.update(text=f"Now on {data.get('url', '')}")
        else:
            continue
        lines.append(line)
    return lines


def transcript_text(chat: Chat, events: list[Event], site_name: str) -> str:
    """The export as text: a heading, then one line per event, times in UTC. Never agents' notes."""
    head = [
        f"Chat {chat.id} on {site_name}",
        f"Visitor: {chat.visitor.nickname}" + (f" <{chat.visitor.email}>" if chat.visitor.email else ""),
        f"Started: {_when(chat.created_at)}" + (f", ended: {_when(chat.ended_at)}" if chat.ended_at else ""),
        "",
    ]
    body = []
    for line in transcript_lines(chat, events, notes=False):
        who = f"{line['who']}: " if line.get("who") else ""
        body.append(f"[{line['when']}] {who}{line['text']}")
    return "\n".join(head + body) + "\n"


async def _chat(request: Request) -> tuple[User, Chat, list[Event]] | Response:
    user = await _signed_in(request)
    if isinstance(user, Response):
        return user
    runtime = _runtime(request)
    store = runtime.store
    chat = await store.get_chat(request.path_params["chat"])
    # Another team's chat is answered as one that does not exist: its id tells nothing.
    if chat is None or chat.deleted_at is not None or not runtime.scope_of(user).sees(chat):
        context = _context(
            request, user, "No such chat", message="This chat does not exist, or it was deleted."
        )
        return render(request, "admin_problem.html", context, 404)
    return user, chat, await store.events_after(chat.id, 0)


async def chat_page(request: Request) -> Response:
    found = await _chat(request)
    if isinstance(found, Response):
        return found
    user, chat, events = found
    runtime = _runtime(request)
    site = runtime.sites.get(chat.site)
    row = _row(chat, events, {chat.site: site.name} if site else {})
    context = _context(
        request,
        user,
        f"Chat with {chat.visitor.nickname}",
        chat=row,
        lines=transcript_lines(chat, events, notes=True),
        back=_back_to_search(request),
    )
    return render(request, "history_chat.html", context)


def _back_to_search(request: Request) -> str:
    """The search the person came from, to go back to it with its filters (a path of ours only)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path == "/agent/history":
        return "/agent/history" + (f"?{referer.query}" if referer.query else "")
    return "/agent/history"


async def transcript_export(request: Request) -> Response:
    found = await _chat(request)
    if isinstance(found, Response):
        return found
    user, chat, events = found
    site = _runtime(request).sites.get(chat.site)
    text = transcript_text(chat, events, site.name if site else chat.site)
    await _audit_export(request, user, chat, "text")
    headers = {
        "Content-Disposition": f'attachment; filename="chat-{chat.id}.txt"',
        "Cache-Control": "no-store",
    }
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


async def json_export(request: Request) -> Response:
    found = await _chat(request)
    if isinstance(found, Response):
        return found
    user, chat, events = found
    await _audit_export(request, user, chat, "json")
    body = json.dumps(chat_object.chat_object(chat, events), indent=2, ensure_ascii=False)
    headers = {
        "Content-Disposition": f'attachment; filename="chat-{chat.id}.json"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type="application/json", headers=headers)


async def _audit_export(request: Request, user: User, chat: Chat, form: str) -> None:
    client = request.client
    actor = model.Actor(user.name, "console", client.host if client else None)
    await _runtime(request).service.audit(actor, "chat.export", chat, format=form)


routes = [
    Route("/agent/history", search_page, methods=["GET"]),
    Route("/agent/history/{chat}", chat_page, methods=["GET"]),
    Route("/agent/history/{chat}/transcript.txt", transcript_export, methods=["GET"]),
    Route("/agent/history/{chat}/chat.json", json_export, methods=["GET"]),
]
