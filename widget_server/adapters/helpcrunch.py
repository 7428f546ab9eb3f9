"""HelpCrunch REST API v1 (HelpCrunch's REST API documentation): a visitor chat becomes a HelpCrunch customer
and chat, created together with the visitor's first message.

What the API is: JSON over HTTPS under ``https://api.helpcrunch.com/v1``, every request with
``Authorization: Bearer <key>``; 120 requests a minute for the whole account (429 beyond, with no
``Retry-After``); errors as ``{"errors": [{"code", "message"}, ...]}``, where a 400 must not be repeated
unchanged and its codes name the refused fields.

How a chat maps (docs/helpcrunch.md has the operator's view):

- ``start`` creates nothing: "it is not recommended to create empty chats without messages" (HelpCrunch),
  and a visitor who opens the form and never writes should leave no trace there. It only refuses, with
  ``backend_unavailable`` for the visitor, when the API key is missing or HelpCrunch refused it lately.
- The first visitor message creates the customer (``POST /customers``: name, email, our chat id as
  ``userId``, the subject, page and userData as ``customData``), the chat (``POST /chats``: customer,
  application, department, assignee) and the message (``POST /messages`` without ``agent``: the
  customer's). Later messages are only ``POST /messages``.
- Agent replies come back by webhook (widget_server/web/hooks_helpcrunch.py, ``map_hook``) when the
  site has a webhook secret, else by the shared poller calling ``poll`` (``map_messages``,
  ``map_chat``). An agent's first reply, or the chat being opened or assigned to them, makes them join;
  the chat being closed there makes them leave and ends it for the visitor.

Where the HelpCrunch ids live: in ``chat.backend_state`` (``customer_id``, ``chat_id``, and
``customer_message_id``, the last message we created). They are created inside ``send_message``, which
has no return value, so they are written into the ``backend_state`` dict of the chat the poller passes;
the poller saves that dict with ``delivered_seq`` right after the delivery, in one write (it keeps
``delivered_count`` the same way). A crash between HelpCrunch's answer and that write would create the
customer and chat again on restart, just as any adapter would send that message again. Webhooks do not
need the ids to find our chat: HelpCrunch names the customer's ``userId`` in every event, and that is our
chat id.

The pure parts (bodies, mappings, signatures, error classification) are functions; ``HelpCrunchAdapter``
is their I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from widget_server.settings_table import Setting, env_name, positive

log = logging.getLogger(__name__)


def _base_url(value: str) -> str | None:
    return plain_base_url(value, "must be a plain URL (the API key goes in api_key_env, not in the URL)")


SETTINGS: dict[str, Setting] = {
    "base_url": Setting(str, default="https://api.helpcrunch.com/v1", check=_base_url),
    "api_key_env": Setting(str, required=True, check=env_name, doc="the variable holding the API key"),
    "application": Setting(int, required=True, doc="the HelpCrunch application id"),
    "department": Setting(int, doc="optional department id"),
    "assignee": Setting(int, doc="optional agent id"),
    "webhook_secret_env": Setting(str, check=env_name, doc="enables POST /hooks/helpcrunch/{site}"),
    # Below the documented 120: the budget's burst (a sixth of a minute's worth) comes on top of its rate,
    # and 100 a minute plus a burst of 17 stays within 120 in any minute; the rest is left to whatever else
    # uses the account's key.
    "requests_per_minute": Setting(
        (int, float), default=100, check=positive, doc="this deployment's share of the account's 120/min"
    ),
    "rate_limit_pause": Setting(
        (int, float), default=15, check=positive, doc="seconds every chat of the account waits after a 429"
    ),
    "status_interval": Setting(
        (int, float), default=15, check=positive, doc="polling only: seconds between chat status checks"
    ),
    "timeout": Setting((int, float), default=10, check=positive, doc="seconds per request"),
}

SIGNATURE_HEADER = "X-HelpCrunch-Signature"
MAX_AGENT_TEXT = 20_000
#: After a 401, new chats are refused this long (the visitor gets backend_unavailable); then one is let
#: through again, since only a request can tell whether the key works now.
KEY_REFUSAL_MEMORY = 60.0
#: Messages read per poll; more pages only when more than this arrived since the last poll.
FIRST_PAGE = 25
MAX_PAGE = 100  # B.4: the documented maximum of limit
MAX_PAGES = 10

#: Webhook events that can change what the visitor sees; subscribe to these in HelpCrunch.
RELAYED_EVENTS = frozenset({"message.chat.agent", "chat.status_updated", "chat.closed", "chat.assigned"})

# B.1's codes that are not field names.
_GENERIC_CODES = frozenset(
    {
        "invalid_request",
        "invalid_token",
        "unauthorized",
        "too_many_requests",
        "invalid_chat_value",
        "chat_not_found",
        "entity_not_found",
        "not_found",
        "internal_error",
    }
)


# --- request bodies -------------------------------------------------------------------------------------


def customer_body(chat: Chat) -> dict[str, Any]:
    """``POST /customers`` (B.2): the docs recommend name, email and userId; the rest of what the visitor
    told us goes into customData, where agents see it next to the chat."""
    visitor = chat.visitor
    body: dict[str, Any] = {"name": visitor.nickname, "userId": chat.id}
    if visitor.email:
        body["email"] = visitor.email
    custom = []
    if visitor.subject:
        custom.append({"property": "subject", "value": visitor.subject})
    if visitor.page:
        custom.append({"property": "page", "value": visitor.page})
    custom.extend({"property": key, "value": value} for key, value in visitor.user_data.items())
    if custom:
        body["customData"] = custom
    return body


def chat_body(customer_id: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /chats``, as documented: customer and application, department and assignee if configured."""
    body: dict[str, Any] = {"customer": customer_id, "application": settings["application"]}
    for key in ("department", "assignee"):
        if settings.get(key) is not None:
            body[key] = settings[key]
    return body


def message_body(chat_id: int, text: str) -> dict[str, Any]:
    """``POST /messages`` (B.4) without ``agent``: a message from the customer."""
    return {"chat": chat_id, "text": text, "type": "message"}


# --- signatures -----------------------------------------------------------------------------------------


def signature(body: bytes, secret: str) -> str:
    """B.5: the hex HMAC-SHA1 of the raw body, keyed with the webhook signing key."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signature_valid(body: bytes, given: str | None, secret: str) -> bool:
    if not given or not secret:
        return False
    return hmac.compare_digest(signature(body, secret), given.strip().lower())


def webhook_secret(settings: Mapping[str, Any]) -> str | None:
    """The site's webhook signing key, or None when webhooks are not configured (or its variable is
    empty)."""
    name = settings.get("webhook_secret_env")
    return (os.environ.get(name) or None) if name else None


# --- what comes back: pure mappings ---------------------------------------------------------------------


def agent_name(agent: Any) -> str:
    name = agent.get("name") if isinstance(agent, dict) else None
    return (name.strip() if isinstance(name, str) else "")[:MAX_NICKNAME] or "Agent"


def _arrive(name: str, agents: dict[str, str], events: list[NewEvent]) -> None:
    """An agent shows up in the chat: ``joined`` the first time, and the chat becomes active with the
    first agent. Agents are known by name: that is all a ``joined`` event keeps."""
    if name in agents:
        return
    first = not agents
    agents[name] = name
    events.append(model.joined(name))
    if first:
        events.append(model.state(model.ACTIVE))


def _leave_all(agents: dict[str, str], events: list[NewEvent]) -> None:
    events.extend(model.left(name) for name in agents.values())
    agents.clear()


def _message_id(message: Any) -> int | None:
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def map_messages(messages: Any, cursor: Mapping[str, Any]) -> Polled:
    """Turn messages of ``GET /chats/{id}/messages`` (newest first) into chat-log events.

    Only chat messages (``type == "message"``) from agents are relayed, in order; a new agent's first one
    makes them join. The customer's messages are our visitor's own; private notes, system ("tech") and
    email messages are not for the visitor. Message ids at or below the cursor's ``message_id`` are
    skipped, so repeating a poll with the same cursor repeats nothing. [I] Message ids grow with time (the
    documentation sorts by ``createdAt`` and shows growing ids).
    """
    last = int(cursor.get("message_id", 0))
    agents: dict[str, str] = dict(cursor.get("agents", {}))
    events: list[NewEvent] = []
    items = [m for m in messages if _message_id(m) is not None] if isinstance(messages, list) else []
    for message in sorted(items, key=lambda m: _message_id(m) or 0):
        message_id = _message_id(message) or 0
        if message_id <= last:
            continue
        last = message_id
        text = message.get("text")
        if (
            message.get("from") == "agent"
            and message.get("type") == "message"
            and isinstance(text, str)
            and text.strip()
        ):
            name = agent_name(message.get("agent"))
            _arrive(name, agents, events)
            events.append(model.message(model.AGENT, name, text[:MAX_AGENT_TEXT]))
    return Polled(events=events, cursor={"message_id": last, "agents": agents})


def map_chat(chat: Any, cursor: Mapping[str, Any]) -> Polled:
    """The chat object of ``GET /chats/{id}`` (polling mode's status check): an agent it is assigned to
    and opened by joins; closed means the next poll reads the last messages and then ends the chat."""
    agents: dict[str, str] = dict(cursor.get("agents", {}))
    events: list[NewEvent] = []
    status = chat.get("status") if isinstance(chat, dict) else None
    if status == "closed":
        return Polled(cursor={"agents": agents, "closing": True})
    if status == "opened" and isinstance(chat, dict) and isinstance(chat.get("assignee"), dict):
        _arrive(agent_name(chat["assignee"]), agents, events)
    return Polled(events=events, cursor={"agents": agents})


def close_after(polled: Polled) -> Polled:
    """What the last messages of a chat closed in HelpCrunch add up to: them, every agent leaving, the
    end."""
    agents = dict(polled.cursor.get("agents", {}))
    events = list(polled.events)
    _leave_all(agents, events)
    return Polled(
        events=events, cursor={**polled.cursor, "agents": {}, "closing": False, "closed": True}, ended=True
    )


@dataclass(frozen=True)
class Hook:
    """One webhook event (B.5 envelope ``{event, eventData, attempts, lastAttemptAt, createdAt, id}``)."""

    id: str
    event: str
    data: dict[str, Any]
    #: HelpCrunch's chat id: ``chat_id`` in message events; [I] ``id`` in the chat model of chat events.
    chat_id: int | None
    #: The customer's ``userId``: our chat id.
    user_id: str | None


def parse_hook(payload: Any) -> Hook | None:
    """The event in a webhook body, or None if it is not one."""
    if not isinstance(payload, dict):
        return None
    event, data = payload.get("event"), payload.get("eventData")
    if not isinstance(event, str) or not isinstance(data, dict):
        return None
    raw_chat = data.get("chat_id") if event.startswith("message.") else data.get("id")
    chat_id = raw_chat if isinstance(raw_chat, int) and not isinstance(raw_chat, bool) else None
    if isinstance(raw_chat, str) and raw_chat.isascii() and raw_chat.isdigit():
        chat_id = int(raw_chat)
    customer = data.get("customer")
    user_id = customer.get("userId") if isinstance(customer, dict) else None
    event_id = payload.get("id")
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or event_id == "":
        # Without an id, the event itself is the key; ``attempts`` and the times change between retries.
        canonical = json.dumps([event, data], sort_keys=True, separators=(",", ":"))
        event_id = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
    return Hook(str(event_id)[:100], event, data, chat_id, user_id if isinstance(user_id, str) else None)


def map_hook(hook: Hook, agents: Mapping[str, str]) -> Polled:
    """What one webhook event means for the visitor, given the agents already in the chat.

    ``message.chat.agent``: the agent's message (and their joining, the first time). A chat event with
    status ``closed`` (``chat.status_updated``, ``chat.closed``): every agent leaves and the chat ends.
    ``chat.assigned``, or the status becoming ``opened``: the assignee joins. Everything else (the
    customer's own messages, private notes, other statuses) changes nothing. No cursor: the chat log is
    the webhook path's memory (see web/hooks_helpcrunch.py).
    """
    present = dict(agents)
    events: list[NewEvent] = []
    data = hook.data
    if hook.event == "message.chat.agent":
        message = data.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if isinstance(text, str) and text.strip():
            name = agent_name(data.get("agent"))
            _arrive(name, present, events)
            events.append(model.message(model.AGENT, name, text[:MAX_AGENT_TEXT]))
        return Polled(events=events)
    if hook.event in ("chat.status_updated", "chat.closed", "chat.assigned"):
        status = data.get("status")
        if status == "closed" or hook.event == "chat.closed":
            _leave_all(present, events)
            return Polled(events=events, ended=True)
        assignee = data.get("assignee")
        if isinstance(assignee, dict) and (hook.event == "chat.assigned" or status == "opened"):
            _arrive(agent_name(assignee), present, events)
    return Polled(events=events)


def agents_in_log(events: Iterable[Event]) -> dict[str, str]:
    """The agents in a chat according to its log: joined and not left since."""
    agents: dict[str, str] = {}
    for event in events:
        if event.kind == model.JOINED:
            agents[event.data["name"]] = event.data["name"]
        elif event.kind == model.LEFT:
            agents.pop(event.data["name"], None)
    return agents


def newer_customer_message(messages: Any, after: int) -> int | None:
    """The id of the newest customer chat message above ``after``, if any: after an attempt that may or
    may not have arrived, it did arrive if there is one (we deliver one message at a time)."""
    found = [
        _message_id(m) or 0
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict) and m.get("from") == "customer" and m.get("type") == "message"
    ]
    newer = [message_id for message_id in found if message_id > after]
    return max(newer) if newer else None


# --- errors ---------------------------------------------------------------------------------------------


class FieldsRefused(BackendRefused):
    """A 400 naming fields: the same request must not be sent again unchanged (B.1)."""

    def __init__(self, detail: str, fields: Sequence[str]) -> None:
        super().__init__(detail)
        self.fields = tuple(fields)


def errors_of(answer: Any) -> list[tuple[str, str]]:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return [
        (str(e.get("code", "")), str(e.get("message", "")))
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict)
    ]


def field_name(code: str) -> str:
    """``customData[0].value`` → ``customData``."""
    return code.split("[", 1)[0].split(".", 1)[0]


def classify(
    http_status: int,
    errors: Sequence[tuple[str, str]],
    *,
    method: str,
    about_chat: bool,
    retry_after: float,
) -> BackendError:
    """The exception for a HelpCrunch error answer. ``about_chat``: the request names an existing chat
    (so "not found" means the chat is gone); ``retry_after``: how long the account pauses after a 429."""
    codes = {code for code, _ in errors}
    text = "; ".join(f"{code}: {message}" for code, message in errors) or "no error body"
    detail = f"HTTP {http_status}: {text}"[:500]
    if http_status == 429 or "too_many_requests" in codes:
        return BackendUnavailable(detail, retry_after=retry_after)
    if http_status == 401 or codes & {"invalid_token", "unauthorized"}:
        # Not refused for good: the operator fixes the key and the pending messages go out then.
        return BackendUnavailable(detail)
    if about_chat and (codes & {"chat_not_found", "invalid_chat_value"} or http_status == 404):
        return ChatGone(detail)
    if 400 <= http_status < 500:
        fields = [field_name(code) for code in codes - _GENERIC_CODES]
        return FieldsRefused(detail, sorted(fields)) if fields else BackendRefused(detail)
    # A 5xx may have done what was asked (nothing documents otherwise): check before sending again.
    return BackendUnavailable(detail, ambiguous=method != "GET")


# --- I/O ------------------------------------------------------------------------------------------------


class HelpCrunchAdapter:
    name = "helpcrunch"
    capabilities: frozenset[str] = frozenset()  # the customer API has no file upload (B.4)
    delivers = True

    def __init__(self, settings: Mapping[str, Any], context: AdapterContext, site_id: str) -> None:
        self.settings = settings
        self.context = context
        self.site_id = site_id
        self.base = str(settings["base_url"]).rstrip("/")
        self.key_env = str(settings["api_key_env"])
        self.api_key = os.environ.get(self.key_env, "").strip()
        self.setup_problem = None if self.api_key else f"${self.key_env} (the HelpCrunch API key) is not set"
        self.timeout = aiohttp.ClientTimeout(total=float(settings.get("timeout") or 10))
        self.rate_limit_pause = float(settings.get("rate_limit_pause") or 15)
        self.status_interval = float(settings.get("status_interval") or 15)
        secret_env = settings.get("webhook_secret_env")
        #: Webhook mode (agent activity pushed to us) when the site has a signing key; else polling.
        self.polls = webhook_secret(settings) is None
        if secret_env and self.polls:
            log.error(
                "site %s: $%s (the HelpCrunch webhook signing key) is empty: polling for replies instead",
                site_id,
                secret_env,
            )
        # One budget per account, whichever sites share its key; the key itself is not kept in the name.
        account = hashlib.sha256(f"{self.base}\n{self.api_key}".encode()).hexdigest()[:24]
        self._budget = context.budget(
            f"helpcrunch:{account}", float(settings.get("requests_per_minute") or 100)
        )
        self._key_refused_at: float | None = None
        self._problem: tuple[str, str] | None = None  # (kind, detail) reported to operators
        self._status_checked: dict[str, float] = {}

    # --- operations -----------------------------------------------------------------------------------

    async def start(self, chat: Chat) -> Started:
        """Nothing is created yet (see the module docstring); a known-bad key refuses the chat now rather
        than after the visitor wrote."""
        if not self.api_key:
            detail = f"${self.key_env} (the HelpCrunch API key) is not set"
            self._report("key", detail)
            raise BackendUnavailable(detail)
        refused_at = self._key_refused_at
        if refused_at is not None and time.monotonic() - refused_at < KEY_REFUSAL_MEMORY:
            raise BackendUnavailable("HelpCrunch refused the API key lately (401)")
        return Started()

    async def send_message(self, chat: Chat, event: Event, *, retry: bool = False) -> None:
        # The ids go into this very dict: the poller saves it right after (module docstring).
        state = chat.backend_state
        if retry and "chat_id" in state and await self._arrived(state):
            return
        if "chat_id" not in state:
            await self._open(chat, state)
        answer = await self._call(
            "POST", "/messages", message_body(state["chat_id"], event.data["text"]), about_chat=True
        )
        message_id = _message_id(answer)
        if message_id is not None:
            state["customer_message_id"] = message_id

    async def _open(self, chat: Chat, state: dict[str, Any]) -> None:
        """The customer (unless an earlier attempt created it) and the chat, before the first message."""
        if "customer_id" not in state:
            customer = await self._create_customer(chat)
            state["customer_id"] = _required_id(customer, "POST /customers")
        created = await self._call("POST", "/chats", chat_body(state["customer_id"], self.settings))
        state["chat_id"] = _required_id(created, "POST /chats")
        if self._problem is not None and self._problem[0] == "chat":
            self._report(None, "")

    async def _create_customer(self, chat: Chat) -> dict[str, Any]:
        body = customer_body(chat)
        try:
            return await self._call("POST", "/customers", body)
        except FieldsRefused as refused:
            # Not the same request again (B.1): without what HelpCrunch refused, if that is optional.
            dropped = [f for f in refused.fields if f in body and f not in ("userId",)]
            if not dropped:
                raise
            log.warning("chat %s: creating the HelpCrunch customer without %s", chat.id, ", ".join(dropped))
            return await self._call("POST", "/customers", {k: v for k, v in body.items() if k not in dropped})

    async def _arrived(self, state: dict[str, Any]) -> bool:
        answer = await self._call(
            "GET", f"/chats/{state['chat_id']}/messages?offset=0&limit={FIRST_PAGE}", about_chat=True
        )
        found = newer_customer_message(_page(answer), int(state.get("customer_message_id", 0)))
        if found is None:
            return False
        state["customer_message_id"] = found
        return True

    async def send_attachment(self, chat: Chat, event: Event, data: bytes) -> None:
        raise BackendRefused("HelpCrunch's REST API has no file upload")

    async def typing(self, chat: Chat, active: bool) -> None:
        """HelpCrunch's REST API has no typing notifications (B.4)."""

    async def visit(self, chat: Chat, url: str) -> None:
        """Nor page visits; the page the chat started on is in the customer's customData."""

    async def end(self, chat: Chat) -> None:
        """Close the chat there (``PUT /chats/status``), unless it never existed or was closed there."""
        self._status_checked.pop(chat.id, None)
        state = chat.backend_state
        if "chat_id" not in state or state.get("closed"):
            return
        await self._call(
            "PUT", "/chats/status", {"id": state["chat_id"], "status": "closed"}, about_chat=True
        )

    async def poll(self, chat: Chat) -> Polled:
        """One request, mostly: the chat's newest messages; every ``status_interval`` seconds the chat
        itself instead, for its status (messages do not say that a chat was closed). More pages only when
        more than a page of messages arrived since the last poll."""
        state = chat.backend_state
        if "chat_id" not in state:
            return Polled()  # not created yet: nothing to ask
        if state.get("closing"):
            return close_after(map_messages(await self._messages(state), state))
        now = time.monotonic()
        if len(self._status_checked) > 100_000:
            self._status_checked.clear()  # chats that ended without ``end``; a lost entry costs nothing
        if now - self._status_checked.setdefault(chat.id, now) >= self.status_interval:
            self._status_checked[chat.id] = now
            chat_object = await self._call("GET", f"/chats/{state['chat_id']}", about_chat=True)
            return map_chat(chat_object, state)
        return map_messages(await self._messages(state), state)

    async def _messages(self, state: Mapping[str, Any]) -> list[Any]:
        """The messages newer than the cursor, and possibly some older ones (map_messages skips them)."""
        last = int(state.get("message_id", 0))
        collected: list[Any] = []
        offset, limit = 0, FIRST_PAGE
        for _ in range(MAX_PAGES):
            answer = await self._call(
                "GET",
                f"/chats/{state['chat_id']}/messages?offset={offset}&limit={limit}",
                about_chat=True,
            )
            page = _page(answer)
            collected.extend(page)
            ids = [_message_id(m) or 0 for m in page]
            total = answer.get("total")
            if not ids or min(ids) <= last or not isinstance(total, int) or offset + len(page) >= total:
                break
            offset, limit = offset + len(page), MAX_PAGE
        return collected

    async def close(self) -> None:
        pass  # the HTTP session belongs to the runtime

    # --- HTTP -----------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        about_chat: bool = False,
    ) -> dict[str, Any]:
        """One request, paid from the account's budget; the answer's JSON object on success, else the
        matching BackendError. Reports the key's health to operators. A 429 pauses the whole account."""
        await self._budget.acquire()
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False).encode()
        where = f"{method} {path.split('?', 1)[0]}"
        response = await http_edge.request(
            self.context.http_session(),
            method,
            self.base + path,
            where=where,
            ambiguous=method != "GET",
            headers=headers,
            timeout=self.timeout,
            data=data,
        )
        status, raw = response.status, response.body
        retry_after = response.retry_after if response.retry_after is not None else self.rate_limit_pause
        answer = response.json(empty={})
        if 200 <= status < 300:
            if not isinstance(answer, dict):
                raise BackendUnavailable(f"{where}: HTTP {status} but not a JSON object: {raw[:120]!r}")
            if self._problem is not None and self._problem[0] == "key":
                self._key_refused_at = None
                self._report(None, "")
            elif self._problem is None:
                self.context.report(self.site_id, True)
            return answer
        errors = errors_of(answer)
        refusal = classify(status, errors, method=method, about_chat=about_chat, retry_after=retry_after)
        if status == 429:
            metrics.RATE_LIMITED.labels(self.name).inc()
            await self._budget.pause(retry_after)  # the limit is the account's: every chat of it waits
        if status == 401:
            self._key_refused_at = time.monotonic()
            self._report("key", f"HelpCrunch refused the API key in ${self.key_env}: {refusal.detail}")
        elif isinstance(refusal, FieldsRefused):
            fields = "; ".join(f"{code}: {message}" for code, message in errors if code not in _GENERIC_CODES)
            log.warning("site %s: HelpCrunch refused %s, fields %s", self.site_id, where, fields)
        if isinstance(refusal, BackendRefused) and (
            path == "/chats" or (path == "/customers" and not isinstance(refusal, FieldsRefused))
        ):
            # The site's application, department, assignee or base URL is wrong (not the visitor's
            # data): every new chat will fail alike. Cleared by the next chat created.
            self._report("chat", f"HelpCrunch refused {where}: {refusal.detail}")
        raise refusal

    def _report(self, kind: str | None, detail: str) -> None:
        """Operators see the site's HelpCrunch health (admin API, /healthz, log). ``kind`` None: healthy
        again. A refused key is cleared by any success, a refused chat creation only by a created chat."""
        self._problem = (kind, detail) if kind is not None else None
        self.context.report(self.site_id, kind is None, detail)


def _page(answer: Mapping[str, Any]) -> list[Any]:
    """B.4: ``data``; one older revision names it ``messages``."""
    page = answer.get("data", answer.get("messages"))
    return page if isinstance(page, list) else []


def _required_id(answer: Mapping[str, Any], what: str) -> int:
    value = answer.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise BackendUnavailable(f"{what} answered without a usable id: {str(answer)[:200]}")
