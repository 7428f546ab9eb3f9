"""Genesys Web Services (GWS) v2 Customer Chat API: a visitor chat becomes a GWS chat.

What the API is (Genesys's GWS customer chat API documentation, docs/gws.md): seven customer operations, every
request with the ``ContactCenterId`` header and never an ``Authorization`` header; JSON bodies with an
``operationName``; every answer with a ``statusCode`` (0 is success; on error only ``statusCode`` and
``statusMessage``). No push: agent activity is read by polling the chat's messages, following their
``index``.

Two forms of the polling path exist in the documentation: the operation pages (GetChat, Get Chat
Messages) name ``/api/v2/chats/{id}`` and ``/api/v2/chats/{id}/messages``; the general page names
``/api/v2/me/chat/{id}`` and ``/api/v2/me/chat/{id}/messages``. Both are supported, chosen by the site
setting ``poll_path``; the operation pages' form is the default because it is the one documented per
operation, the one the sends use, and the one public clients use (``/api/v2/me/...`` is otherwise the
agent-side, authenticated API).

``map_messages`` is the pure mapping from GWS messages to chat-log events; the class is its I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from widget_server import metrics, model
from widget_server.adapters import (
    AdapterContext,
    BackendError,
    BackendRefused,
    BackendUnavailable,
    ChatGone,
    Polled,
    Started,
    http_edge,
)
from widget_server.adapters.http_edge import plain_base_url
from widget_server.model import Chat, Event, NewEvent
from widget_server.protocol import MAX_NICKNAME
from widget_server.settings_table import Setting, positive


def _base_url(value: str) -> str | None:
    return plain_base_url(
        value, "must be a plain URL: no user name or password (GWS takes none), query or fragment"
    )


SETTINGS: dict[str, Setting] = {
    "base_url": Setting(str, required=True, check=_base_url, doc="the GWS server, e.g. https://gws.example"),
    "contact_center_id": Setting(
        str, required=True, check=lambda v: None if v.strip() else "must not be empty", doc="ContactCenterId"
    ),
    "endpoint": Setting(str, doc="the queue to start chats in (optional)"),
    "poll_path": Setting(
        str,
        default="chats",
        check=lambda v: (
            None
            if v in ("chats", "me")
            else "must be 'chats' (/api/v2/chats/{id}) or 'me' (/api/v2/me/chat/{id})"
        ),
    ),
    "subject": Setting(str, default="Website chat", doc="the subject when the visitor gives none"),
    "timeout": Setting((int, float), default=10, check=positive, doc="seconds per request"),
}

# statusCode values (Return Values page): which ones mean "the same request will not work later".
_REFUSED = {1, 3, 5, 8, 10, 11, 18, 20}
_GONE = {2, 6}  # not valid in the chat's state (e.g. the agent left: Idle), resource not found

MAX_AGENT_TEXT = 20_000


def map_messages(messages: Any, cursor: Mapping[str, Any]) -> Polled:
    """Turn GWS messages after the cursor into chat-log events.

    Agent texts become agent messages; other non-customer texts (External, system) become system
    messages; an agent joining becomes ``joined`` (plus ``state: active`` for the first agent), an agent
    leaving ``left``, and the last agent leaving ends the chat. The customer's own messages, typing and
    joins are our visitor's, echoed back by GWS: they are not shown again. Messages at or before the
    cursor's ``index`` are skipped, so polling with an older cursor repeats nothing. Malformed entries are
    skipped rather than trusted.
    """
    last = int(cursor.get("index", 0))
    agents: dict[str, str] = dict(cursor.get("agents", {}))
    events: list[NewEvent] = []
    typing: list[tuple[str, bool]] = []
    ended = False
    items = (
        [m for m in messages if isinstance(m, dict) and _index(m) is not None]
        if isinstance(messages, list)
        else []
    )
    for message in sorted(items, key=lambda m: _index(m) or 0):
        index = _index(message) or 0
        if index <= last:
            continue
        last = index
        raw_sender = message.get("from")
        sender: dict[str, Any] = raw_sender if isinstance(raw_sender, dict) else {}
        role = sender.get("type")
        if role == "Customer":
            continue
        nickname = sender.get("nickname")
        name = (nickname if isinstance(nickname, str) else "")[:MAX_NICKNAME] or (
            "Agent" if role == "Agent" else ""
        )
        participant = str(sender.get("participantId", name))
        kind = message.get("type")
        if kind == "Text" and isinstance(message.get("text"), str) and message["text"].strip():
            sender_kind = model.AGENT if role == "Agent" else model.SYSTEM
            events.append(model.message(sender_kind, name, message["text"][:MAX_AGENT_TEXT]))
        elif kind == "ParticipantJoined" and role == "Agent" and participant not in agents:
            first = not agents
            agents[participant] = name
            events.append(model.joined(name))
            if first:
                events.append(model.state(model.ACTIVE))
        elif kind == "ParticipantLeft" and role == "Agent" and participant in agents:
            del agents[participant]
            events.append(model.left(name))
            ended = not agents
        elif kind in ("TypingStarted", "TypingStopped") and role == "Agent":
            typing.append((name, kind == "TypingStarted"))
    return Polled(events=events, typing=typing, cursor={"index": last, "agents": agents}, ended=ended)


def _index(message: dict[str, Any]) -> int | None:
    value = message.get("index")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def classify(status_code: Any, message: str, http_status: int, retry_after: float | None) -> BackendError:
    """The exception for a GWS error answer."""
    detail = f"HTTP {http_status}, statusCode {status_code}: {message}"[:500]
    if http_status == 429:
        return BackendUnavailable(detail, retry_after=retry_after)
    if status_code in _GONE:
        return ChatGone(detail)
    if status_code in _REFUSED:
        return BackendRefused(detail)
    return BackendUnavailable(detail, retry_after=retry_after)


class GWSAdapter:
    name = "gws"
    capabilities: frozenset[str] = frozenset()  # the customer API has no file upload
    setup_problem: str | None = None  # no secret: the customer API takes none
    polls = True
    delivers = True

    def __init__(self, settings: Mapping[str, Any], context: AdapterContext) -> None:
        self.base = settings["base_url"].rstrip("/")
        self.contact_center_id = settings["contact_center_id"]
        self.endpoint = settings.get("endpoint")
        self.me_paths = settings.get("poll_path") == "me"
        self.default_subject = settings.get("subject") or "Website chat"
        self.timeout = aiohttp.ClientTimeout(total=float(settings.get("timeout") or 10))
        self.context = context

    # --- operations -----------------------------------------------------------------------------------

    async def start(self, chat: Chat) -> Started:
        visitor = chat.visitor
        user_data = dict(visitor.user_data)
        if visitor.email:
            user_data["EmailAddress"] = visitor.email
        if visitor.page:
            user_data["PageURL"] = visitor.page
        body: dict[str, Any] = {
            "operationName": "RequestChat",
            "nickname": visitor.nickname,
            "subject": visitor.subject or self.default_subject,
            "userData": user_data,
        }
        if self.endpoint:
            body["endpoint"] = self.endpoint
        answer = await self._call("POST", "/api/v2/chats/", body)
        chat_id = answer.get("id")
        if not isinstance(chat_id, str) or not chat_id or "/" in chat_id:
            raise BackendUnavailable(f"RequestChat answered without a usable chat id: {str(answer)[:200]}")
        return Started(backend_ref=chat_id, backend_state={"index": 0, "agents": {}})

    async def send_message(self, chat: Chat, event: Event, *, retry: bool = False) -> None:
        if retry and await self._already_delivered(chat):
            return
        await self._operate(chat, "SendMessage", text=event.data["text"])

    async def _already_delivered(self, chat: Chat) -> bool:
        """After an attempt that may or may not have arrived: GWS echoes every customer text in the
        transcript, so if it holds more customer texts than we had delivered, the attempt arrived.

        The whole transcript is read from index 1, the first message (A.5 defines 0 as "all" too, but
        a GWS server seen in the wild answers 0 with nothing, which would send the message twice)."""
        answer = await self._call("GET", self._path(chat, "/messages") + "?index=1")
        messages = answer.get("messages")
        customer_texts = sum(
            1
            for m in (messages if isinstance(messages, list) else [])
            if isinstance(m, dict)
            and m.get("type") == "Text"
            and (m.get("from") or {}).get("type") == "Customer"
        )
        return customer_texts > int(chat.backend_state.get("delivered_count", 0))

    async def send_attachment(self, chat: Chat, event: Event, data: bytes) -> None:
        raise BackendRefused("the GWS customer chat API has no file upload")

    async def typing(self, chat: Chat, active: bool) -> None:
        operation = "SendStartTypingNotification" if active else "SendStopTypingNotification"
        await self._operate(chat, operation)

    async def visit(self, chat: Chat, url: str) -> None:
        """The customer API has no operation for it (SendUrl exists only on the agent API)."""

    async def end(self, chat: Chat) -> None:
        await self._operate(chat, "Complete")

    async def poll(self, chat: Chat) -> Polled:
        index = int(chat.backend_state.get("index", 0))
        answer = await self._call("GET", self._path(chat, "/messages") + f"?index={index + 1}")
        return map_messages(answer.get("messages"), chat.backend_state)

    async def close(self) -> None:
        pass  # the HTTP session belongs to the runtime

    # --- HTTP -----------------------------------------------------------------------------------------

    def _path(self, chat: Chat, suffix: str = "") -> str:
        if chat.backend_ref is None:
            raise ChatGone("the chat has no GWS id")
        prefix = "/api/v2/me/chat/" if self.me_paths else "/api/v2/chats/"
        return f"{prefix}{chat.backend_ref}{suffix}"

    async def _operate(self, chat: Chat, operation: str, **fields: Any) -> None:
        if chat.backend_ref is None:
            raise ChatGone("the chat has no GWS id")
        await self._call("POST", f"/api/v2/chats/{chat.backend_ref}", {"operationName": operation, **fields})

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request; the answer's JSON when statusCode is 0, else the matching BackendError."""
        # Never an Authorization header (A.1); the ContactCenterId header on every request.
        headers = {"ContactCenterId": self.contact_center_id, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False).encode()
        answer = await http_edge.request(
            self.context.http_session(),
            method,
            self.base + path,
            where=f"{method} {path}",
            ambiguous=method == "POST",
            headers=headers,
            timeout=self.timeout,
            data=data,
        )
        status, retry_after = answer.status, answer.retry_after
        if status == 429:
            metrics.RATE_LIMITED.labels(self.name).inc()
        found = answer.json()
        if not isinstance(found, dict):
            raise classify(None, f"not a JSON object: {answer.body[:120]!r}", status, retry_after)
        status_code = found.get("statusCode")
        if status_code == 0 and 200 <= status < 300:
            return found
        message = found.get("statusMessage")
        raise classify(status_code, message if isinstance(message, str) else "", status, retry_after)
