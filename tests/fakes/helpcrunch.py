"""A fake HelpCrunch REST API v1, with its webhooks, that follows the vendor's documentation.

Sources: HelpCrunch's REST API documentation ("Create chat", "Create message", "Update chat status",
"Chat webhooks", "Message webhooks"; "B.n" below). Where the documentation is
silent the choice is marked [I] (inferred); where a test could want the other choice it is an option.

Layers, pure cores, thin edges:

- ``HelpCrunchCore``: customers, chats, messages and the webhook events they cause, as a state machine
  with no I/O. Requests are validated here and raise ``HelpCrunchError`` (documented error bodies).
- ``FakeHelpCrunch``: a thin Starlette app around the core, served under ``/v1`` (B.1), so an adapter's
  ``base_url`` is ``{served}/v1``. It checks the Bearer key, applies the account-wide rate limit, injects
  faults, records every request, and delivers the core's webhook events (signed, B.5) with aiohttp. The
  agent's side is a set of async test controls, and a JSON control API under ``/_fake/`` for other
  processes::

      python -m tests.fakes.helpcrunch --port 8090 \\
          --webhook-url http://127.0.0.1:8000/hooks/helpcrunch/shop --webhook-key s3cret
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http import json_params, wait_unless_disconnected

API_PREFIX = "/v1"  # B.1: https://api.helpcrunch.com/v1
DEFAULT_API_KEY = "helpcrunch-test-key"
DEFAULT_APPLICATION = 3838  # the ids in HelpCrunch's documented example
DEFAULT_DEPARTMENTS = {233048: "Test Department"}
DEFAULT_AGENT_ID = 4188
DEFAULT_AGENT_NAME = "Derek Swanson"
RATE_LIMIT = 120  # B.1: "The default overall requests limit is 120 per minute"
RATE_WINDOW = 60.0
MESSAGES_LIMIT = 100  # B.4: limit defaults to 100, which is also the maximum
SIGNATURE_HEADER = "X-HelpCrunch-Signature"  # B.5: hex HMAC-SHA1 of the raw body

# B.3: the chat model's spellings, and what the update-status page (and its translations) send.
CHAT_STATUSES = ("new", "opened", "pending", "onhold", "no communication", "closed", "empty")
STATUS_SPELLINGS = {
    "new": "new",
    "opened": "opened",
    "open": "opened",
    "pending": "pending",
    "on hold": "onhold",
    "on-hold": "onhold",
    "onhold": "onhold",
    "no communication": "no communication",
    "closed": "closed",
}
MESSAGE_TYPES = ("message", "private")  # B.4: what POST /messages accepts as type

# B.5: the events this fake produces. [I] Real HelpCrunch sends only the events subscribed in its UI; the
# default here is the set our adapter needs, and ALL_EVENTS makes the adapter's tests see everything.
ALL_EVENTS = frozenset(
    {
        "chat.new",
        "chat.status_updated",
        "chat.assigned",
        "chat.closed",
        "message.chat.customer",
        "message.chat.agent",
        "message.private",
    }
)
DEFAULT_EVENTS = frozenset({"message.chat.agent", "chat.status_updated", "chat.closed"})

# [I] The "Chat model for webhooks" example was cut off before it named the chat's id; this key
# carries it, next to the documented fields. Message events name it "chat_id" (documented).
WEBHOOK_CHAT_ID_KEY = "id"

# Error bodies, B.1. A 400 for a field starts with invalid_request, then one entry per bad field.
INVALID_TOKEN = ("invalid_token", "Invalid token")
UNAUTHORIZED_REVISION = (("invalid_request", "Invalid request"), ("unauthorized", "Unauthorized"))
TOO_MANY_REQUESTS = ("too_many_requests", "You have exceeded your requests limit")
INVALID_REQUEST = ("invalid_request", "Invalid request")
NOT_BLANK = "This value should not be blank."
NOT_NUMERIC = "This value should be of type numeric."


def error_body(*errors: tuple[str, str]) -> dict[str, Any]:
    """B.1: the only error shape, ``{"errors": [{"code": ..., "message": ...}, ...]}``."""
    return {"errors": [{"code": code, "message": message} for code, message in errors]}


class HelpCrunchError(Exception):
    """A documented error response (B.1): an HTTP status and a list of (code, message)."""

    def __init__(self, http_status: int, *errors: tuple[str, str]) -> None:
        super().__init__("; ".join(f"{code}: {message}" for code, message in errors))
        self.http_status = http_status
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return error_body(*self.errors)


def invalid_fields(*fields: tuple[str, str]) -> HelpCrunchError:
    return HelpCrunchError(400, INVALID_REQUEST, *fields)


class ControlError(Exception):
    """A test drove the agent's side wrongly (unknown chat, unknown status, ...)."""

    def __init__(self, message: str, http_status: int = 409) -> None:
        super().__init__(message)
        self.http_status = http_status


def _stamp(seconds: float) -> str:
    # B.1: message and webhook timestamps are strings with fractional milliseconds, "1594139170.913".
    return f"{seconds:.3f}"


@dataclass
class Agent:
    id: int
    name: str
    email: str = ""
    role: str = "agent"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "role": self.role}


@dataclass
class Customer:
    id: int
    name: str | None
    email: str | None
    user_id: str | None
    company: str | None
    phone: str | None
    first_seen: int
    fields: dict[str, Any]  # every field as sent

    def brief(self) -> dict[str, Any]:
        # The customer inside a chat and inside webhook events (HelpCrunch's documentation).
        return {"id": self.id, "name": self.name, "email": self.email, "userId": self.user_id}

    def as_json(self) -> dict[str, Any]:
        # B.2 lists these; [I] the device block was truncated in the docs, so it is null here.
        return self.brief() | {
            "company": self.company,
            "phone": self.phone,
            "firstSeen": self.first_seen,
            "lastSeen": self.first_seen,
            "location": {"regionCode": None, "countryCode": None, "city": None},
            "device": None,
        }


@dataclass
class Message:
    id: int
    chat_id: int
    type: str  # B.4 message model: message | private | tech (| email | knowledgeBase, not produced here)
    text: str
    sender: str  # "agent" | "customer": the model's "from"
    agent: Agent | None
    created_at: float
    application_id: int | None

    def as_json(self) -> dict[str, Any]:
        # B.4, "Create message" and "Message model".
        return {
            "id": self.id,
            "agent": self.agent.as_json() if self.agent else None,
            "type": self.type,
            "text": self.text,
            "read": False,
            "createdAt": _stamp(self.created_at),
            "updatedAt": None,
            "edited": False,
            "broadcastType": None,
            "chat": self.chat_id,
            "from": self.sender,
        }

    def webhook_json(self) -> dict[str, Any]:
        # B.5, the "message" object of a message event: exactly the documented keys.
        return {
            "applicationId": self.application_id,
            "broadcastType": None,
            "createdAt": _stamp(self.created_at),
            "edited": False,
            "id": self.id,
            "read": False,
            "text": self.text,
            "updatedAt": _stamp(self.created_at),
        }


@dataclass
class Chat:
    id: int
    customer: Customer
    application_id: int | None
    department: tuple[int, str] | None
    assignee: Agent | None
    created_at: int
    status: str = "empty"  # B.3: a new chat is "empty"
    closed_by: str | None = None
    closed_at: float | None = None
    agents: list[Agent] = field(default_factory=list)  # the agents who wrote in it
    messages: list[Message] = field(default_factory=list)

    def _last(self, sender: str | None = None) -> Message | None:
        visible = [m for m in self.messages if m.type != "tech" and (sender is None or m.sender == sender)]
        return visible[-1] if visible else None

    @property
    def customer_texts(self) -> list[str]:
        return [m.text for m in self.messages if m.sender == "customer"]

    @property
    def agent_texts(self) -> list[str]:
        return [m.text for m in self.messages if m.sender == "agent" and m.type == "message"]

    def as_json(self) -> dict[str, Any]:
        # Seed 002's example, key for key, plus applicationId and createdWith (B.3).
        last, last_customer = self._last(), self._last("customer")
        return {
            "id": self.id,
            "closedBy": self.closed_by,
            "lastCustomerMessageAt": int(last_customer.created_at) if last_customer else None,
            "status": self.status,
            "closedAt": int(self.closed_at) if self.closed_at is not None else None,
            "rating": None,
            "createdAt": self.created_at,
            "lastMessageAt": int(last.created_at) if last else None,
            "snoozedUntil": None,
            "lastMessageText": last.text if last else None,
            "lastMessageId": last.id if last else None,
            "lastCommunicatedAgentId": self.agents[-1].id if self.agents else None,
            "agents": [a.as_json() for a in self.agents],
            "customer": self.customer.brief(),
            "assignee": self.assignee.as_json() if self.assignee else None,
            "department": {"id": self.department[0], "name": self.department[1]} if self.department else None,
            "applicationId": self.application_id,
            "createdWith": "public_api",
        }

    def webhook_json(self) -> dict[str, Any]:
        # B.5 "Chat model for webhooks": the documented keys, timestamps as strings; [I] id and assignee
        # (the example was cut off before them).
        return {
            WEBHOOK_CHAT_ID_KEY: self.id,
            "communicatedAgents": [a.id for a in self.agents],
            "customer": self.customer.brief(),
            "closedBy": self.closed_by,
            "status": self.status,
            "closedAt": _stamp(self.closed_at) if self.closed_at is not None else None,
            "rating": None,
            "createdAt": _stamp(self.created_at),
            "snoozedUntil": None,
            "applicationId": self.application_id,
            "department": {"id": self.department[0], "name": self.department[1]} if self.department else None,
            "assignee": self.assignee.as_json() if self.assignee else None,
        }


@dataclass(frozen=True)
class WebhookEvent:
    """One event as HelpCrunch queues it; ``envelope`` is what is POSTed on each attempt."""

    id: str
    event: str
    chat_id: int
    data: dict[str, Any]
    created_at: int

    def envelope(self, attempts: int, last_attempt_at: int) -> dict[str, Any]:
        return {
            "event": self.event,
            "eventData": self.data,
            "attempts": attempts,
            "lastAttemptAt": last_attempt_at,
            "createdAt": self.created_at,
            "id": self.id,
        }


# --- request validation (B.1: 400 with invalid_request and one entry per field) ----------------------------


_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(), which also takes "²"


def _numeric(value: Any) -> int | None:
    """HelpCrunch's "numeric": an integer, or a string of digits. None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


class _Fields:
    """Collects every bad field of one request before failing, as the documented 400 lists several."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.problems: list[tuple[str, str]] = []

    def numeric(self, name: str, *, required: bool) -> int | None:
        value = self.body.get(name)
        if value is None or value == "":
            if required:
                self.problems.append((name, NOT_BLANK))
            return None
        number = _numeric(value)
        if number is None:
            self.problems.append((name, NOT_NUMERIC))
        return number

    def text(self, name: str, *, required: bool) -> str | None:
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problems.append((name, NOT_BLANK))
            return None
        if not isinstance(value, str):
            self.problems.append((name, "This value should be of type string."))
            return None
        return value

    def check(self) -> None:
        if self.problems:
            raise invalid_fields(*self.problems)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class HelpCrunchCore:
    """One HelpCrunch account. No I/O: every method is a synchronous state change.

    A refused request raises ``HelpCrunchError`` and changes nothing. Every change that HelpCrunch would
    announce by webhook appends a ``WebhookEvent`` to ``events`` (all of them, subscribed or not) and to
    the queue that ``take_events()`` drains.
    """

    def __init__(
        self,
        *,
        applications: Iterable[int] | None = None,
        departments: Mapping[int, str] | None = None,
        agents: Iterable[Agent] = (),
        require_application: bool = True,
        reopen_closed_chats: bool = True,
        tech_messages: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # [I] Unknown application ids are accepted unless ``applications`` lists the valid ones.
        self.applications = None if applications is None else set(applications)
        self.departments = dict(DEFAULT_DEPARTMENTS if departments is None else departments)
        self.agents: dict[int, Agent] = {a.id: a for a in agents} or {
            DEFAULT_AGENT_ID: Agent(DEFAULT_AGENT_ID, DEFAULT_AGENT_NAME, "", "admin")  # documented assignee
        }
        # B.3: most revisions mark application REQUIRED, one optional.
        self.require_application = require_application
        # [I] Not documented: a customer message to a closed chat reopens it as "new" (True), or is refused
        # with 400 invalid_chat_value (False).
        self.reopen_closed_chats = reopen_closed_chats
        # B.4: type "tech" is a system message "e.g. a status change". [I] Its text; and only explicit
        # status changes (agent or PUT /chats/status) write one, not the automatic ones.
        self.tech_messages = tech_messages
        self.clock = clock
        self.customers: dict[int, Customer] = {}
        self.chats: dict[int, Chat] = {}
        self.events: list[WebhookEvent] = []
        self._queue: list[WebhookEvent] = []
        # Ids continue from the docs' examples, so a test's numbers look like the documentation's.
        self._customer_ids = itertools.count(8738438)
        self._chat_ids = itertools.count(5215766)
        self._message_ids = itertools.count(9577656)
        self._agent_ids = itertools.count(max(self.agents) + 1)

    # --- the REST API (B.2-B.4) ---------------------------------------------------------------------

    def create_customer(self, body: Mapping[str, Any]) -> Customer:
        # B.2: no field is required. [I] Types are checked, and an email must look like one.
        fields = _Fields(body)
        name = fields.text("name", required=False)
        email = fields.text("email", required=False)
        user_id = fields.text("userId", required=False)
        company = fields.text("company", required=False)
        phone = fields.text("phone", required=False)
        if email is not None and not _EMAIL.fullmatch(email):
            fields.problems.append(("email", "This value is not a valid email address."))
        fields.check()
        customer = Customer(
            next(self._customer_ids), name, email, user_id, company, phone, int(self.clock()), dict(body)
        )
        self.customers[customer.id] = customer
        return customer

    def create_chat(self, body: Mapping[str, Any]) -> Chat:
        fields = _Fields(body)
        customer_id = fields.numeric("customer", required=True)
        application = fields.numeric("application", required=self.require_application)
        department_id = fields.numeric("department", required=False)
        assignee_id = fields.numeric("assignee", required=False)
        fields.check()
        assert customer_id is not None
        customer = self.customers.get(customer_id)
        if customer is None:
            raise HelpCrunchError(404, ("entity_not_found", "Customer not found"))  # [I] message
        if application is not None and self.applications is not None and application not in self.applications:
            raise HelpCrunchError(404, ("entity_not_found", "Application not found"))  # [I]
        department = None
        if department_id is not None:
            if department_id not in self.departments:
                raise HelpCrunchError(404, ("entity_not_found", "Department not found"))  # [I]
            department = (department_id, self.departments[department_id])
        assignee = None
        if assignee_id is not None:
            assignee = self._agent(assignee_id)
        chat = Chat(next(self._chat_ids), customer, application, department, assignee, int(self.clock()))
        self.chats[chat.id] = chat
        self._emit("chat.new", chat)  # [I] also for chats created through the API
        return chat

    def get_chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise HelpCrunchError(404, ("chat_not_found", "Chat not found"))
        return chat

    def create_message(self, body: Mapping[str, Any]) -> Message:
        """POST /messages (B.4). Without ``agent`` it is the customer's message."""
        fields = _Fields(body)
        chat_id = fields.numeric("chat", required=True)
        text = fields.text("text", required=True)
        markdown = fields.text("markdownText", required=False)
        agent_id = fields.numeric("agent", required=False)
        # B.4: "chat, text, agent and type are required when you create a message from agent".
        type_ = fields.text("type", required=agent_id is not None)
        if type_ is not None and type_ not in MESSAGE_TYPES:
            fields.problems.append(("type", "The value you selected is not a valid choice."))
        elif type_ == "private" and agent_id is None and "agent" not in body:
            fields.problems.append(("agent", NOT_BLANK))  # [I] a note is always an agent's
        fields.check()
        assert chat_id is not None and text is not None
        chat = self.get_chat(chat_id)
        shown = markdown if markdown is not None else text  # B.4: the markdown version goes into text
        if agent_id is None:
            return self.customer_message(chat, shown)
        return self.agent_message(chat, shown, self._agent(agent_id), private=type_ == "private")

    def read_messages(self, chat_id: int, offset: int, limit: int) -> tuple[list[Message], int]:
        """GET /chats/{id}/messages (B.4): newest first, then offset and limit; and the total."""
        chat = self.get_chat(chat_id)
        newest_first = sorted(chat.messages, key=lambda m: (m.created_at, m.id), reverse=True)
        return newest_first[offset : offset + limit], len(newest_first)

    def update_status(self, body: Mapping[str, Any]) -> Chat:
        """PUT /chats/status (B.3), documented errors from "Update chat status"."""
        fields = _Fields(body)
        chat_id = fields.numeric("id", required=True)
        fields.check()
        assert chat_id is not None
        status = body.get("status")
        if not isinstance(status, str) or status not in STATUS_SPELLINGS:
            raise HelpCrunchError(400, ("invalid_chat_value", "status value is invalid"))
        chat = self.chats.get(chat_id)
        if chat is None:
            raise HelpCrunchError(404, ("chat_not_found", "Chat is missing"))
        self.set_status(chat, STATUS_SPELLINGS[status], by="agent", explicit=True)  # [I] closedBy agent
        return chat

    # --- what customers and agents do (shared by the API and the test controls) ----------------------

    def customer_message(self, chat: Chat, text: str) -> Message:
        if chat.status == "closed" and not self.reopen_closed_chats:
            raise HelpCrunchError(400, ("invalid_chat_value", "Chat is closed"))  # [I]
        message = self._append(chat, "message", text, "customer", None)
        self._emit_message("message.chat.customer", chat, message)
        if chat.status in ("empty", "closed"):
            self.set_status(chat, "new", by=None)  # [I] the first (or a reopening) customer message
        return message

    def agent_message(self, chat: Chat, text: str, agent: Agent, *, private: bool = False) -> Message:
        if private:
            message = self._append(chat, "private", text, "agent", agent)
            self._emit_message("message.private", chat, message)
            return message
        message = self._append(chat, "message", text, "agent", agent)
        if agent not in chat.agents:
            chat.agents.append(agent)
        else:  # lastCommunicatedAgentId is the last one in the list
            chat.agents.remove(agent)
            chat.agents.append(agent)
        self._emit_message("message.chat.agent", chat, message)
        # "when agent replies to a New chat and the status automatically changes to Opened"; "when agent
        # replies and auto-assigns the chat to themselves" (B.5 event descriptions).
        if chat.status in ("empty", "new"):
            self.set_status(chat, "opened", by=None)
        if chat.assignee is None:
            chat.assignee = agent
            self._emit("chat.assigned", chat)
        return message

    def set_status(self, chat: Chat, status: str, *, by: str | None, explicit: bool = False) -> None:
        """Change a chat's status; a change to closed is announced twice, [I] status_updated then closed."""
        if status not in CHAT_STATUSES:
            raise ControlError(f"unknown chat status {status!r}; one of {CHAT_STATUSES}", http_status=400)
        if status == chat.status:
            return
        chat.status = status
        if status == "closed":
            chat.closed_by, chat.closed_at = by, self.clock()
        else:
            chat.closed_by, chat.closed_at = None, None
        if explicit and self.tech_messages:
            self._append(chat, "tech", f"Chat status changed to {status}", "agent", None)  # [I] text
        self._emit("chat.status_updated", chat)
        if status == "closed":
            self._emit("chat.closed", chat)

    def agent_named(self, name: str) -> Agent:
        """The agent with this name; [I] a new one (role "agent", no email) if the account has none."""
        for agent in self.agents.values():
            if agent.name == name:
                return agent
        agent = Agent(next(self._agent_ids), name)
        self.agents[agent.id] = agent
        return agent

    @property
    def has_pending_events(self) -> bool:
        return bool(self._queue)

    def take_events(self) -> list[WebhookEvent]:
        taken, self._queue = self._queue, []
        return taken

    # --- helpers --------------------------------------------------------------------------------------

    def _agent(self, agent_id: int) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise HelpCrunchError(404, ("entity_not_found", "Agent not found"))
        return agent

    def _append(self, chat: Chat, type_: str, text: str, sender: str, agent: Agent | None) -> Message:
        message = Message(
            next(self._message_ids), chat.id, type_, text, sender, agent, self.clock(), chat.application_id
        )
        chat.messages.append(message)
        return message

    def _emit(self, name: str, chat: Chat) -> None:
        self._push(name, chat.id, chat.webhook_json())

    def _emit_message(self, name: str, chat: Chat, message: Message) -> None:
        data = {
            "chat_id": chat.id,
            "agent": message.agent.as_json() if message.agent else None,  # [I] the agent's shape
            "customer": chat.customer.brief(),
            "message": message.webhook_json(),
        }
        self._push(name, chat.id, data)

    def _push(self, name: str, chat_id: int, data: dict[str, Any]) -> None:
        event = WebhookEvent(str(uuid.uuid4()), name, chat_id, data, int(self.clock()))
        self.events.append(event)
        self._queue.append(event)


class SlidingWindowLimit:
    """At most ``limit`` accepted requests in any ``window`` seconds. [I] B.1 gives only "120 per minute"
    for the whole account; a sliding window is the strictest reading. Refused requests do not count."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._accepted: deque[float] = deque()

    def allow(self) -> bool:
        now = self.clock()
        while self._accepted and self._accepted[0] <= now - self.window:
            self._accepted.popleft()
        if len(self._accepted) >= self.limit:
            return False
        self._accepted.append(now)
        return True


def sign(body: bytes, signing_key: str) -> str:
    """B.5: ``X-HelpCrunch-Signature`` is the hex HMAC-SHA1 of the raw body, keyed with the signing key."""
    return hmac.new(signing_key.encode(), body, hashlib.sha1).hexdigest()


# --- HTTP layer -----------------------------------------------------------------------------------------

_CHAT_PATH = re.compile(r"/chats/(?P<id>[^/]+)(?P<messages>/messages)?")


def route(method: str, path: str) -> tuple[str, str | None]:
    """Map a request line (path below /v1) to ``(operation, raw chat id)``; unknown ones are 404."""
    simple = {
        ("POST", "/customers"): "CreateCustomer",
        ("POST", "/chats"): "CreateChat",
        ("PUT", "/chats/status"): "UpdateChatStatus",
        ("POST", "/messages"): "CreateMessage",
    }
    operation = simple.get((method, path.rstrip("/") or "/"))
    if operation is not None:
        return operation, None
    match = _CHAT_PATH.fullmatch(path)
    if method == "GET" and match is not None and match["id"] != "status":
        return ("GetChatMessages" if match["messages"] else "GetChat"), match["id"]
    # [I] the fake implements only what the adapter uses; everything else is B.1's not_found
    raise HelpCrunchError(404, ("not_found", "Not found"))


def _chat_id(raw: str) -> int:
    number = _numeric(raw)
    if number is None:
        raise HelpCrunchError(400, ("invalid_chat_value", "Invalid chat ID"))  # B.1
    return number


def _query_int(query: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw):
        raise invalid_fields((name, NOT_NUMERIC))
    value = int(raw)
    if maximum is not None and not 1 <= value <= maximum:
        # [I] B.4 says 100 is the maximum, not what happens above it: refused, so an adapter bug shows.
        raise invalid_fields((name, f"This value should be between 1 and {maximum}."))
    return value


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    json: Any  # the parsed body; None when there was none or it was not JSON
    body: bytes
    operation: str | None  # CreateCustomer, CreateChat, GetChat, ...; None if the path is unknown
    status: int  # the HTTP status the fake answered
    at: float  # time.monotonic()


@dataclass(frozen=True)
class WebhookAttempt:
    body: bytes
    signature: str
    status: int | None  # None when the POST did not get an answer
    error: str | None
    at: float  # time.monotonic()


@dataclass
class WebhookDelivery:
    event: WebhookEvent
    url: str
    attempts: list[WebhookAttempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].status is not None and self.attempts[-1].status < 300

    @property
    def payload(self) -> dict[str, Any]:
        """The envelope as last sent."""
        return dict(json.loads(self.attempts[-1].body))


class FakeHelpCrunch:
    """The fake server. ``app`` is the ASGI app (serve it and use ``{url}/v1`` as the base URL).

    Test controls are meant to be called from the event loop that serves ``app``. The agent controls are
    async: they change the state and then deliver the resulting webhooks (if a webhook is configured)
    before they return, so a test can assert right after ``await fake.agent_reply(...)``.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        webhook_url: str | None = None,
        webhook_signing_key: str | None = None,
        webhook_events: Iterable[str] | None = DEFAULT_EVENTS,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        rate_limit: int | None = RATE_LIMIT,
        rate_window: float = RATE_WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
        create_chat_status: int = 201,
        messages_key: str = "data",
        unauthorized_revision: bool = False,
        **core_options: Any,
    ) -> None:
        self.api_key = api_key
        self.core = HelpCrunchCore(**core_options)
        self.webhook_url = webhook_url
        self.webhook_signing_key = webhook_signing_key
        self.webhook_events = None if webhook_events is None else frozenset(webhook_events)
        # [I] B.5's "attempts" field implies retries; how many and how far apart is not documented.
        self.webhook_attempts = max(1, webhook_attempts)
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.limit = SlidingWindowLimit(rate_limit, rate_window, monotonic) if rate_limit else None
        self.create_chat_status = create_chat_status  # B.3: 201, one revision 200
        self.messages_key = messages_key  # B.4: "data", one older revision "messages"
        self.unauthorized_revision = unauthorized_revision  # B.1: the 401 body of some revisions
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[WebhookDelivery] = []
        self._faults: deque[Response] = deque()
        self._delay = 0.0
        self._delivery_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/_fake/state", self._control_state, methods=["GET"]),
                Route("/_fake/chats/{chat_id:int}/{action}", self._control_chat, methods=["POST"]),
                Route("/_fake/webhook", self._control_webhook, methods=["POST"]),
                Route("/_fake/faults", self._control_faults, methods=["POST"]),
                Route("/{path:path}", self._api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ],
            lifespan=self._lifespan,
        )

    # --- test controls --------------------------------------------------------------------------------

    @property
    def chats(self) -> dict[int, Chat]:
        return self.core.chats

    @property
    def customers(self) -> dict[int, Customer]:
        return self.core.customers

    def set_webhook(
        self, url: str | None, signing_key: str | None, events: Iterable[str] | None = DEFAULT_EVENTS
    ) -> None:
        """Where events go (None: nowhere) and which are subscribed (None: all of ALL_EVENTS)."""
        self.webhook_url, self.webhook_signing_key = url, signing_key
        self.webhook_events = None if events is None else frozenset(events)

    async def agent_reply(self, chat_id: int, text: str, agent_name: str = DEFAULT_AGENT_NAME) -> Message:
        """The agent writes to the visitor: a ``message.chat.agent`` event (and the automatic status change
        to opened and assignment, when they apply)."""
        chat = self._chat(chat_id)
        message = self.core.agent_message(chat, text, self.core.agent_named(agent_name))
        await self.deliver_pending()
        return message

    async def agent_note(self, chat_id: int, text: str, agent_name: str = DEFAULT_AGENT_NAME) -> Message:
        """A private note (type "private", ``message.private``): agents see it, the visitor must not."""
        chat = self._chat(chat_id)
        message = self.core.agent_message(chat, text, self.core.agent_named(agent_name), private=True)
        await self.deliver_pending()
        return message

    async def change_status(self, chat_id: int, status: str, by: str = "agent") -> Chat:
        """An agent (or HelpCrunch itself) sets the status; accepts every documented spelling."""
        chat = self._chat(chat_id)
        normalised = STATUS_SPELLINGS.get(status, status)
        self.core.set_status(chat, normalised, by=by if normalised == "closed" else None, explicit=True)
        await self.deliver_pending()
        return chat

    async def close_chat(self, chat_id: int, by: str = "agent") -> Chat:
        """The chat is closed (B.3 closedBy: "agent" or "customer"): chat.status_updated and chat.closed."""
        return await self.change_status(chat_id, "closed", by=by)

    async def deliver_pending(self) -> list[WebhookDelivery]:
        """Deliver, in order, every event the core has queued; returns the deliveries made."""
        async with self._delivery_lock:
            made = []
            for event in self.core.take_events():
                delivery = await self._deliver(event)
                if delivery is not None:
                    made.append(delivery)
            return made

    async def settle(self) -> None:
        """Wait until the webhooks caused by API requests have been delivered."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next n API requests get this status and have no effect. [I] The body of a server error is
        not documented; it uses the documented shape."""
        body = error_body(("internal_error", "Internal error (injected by the test)"))
        self._faults.extend(JSONResponse(body, status_code=status) for _ in range(n))

    def rate_limit_next(self, n: int = 1) -> None:
        """The next n API requests get the documented 429 (B.1: no Retry-After or X-RateLimit headers)."""
        self._faults.extend(JSONResponse(error_body(TOO_MANY_REQUESTS), status_code=429) for _ in range(n))

    def delay(self, seconds: float) -> None:
        """Every API request waits this long first (0 turns it off); one whose client gives up during the
        wait is never processed, so a timed-out request has had no effect."""
        self._delay = max(0.0, seconds)

    def requests_for(self, operation: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation == operation]

    def state(self) -> dict[str, Any]:
        return {
            "chats": {
                str(chat.id): chat.as_json() | {"messages": [m.as_json() for m in chat.messages]}
                for chat in self.chats.values()
            },
            "requests": [
                {"method": r.method, "path": r.path, "operation": r.operation, "status": r.status}
                for r in self.requests
            ],
            "deliveries": [
                {"event": d.event.event, "chat_id": d.event.chat_id, "delivered": d.delivered}
                | {"attempts": [{"status": a.status, "error": a.error} for a in d.attempts]}
                for d in self.deliveries
            ],
        }

    def _chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"no such chat: {chat_id}", http_status=404)
        return chat

    # --- webhooks -------------------------------------------------------------------------------------

    async def _deliver(self, event: WebhookEvent) -> WebhookDelivery | None:
        url, key = self.webhook_url, self.webhook_signing_key
        if url is None or key is None:
            return None
        if self.webhook_events is not None and event.event not in self.webhook_events:
            return None
        delivery = WebhookDelivery(event, url)
        self.deliveries.append(delivery)
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(self.webhook_attempts):
                if attempt:
                    await asyncio.sleep(self.webhook_retry_delay)
                body = json.dumps(event.envelope(attempt, int(self.core.clock()))).encode()
                signature = sign(body, key)
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
                status: int | None = None
                error: str | None = None
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                delivery.attempts.append(WebhookAttempt(body, signature, status, error, time.monotonic()))
                if delivery.delivered:
                    break
        return delivery

    def _deliver_in_background(self) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver_background())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_background(self) -> None:
        await self.deliver_pending()

    # --- the REST API ---------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        operation: str | None = None
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            with contextlib.suppress(HelpCrunchError):
                operation = route(request.method, path[len(API_PREFIX) :])[0]
        response = await self._respond(request, body, parsed)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                query=dict(request.query_params),
                headers=request.headers,
                json=parsed,
                body=body,
                operation=operation,
                status=response.status_code,
                at=time.monotonic(),
            )
        )
        if self.core.has_pending_events:
            self._deliver_in_background()
        return response

    async def _respond(self, request: Request, body: bytes, parsed: Any) -> Response:
        if self._delay and not await wait_unless_disconnected(request, self._delay):
            return Response(status_code=499)  # nobody is listening; the request had no effect
        if self._faults:
            return self._faults.popleft()
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            errors = UNAUTHORIZED_REVISION if self.unauthorized_revision else (INVALID_TOKEN,)
            return JSONResponse(error_body(*errors), status_code=401)
        if self.limit is not None and not self.limit.allow():
            return JSONResponse(error_body(TOO_MANY_REQUESTS), status_code=429)
        try:
            return self._answer(request, body, parsed)
        except HelpCrunchError as error:
            return JSONResponse(error.body(), status_code=error.http_status)

    def _answer(self, request: Request, body: bytes, parsed: Any) -> Response:
        path = request.url.path
        if not path.startswith(API_PREFIX + "/"):
            raise HelpCrunchError(404, ("not_found", "Not found"))
        operation, raw_id = route(request.method, path[len(API_PREFIX) :])
        if operation == "GetChat":
            assert raw_id is not None
            return JSONResponse(self.core.get_chat(_chat_id(raw_id)).as_json())
        if operation == "GetChatMessages":
            assert raw_id is not None
            chat_id = _chat_id(raw_id)
            offset = _query_int(request.query_params, "offset", 0)
            limit = _query_int(request.query_params, "limit", MESSAGES_LIMIT, maximum=MESSAGES_LIMIT)
            messages, total = self.core.read_messages(chat_id, offset, limit)
            return JSONResponse({self.messages_key: [m.as_json() for m in messages], "total": total})
        if not isinstance(parsed, dict):
            raise HelpCrunchError(400, INVALID_REQUEST)  # B.1: JSON objects in
        if operation == "CreateCustomer":
            return JSONResponse(self.core.create_customer(parsed).as_json(), status_code=201)
        if operation == "CreateChat":
            return JSONResponse(self.core.create_chat(parsed).as_json(), status_code=self.create_chat_status)
        if operation == "CreateMessage":
            return JSONResponse(self.core.create_message(parsed).as_json())  # B.4: 200, not 201
        return JSONResponse(self.core.update_status(parsed).as_json())

    # --- the control API for another process ----------------------------------------------------------

    async def _control_chat(self, request: Request) -> Response:
        chat_id, action = request.path_params["chat_id"], request.path_params["action"]
        params = await json_params(request)
        try:
            if action == "reply":
                message = await self.agent_reply(
                    chat_id, params["text"], params.get("agent_name", DEFAULT_AGENT_NAME)
                )
                return JSONResponse(message.as_json())
            if action == "note":
                message = await self.agent_note(
                    chat_id, params["text"], params.get("agent_name", DEFAULT_AGENT_NAME)
                )
                return JSONResponse(message.as_json())
            if action == "close":
                return JSONResponse((await self.close_chat(chat_id, params.get("by", "agent"))).as_json())
            if action == "status":
                return JSONResponse((await self.change_status(chat_id, params["status"])).as_json())
        except ControlError as error:
            return JSONResponse({"error": str(error)}, status_code=error.http_status)
        except KeyError as missing:
            return JSONResponse({"error": f"missing parameter {missing}"}, status_code=400)
        return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)

    async def _control_webhook(self, request: Request) -> Response:
        params = await json_params(request)
        self.set_webhook(params.get("url"), params.get("signing_key"), params.get("events", DEFAULT_EVENTS))
        return JSONResponse({"ok": True})

    async def _control_faults(self, request: Request) -> Response:
        params = await json_params(request)
        kind, n = params.get("kind"), params.get("n", 1)
        if kind == "fail":
            self.fail_next(n, params.get("status", 500))
        elif kind == "rate_limit":
            self.rate_limit_next(n)
        elif kind == "delay":
            self.delay(params.get("seconds", 0))
        else:
            return JSONResponse({"error": f"unknown fault kind {kind!r}"}, status_code=400)
        return JSONResponse({"ok": True})

    async def _control_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*list(self._background), return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fake HelpCrunch REST API v1 (see tests/fakes/helpcrunch.py)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-url", default=None, help="where to POST webhook events")
    parser.add_argument("--webhook-key", default=None, help="the HTTP Webhook Signing Key")
    parser.add_argument("--all-events", action="store_true", help="subscribe to every event, not the default")
    parser.add_argument("--rate-limit", type=int, default=RATE_LIMIT, help="requests per minute; 0: none")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    fake = FakeHelpCrunch(
        args.api_key,
        webhook_url=args.webhook_url,
        webhook_signing_key=args.webhook_key,
        webhook_events=None if args.all_events else DEFAULT_EVENTS,
        rate_limit=args.rate_limit or None,
    )
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level, http="h11", lifespan="on")


if __name__ == "__main__":
    main()
