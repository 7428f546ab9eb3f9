"""A fake Genesys Web Services (GWS) v2 Customer Chat server that follows the vendor's documentation.

Sources: Genesys Web Services' Customer Chat API documentation ("RequestChat", "Customer Chat General");
comments cite its points as "A.n". Where the documentation is silent the
choice is marked [I] (inferred) and kept as plain as possible, so a test that depends on it is easy to spot.

Layers, pure cores, thin edges:

- ``CustomerChatCore``: the chats and their transcripts as a state machine; no I/O.
- ``FakeGWS``: a thin Starlette app around the core. It records every request, injects faults, enforces
  the headers of A.1, maps ``GWSError`` to the error shape of A.6, and offers the agent's side as plain
  methods (for tests) and as a JSON control API under ``/_fake/`` (for a benchmark in another process).
- ``AgentScript`` and ``main()``: the fake as a standalone server with an optional scripted agent::

      python -m tests.fakes.gws --port 8089 --agent-script
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import random
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.http import wait_unless_disconnected

DEFAULT_CONTACT_CENTER_ID = "cfe5ad67-ba6d-4340-81f9-bb680ef5d498"  # the id in the RequestChat example

# A.6 statusCode values used here.
OK = 0
MISSING_PARAMETER = 1
INVALID_STATE = 2
FORBIDDEN = 3
INTERNAL_ERROR = 4
NO_PERMISSION = 5
NOT_FOUND = 6
INVALID_INPUT = 10
NOT_AUTHENTICATED = 20

# A.6: the HTTP status that accompanies an error on the customer API is not documented. [I] These are
# the conventional ones; an adapter should decide on statusCode, not on the HTTP status.
HTTP_STATUS_FOR = {
    MISSING_PARAMETER: 400,
    INVALID_STATE: 400,
    FORBIDDEN: 405,  # only used for a wrong method on a documented path
    INTERNAL_ERROR: 500,
    NO_PERMISSION: 403,
    NOT_FOUND: 404,
    INVALID_INPUT: 400,
    NOT_AUTHENTICATED: 401,
}

CHAT_OPERATIONS = ("SendMessage", "SendStartTypingNotification", "SendStopTypingNotification", "Complete")
STATES = ("WaitingForAgent", "Chatting", "Idle")  # A.4: exactly these
MESSAGE_TYPES = ("Text", "ParticipantJoined", "ParticipantLeft", "TypingStarted", "TypingStopped")  # A.5
AGENT_TYPING_TEXT = "user is typing"  # A.5: the doc's agent TypingStarted carries this text


class GWSError(Exception):
    """A documented error (A.6): becomes ``{"statusCode": N, "statusMessage": "..."}`` and nothing else."""

    def __init__(self, status_code: int, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status or HTTP_STATUS_FOR.get(status_code, 400)

    def body(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "statusMessage": self.message}


class ControlError(Exception):
    """A test or benchmark drove the agent's side wrongly (unknown chat, no agent in the chat, ...)."""

    def __init__(self, message: str, http_status: int = 409) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True)
class Participant:
    nickname: str
    participant_id: str  # A.4: a string in GWS (an integer only in GMS, A.10)
    type: str  # "Customer" | "Agent"

    def as_json(self) -> dict[str, str]:
        return {"nickname": self.nickname, "participantId": self.participant_id, "type": self.type}


@dataclass(frozen=True)
class Message:
    index: int
    type: str
    sender: Participant
    text: str | None = None

    def as_json(self) -> dict[str, Any]:
        # A.5: no timestamp field is documented, so none is invented.
        out: dict[str, Any] = {"from": self.sender.as_json(), "index": self.index, "type": self.type}
        if self.text is not None:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class AgentText:
    """An agent Text as written, with when it was written, so a benchmark can measure delivery delay."""

    index: int
    text: str
    written_at: float  # time.monotonic(); CLOCK_MONOTONIC is shared by the processes of one host
    written_at_wall: float  # time.time()


@dataclass
class Chat:
    id: str
    nickname: str
    subject: str | None
    endpoint: str | None
    user_data: dict[str, str] | None
    customer: Participant
    agent: Participant | None = None
    agent_left: bool = False
    completed: bool = False
    messages: list[Message] = field(default_factory=list)
    read_cursor: int = 0  # A.5: the highest index this client has received
    customer_texts: list[str] = field(default_factory=list)
    agent_texts: list[AgentText] = field(default_factory=list)
    requests_after_complete: int = 0  # A.3 Complete: "no further requests should be sent for the chat"

    @property
    def state(self) -> str:
        # A.4 (emulator's gloss): WaitingForAgent = agent not yet joined, Chatting = agent has joined,
        # Idle = the chat is over for the customer. [I] Idle both after Complete and after the agent left.
        if self.completed or self.agent_left:
            return "Idle"
        return "Chatting" if self.agent is not None else "WaitingForAgent"

    @property
    def capabilities(self) -> list[str]:
        # A.4: the operations valid in the current state. [I] The customer may write while waiting for an
        # agent; once Idle only Complete is left (to close the chat), and after Complete nothing.
        if self.completed:
            return []
        if self.agent_left:
            return ["Complete"]
        return list(CHAT_OPERATIONS)

    @property
    def participants(self) -> list[Participant]:
        present = [self.agent] if self.agent is not None and not self.agent_left else []
        if not self.completed:
            present.append(self.customer)  # A.4 example lists the agent first
        return present

    def append(self, type_: str, sender: Participant, text: str | None = None) -> int:
        index = len(self.messages) + 1  # A.5: 1 is the first
        self.messages.append(Message(index, type_, sender, text))
        return index

    def resource(self) -> dict[str, Any]:
        return {
            "capabilities": self.capabilities,
            "id": self.id,
            "participants": [p.as_json() for p in self.participants],
            "state": self.state,
        }


def _required_string(params: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = params.get(name)
    if value is None or (value == "" and not allow_empty):
        raise GWSError(MISSING_PARAMETER, f"required parameter missing: {name}")
    if not isinstance(value, str):
        raise GWSError(INVALID_INPUT, f"{name} must be a string")
    return value


def _optional_string(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise GWSError(INVALID_INPUT, f"{name} must be a string")
    return value


class CustomerChatCore:
    """The chats of one contact center. No I/O: every method is a synchronous state change.

    Customer operations raise ``GWSError`` and leave the state untouched when they do (A.6: "If an error
    occurs, you can assume the request did not modify contact-center data"). Agent operations raise
    ``ControlError``.
    """

    def __init__(self, *, require_subject: bool = True, new_id: Callable[[], str] | None = None) -> None:
        # Seed 000 marks only endpoint and userData "(optional)", so subject is required by default.
        self.require_subject = require_subject
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self.chats: dict[str, Chat] = {}
        self.chat_listeners: list[Callable[[Chat], None]] = []

    # --- customer side (A.3) -------------------------------------------------------------------------

    def request_chat(self, params: Mapping[str, Any]) -> Chat:
        nickname = _required_string(params, "nickname")
        if self.require_subject:
            subject: str | None = _required_string(params, "subject", allow_empty=True)
        else:
            subject = _optional_string(params, "subject")
        endpoint = _optional_string(params, "endpoint")
        user_data = params.get("userData")
        if user_data is not None and not (
            isinstance(user_data, dict) and all(isinstance(v, str) for v in user_data.values())
        ):
            raise GWSError(INVALID_INPUT, "userData must be an object whose values are strings")
        chat_id = self._new_id()
        customer = Participant(nickname, "1", "Customer")
        chat = Chat(chat_id, nickname, subject, endpoint, user_data, customer)
        chat.append("ParticipantJoined", customer)
        self.chats[chat_id] = chat
        for listener in self.chat_listeners:
            listener(chat)
        return chat

    def perform(self, chat_id: str, params: Mapping[str, Any]) -> None:
        """One of the POST operations on /api/v2/chats/{id} (A.3)."""
        chat = self.chat(chat_id)
        operation = params["operationName"]
        if operation not in CHAT_OPERATIONS:
            raise GWSError(INVALID_INPUT, f"unknown operationName for a chat: {operation!r}")
        text = _required_string(params, "text") if operation == "SendMessage" else None
        if operation not in chat.capabilities:
            raise GWSError(INVALID_STATE, f"{operation} is not valid in state {chat.state}")
        if operation == "SendMessage":
            assert text is not None
            chat.append("Text", chat.customer, text)  # GWS echoes the customer's own text in the transcript
            chat.customer_texts.append(text)
        elif operation == "SendStartTypingNotification":
            chat.append("TypingStarted", chat.customer)
        elif operation == "SendStopTypingNotification":
            chat.append("TypingStopped", chat.customer)
        else:
            chat.append("ParticipantLeft", chat.customer)
            chat.completed = True

    def chat(self, chat_id: str) -> Chat:
        try:
            return self.chats[chat_id]
        except KeyError:
            raise GWSError(NOT_FOUND, f"chat not found: {chat_id}") from None

    def read_messages(self, chat_id: str, index: int | None) -> list[Message]:
        """GetChatMessages (A.5): from ``index`` on, all for 0, only the unread ones when omitted.

        [I] Any read advances the cursor to the last index returned; an explicit index below the cursor
        does not move it back.
        """
        chat = self.chat(chat_id)
        first = chat.read_cursor + 1 if index is None else index
        messages = [m for m in chat.messages if m.index >= first]
        if messages:
            chat.read_cursor = max(chat.read_cursor, messages[-1].index)
        return messages

    # --- agent side (test controls) ------------------------------------------------------------------

    def _live_chat(self, chat_id: str) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"no such chat: {chat_id}", http_status=404)
        if chat.completed:
            raise ControlError(f"chat {chat_id} was completed by the customer")
        return chat

    def _agent(self, chat: Chat) -> Participant:
        if chat.agent is None or chat.agent_left:
            raise ControlError(f"no agent is in chat {chat.id} (state {chat.state})")
        return chat.agent

    def agent_join(self, chat_id: str, nickname: str) -> int:
        chat = self._live_chat(chat_id)
        if chat.agent is not None:
            raise ControlError(f"chat {chat_id} already had an agent; this fake has one agent per chat")
        chat.agent = Participant(nickname, "2", "Agent")
        return chat.append("ParticipantJoined", chat.agent)

    def agent_typing(self, chat_id: str, active: bool) -> int:
        chat = self._live_chat(chat_id)
        agent = self._agent(chat)
        if active:
            return chat.append("TypingStarted", agent, AGENT_TYPING_TEXT)
        return chat.append("TypingStopped", agent)

    def agent_say(self, chat_id: str, text: str) -> int:
        chat = self._live_chat(chat_id)
        index = chat.append("Text", self._agent(chat), text)
        chat.agent_texts.append(AgentText(index, text, time.monotonic(), time.time()))
        return index

    def agent_leave(self, chat_id: str) -> int:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"no such chat: {chat_id}", http_status=404)
        index = chat.append("ParticipantLeft", self._agent(chat))
        chat.agent_left = True
        return index

    def drop_chat(self, chat_id: str) -> None:
        if self.chats.pop(chat_id, None) is None:
            raise ControlError(f"no such chat: {chat_id}", http_status=404)


# --- HTTP layer -----------------------------------------------------------------------------------------

_CHAT_PATH = re.compile(r"/api/v2/chats/(?P<id>[^/]+)(?P<messages>/messages)?")
_ME_CHAT_PATH = re.compile(r"/api/v2/me/chat/(?P<id>[^/]+)(?P<messages>/messages)?")


def route(method: str, path: str) -> tuple[str, str | None]:
    """Map a request line to ``(kind, chat_id)``.

    kind is RequestChat, ChatOperation (a POST whose body names the operation), GetChat or GetChatMessages.

    A.3 for /api/v2/chats...; A.2 of GWS's documentation for the GETs under /api/v2/me/chat/{id}, the only two
    requests that page names there.
    """
    if path in ("/api/v2/chats", "/api/v2/chats/"):  # GWS's docs: the table has the slash, the example not
        if method == "POST":
            return "RequestChat", None
        raise GWSError(FORBIDDEN, f"{method} is not allowed on {path}", http_status=405)
    match = _CHAT_PATH.fullmatch(path) or _ME_CHAT_PATH.fullmatch(path)
    if match is None:
        raise GWSError(NOT_FOUND, f"no such resource: {path}")
    chat_id, messages = match["id"], match["messages"] is not None
    if method in ("GET", "HEAD"):  # A.2: the pages' tables say POST, their examples GET; GET it is
        return ("GetChatMessages" if messages else "GetChat"), chat_id
    if method == "POST" and not messages and match.re is _CHAT_PATH:
        return "ChatOperation", chat_id
    raise GWSError(FORBIDDEN, f"{method} is not allowed on {path}", http_status=405)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Headers  # case-insensitive: r.headers.get("ContactCenterId")
    json: Any  # the parsed body; None when there was none or it was not JSON
    body: bytes
    operation: str | None  # RequestChat, SendMessage, ..., GetChat, GetChatMessages; None if unresolved
    chat_id: str | None
    at: float  # time.monotonic()
    answered: list[int] = field(default_factory=list)  # the HTTP status it got, once answered


class FakeGWS:
    """The fake server. ``app`` is the ASGI app; everything else is for the test or benchmark driving it.

    Test controls are synchronous and meant to be called from the event loop that serves ``app``.
    """

    def __init__(
        self,
        contact_center_id: str = DEFAULT_CONTACT_CENTER_ID,
        *,
        require_subject: bool = True,
        record_requests: bool = True,
        empty_index_zero: bool = False,
    ) -> None:
        self.contact_center_id = contact_center_id
        self.empty_index_zero = empty_index_zero
        self.core = CustomerChatCore(require_subject=require_subject)
        self.record_requests = record_requests  # off for long benchmarks; the counters are kept anyway
        self.requests: list[RecordedRequest] = []
        self.requests_by_operation: Counter[str] = Counter()
        self.requests_by_chat: dict[str, Counter[str]] = {}
        self.agent_script: AgentScript | None = None
        self._faults: deque[Response] = deque()  # injected answers, first in first out
        self._lose_answers = 0
        self._delay = 0.0
        self.app = Starlette(
            routes=[
                Route("/_fake/stats", self._control_stats, methods=["GET"]),
                Route("/_fake/chats/{chat_id}/{action}", self._control_chat, methods=["POST"]),
                Route("/_fake/faults", self._control_faults, methods=["POST"]),
                Route("/{path:path}", self._customer_api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ],
            lifespan=self._lifespan,
        )

    # --- test controls --------------------------------------------------------------------------------

    @property
    def chats(self) -> dict[str, Chat]:
        return self.core.chats

    def agent_join(self, chat_id: str, nickname: str = "Kristi Sippola") -> int:
        return self.core.agent_join(chat_id, nickname)

    def agent_typing(self, chat_id: str, active: bool = True) -> int:
        return self.core.agent_typing(chat_id, active)

    def agent_say(self, chat_id: str, text: str) -> int:
        return self.core.agent_say(chat_id, text)

    def agent_leave(self, chat_id: str) -> int:
        return self.core.agent_leave(chat_id)

    def drop_chat(self, chat_id: str) -> None:
        """The chat vanishes, as after a restart of GWS: every later request for it gets statusCode 6."""
        self.core.drop_chat(chat_id)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next n customer requests get this HTTP status with a statusCode 4 body, and have no effect."""
        body = {"statusCode": INTERNAL_ERROR, "statusMessage": "internal error (injected by the test)"}
        self._faults.extend(JSONResponse(body, status_code=status) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float = 2) -> None:
        """The next n customer requests get HTTP 429 with Retry-After, as a proxy in front of GWS would."""
        # [I] Rate limiting is not documented for GWS; a plain-text body is what a proxy typically sends.
        value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        self._faults.extend(
            PlainTextResponse("Too Many Requests", status_code=429, headers={"Retry-After": value})
            for _ in range(n)
        )

    def refuse_next(self, n: int = 1, status_code: int = INTERNAL_ERROR) -> None:
        """The next n customer requests get HTTP 200 with a non-zero statusCode (A.6), and have no effect."""
        body = {"statusCode": status_code, "statusMessage": "request refused (injected by the test)"}
        self._faults.extend(JSONResponse(body) for _ in range(n))

    def clear_faults(self) -> None:
        """Forget injected failures that have not happened yet."""
        self._faults.clear()
        self._lose_answers = 0

    def lose_answers(self, n: int = 1) -> None:
        """The next n POSTs are carried out, but their answers are held until the client gives up: a
        request that timed out although it reached GWS (the ambiguous case of exactly-once delivery)."""
        self._lose_answers += n

    def delay(self, seconds: float) -> None:
        """Every customer request waits this long before it is processed (0 turns it off).

        [I] A request whose client gives up during the wait is never processed, so a timed-out request has
        had no effect.
        """
        self._delay = max(0.0, seconds)

    def stats(self) -> dict[str, Any]:
        script = self.agent_script
        return {
            "requests": {
                "total": sum(self.requests_by_operation.values()),
                "by_operation": dict(self.requests_by_operation),
                "by_chat": {chat_id: dict(ops) for chat_id, ops in self.requests_by_chat.items()},
            },
            "chats": {chat_id: _chat_summary(chat) for chat_id, chat in self.chats.items()},
            "agent_replies": list(script.replies) if script is not None else [],
            "clock": {"monotonic": time.monotonic(), "wall": time.time()},
        }

    # --- the customer API -----------------------------------------------------------------------------

    async def _customer_api(self, request: Request) -> Response:
        body = await request.body()
        parsed, operation, chat_id = _describe(request.method, request.url.path, body)
        record = self._record(request, body, parsed, operation, chat_id)
        response = await self._respond(request, body)
        if record is not None:
            record.answered.append(response.status_code)
        return response

    async def _respond(self, request: Request, body: bytes) -> Response:
        if self._delay and not await wait_unless_disconnected(request, self._delay):
            return Response(status_code=499)  # nobody is listening; the request had no effect
        if self._faults:
            return self._faults.popleft()
        try:
            answer = self._answer(request, body)
        except GWSError as error:
            return JSONResponse(error.body(), status_code=error.http_status)
        if self._lose_answers and request.method == "POST":
            # Done, but the answer never arrives in time: the client cannot tell whether it was done.
            self._lose_answers -= 1
            await wait_unless_disconnected(request, 3600)
        return answer

    def _answer(self, request: Request, body: bytes) -> Response:
        self._check_headers(request.headers)
        kind, chat_id = route(request.method, request.url.path)
        if chat_id is not None and chat_id in self.chats and self.chats[chat_id].completed:
            self.chats[chat_id].requests_after_complete += 1
        if kind == "GetChat":
            assert chat_id is not None
            return JSONResponse({"chat": self.core.chat(chat_id).resource(), "statusCode": OK})
        if kind == "GetChatMessages":
            assert chat_id is not None
            index = _index_parameter(request.query_params.get("index"))
            if index == 0 and self.empty_index_zero:
                # [I] One public GWS implementation answers index=0 with no messages at all, although A.5
                # says 0 means "all": a client must ask for index=1 to read the whole transcript.
                return JSONResponse({"messages": [], "statusCode": OK})
            messages = self.core.read_messages(chat_id, index)
            return JSONResponse({"messages": [m.as_json() for m in messages], "statusCode": OK})
        params = _json_object(body)
        operation = params.get("operationName")
        if operation is None:
            raise GWSError(MISSING_PARAMETER, "required parameter missing: operationName")
        if kind == "RequestChat":
            if operation != "RequestChat":
                raise GWSError(INVALID_INPUT, f"unknown operationName for /api/v2/chats/: {operation!r}")
            chat = self.core.request_chat(params)
            return JSONResponse({"id": chat.id, "statusCode": OK, "path": f"/api/v2/chats/{chat.id}"})
        assert chat_id is not None
        self.core.perform(chat_id, params)
        return JSONResponse({"statusCode": OK})

    def _check_headers(self, headers: Headers) -> None:
        # GWS's docs: no Authorization header on any customer chat request, and ContactCenterId on every
        # one. [I] The real server's answers are not documented; these use the A.6 codes that fit.
        if "authorization" in headers:
            raise GWSError(
                NO_PERMISSION, "the customer chat API must be called without an Authorization header"
            )
        given = headers.get("contactcenterid")
        if given is None:
            raise GWSError(NOT_AUTHENTICATED, "the ContactCenterId header is required")
        if given != self.contact_center_id:
            raise GWSError(NO_PERMISSION, f"unknown contact center: {given}")

    def _record(
        self, request: Request, body: bytes, parsed: Any, operation: str | None, chat_id: str | None
    ) -> RecordedRequest | None:
        self.requests_by_operation[operation or "unknown"] += 1
        if chat_id is not None:
            self.requests_by_chat.setdefault(chat_id, Counter())[operation or "unknown"] += 1
        if not self.record_requests:
            return None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=request.headers,
                json=parsed,
                body=body,
                operation=operation,
                chat_id=chat_id,
                at=time.monotonic(),
            )
        )
        return self.requests[-1]

    # --- the control API for another process ----------------------------------------------------------

    async def _control_chat(self, request: Request) -> Response:
        chat_id, action = request.path_params["chat_id"], request.path_params["action"]
        body = await request.body()
        params = json.loads(body) if body else {}
        if not isinstance(params, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        try:
            if action == "join":
                index: int | None = self.agent_join(chat_id, params.get("nickname", "Kristi Sippola"))
            elif action == "say":
                index = self.agent_say(chat_id, params["text"])
            elif action == "typing":
                index = self.agent_typing(chat_id, params.get("active", True))
            elif action == "leave":
                index = self.agent_leave(chat_id)
            elif action == "drop":
                self.drop_chat(chat_id)
                index = None
            else:
                return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        except ControlError as error:
            return JSONResponse({"error": str(error)}, status_code=error.http_status)
        return JSONResponse({"index": index})

    async def _control_faults(self, request: Request) -> Response:
        params = await request.json()
        kind, n = params.get("kind"), params.get("n", 1)
        if kind == "fail":
            self.fail_next(n, params.get("status", 500))
        elif kind == "rate_limit":
            self.rate_limit_next(n, params.get("retry_after", 2))
        elif kind == "refuse":
            self.refuse_next(n, params.get("status_code", INTERNAL_ERROR))
        elif kind == "delay":
            self.delay(params.get("seconds", 0))
        else:
            return JSONResponse({"error": f"unknown fault kind {kind!r}"}, status_code=400)
        return JSONResponse({"ok": True})

    async def _control_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.agent_script is None:
            yield
            return
        async with self.agent_script.running(self):
            yield


def _describe(method: str, path: str, body: bytes) -> tuple[Any, str | None, str | None]:
    """Best-effort (parsed body, operation, chat id) of any request, for the record and the counters."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    try:
        kind, chat_id = route(method, path)
    except GWSError:
        return parsed, None, None
    if kind == "ChatOperation":
        name = parsed.get("operationName") if isinstance(parsed, dict) else None
        return parsed, name if isinstance(name, str) else None, chat_id
    return parsed, kind, chat_id


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body)
    except ValueError:
        raise GWSError(INVALID_INPUT, "the request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise GWSError(INVALID_INPUT, "the request body must be a JSON object")
    return params


def _index_parameter(raw: str | None) -> int | None:
    # A.5: index is optional; 0 means all, N the first entry to return.
    if raw is None:
        return None
    if not re.fullmatch("[0-9]+", raw):  # not isdigit(): it accepts "²", which int() refuses
        raise GWSError(INVALID_INPUT, f"index must be a non-negative integer, not {raw!r}")
    return int(raw)


def _chat_summary(chat: Chat) -> dict[str, Any]:
    return {
        "state": chat.state,
        "nickname": chat.nickname,
        "subject": chat.subject,
        "endpoint": chat.endpoint,
        "userData": chat.user_data,
        "completed": chat.completed,
        "messages": len(chat.messages),
        "read_cursor": chat.read_cursor,
        "customer_texts": chat.customer_texts,
        "agent_texts": [vars(t) for t in chat.agent_texts],
        "requests_after_complete": chat.requests_after_complete,
    }


# --- standalone mode ------------------------------------------------------------------------------------


@dataclass
class AgentScript:
    """An in-process agent: joins each new chat after ``join_after`` seconds, then writes a reply every
    uniformly random ``reply_every`` seconds until the chat is over, recording when each reply was written.

    Like a person, it types before each reply: TypingStarted a uniformly random ``typing`` seconds before
    the Text ((0, 0) for an agent who pastes canned answers without typing).
    """

    join_after: float = 1.0
    reply_every: tuple[float, float] = (5.0, 30.0)
    typing: tuple[float, float] = (2.0, 6.0)
    nickname: str = "Kristi Sippola"
    rng: random.Random = field(default_factory=random.Random)
    replies: list[dict[str, Any]] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def running(self, fake: FakeGWS) -> AsyncIterator[None]:
        tasks: set[asyncio.Task[None]] = set()

        def on_new_chat(chat: Chat) -> None:
            task = asyncio.get_running_loop().create_task(self._attend(fake, chat.id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        fake.core.chat_listeners.append(on_new_chat)
        try:
            yield
        finally:
            fake.core.chat_listeners.remove(on_new_chat)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _attend(self, fake: FakeGWS, chat_id: str) -> None:
        await asyncio.sleep(self.join_after)
        try:
            fake.agent_join(chat_id, self.nickname)
            for n in itertools.count(1):
                interval = self.rng.uniform(*self.reply_every)
                typing = min(self.rng.uniform(*self.typing), interval)
                await asyncio.sleep(interval - typing)
                if typing > 0:
                    fake.agent_typing(chat_id, True)
                    await asyncio.sleep(typing)
                text = f"Reply {n} from {self.nickname}"
                index = fake.agent_say(chat_id, text)
                written = fake.chats[chat_id].agent_texts[-1]
                self.replies.append(
                    {"chat_id": chat_id, "index": index, "text": text}
                    | {"written_at": written.written_at, "written_at_wall": written.written_at_wall}
                )
        except ControlError:
            return  # the chat is over (completed, dropped, or the agent was made to leave)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake GWS v2 Customer Chat server (see tests/fakes/gws.py).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--contact-center-id", default=DEFAULT_CONTACT_CENTER_ID)
    parser.add_argument("--optional-subject", action="store_true", help="accept RequestChat without subject")
    parser.add_argument("--record-requests", action="store_true", help="keep every request (memory grows)")
    parser.add_argument("--agent-script", action="store_true", help="run an in-process scripted agent")
    parser.add_argument("--join-after", type=float, default=1.0, help="agent joins after this many seconds")
    parser.add_argument("--reply-min", type=float, default=5.0, help="shortest gap between agent replies")
    parser.add_argument("--reply-max", type=float, default=30.0, help="longest gap between agent replies")
    parser.add_argument("--typing-min", type=float, default=2.0, help="shortest typing before a reply")
    parser.add_argument("--typing-max", type=float, default=6.0, help="longest typing (0 0: no typing)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the reply gaps")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    fake = FakeGWS(
        args.contact_center_id,
        require_subject=not args.optional_subject,
        record_requests=args.record_requests,
    )
    if args.agent_script:
        fake.agent_script = AgentScript(
            join_after=args.join_after,
            reply_every=(args.reply_min, args.reply_max),
            typing=(args.typing_min, args.typing_max),
            rng=random.Random(args.seed),
        )
    # httptools when installed: the fake must not be the bottleneck of a benchmark against it.
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level, http=http, lifespan="on")


if __name__ == "__main__":
    main()
