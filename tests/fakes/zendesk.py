"""A fake Zendesk Chat REST API (the Chats resource) that follows the vendor's documentation.

Sources: Zendesk Chat's REST API documentation, "Chats" ("Create Chat", "Show Chat", the offline
message model); comments cite its points as "C.n". Where it is silent
the choice is marked [I] (inferred) and kept plain, so that a test depending on it is easy to spot.

Only the calls widget_server makes are served: the Zendesk outbox forwards offline messages with Create
Chat and may read them back with Show Chat.

- ``POST /api/v2/chat/chats``: "Lets an agent create an offline message. In addition to a visitor,
  message, and type value, you must specify a session and a timestamp value for the new chat. Note: The API
  only supports creating offline messages." Answered ``201 Created`` with the offline message object
  exactly as the seed's example response lays it out.
- ``GET /api/v2/chat/chats/{chat_id}``: ``200`` with the chat object, bare (no envelope), as in the seed.

On every request: ``Authorization: Bearer {token}`` (C.2), else 401; at most ``rate_limit`` requests in
any ``rate_window`` seconds, 200 per 60 by default (C.3), else 429 with ``Retry-After`` in seconds.

Error bodies. Neither source gives the Chat API's error body (C.3: "Exact Chat 429 body: not found").
[I] They use the envelope of Zendesk's other REST APIs, ``{"error": <label>, "description": <sentence>}``,
and for a refused body also ``details``, which maps a field path to a list of
``{"error": <code>, "description": <sentence>}`` (the shape of Zendesk's "RecordInvalid" answers). The
status of a refused body is 400 [I] (Zendesk's ticketing API uses 422; the Chat pages name only 400).
A client should decide on the status (and ``Retry-After``), never on these labels.

Validation of Create Chat, stricter than the real service on purpose:

- ``type`` must be ``"offline_msg"``; ``"chat"`` is refused (the seed's Note).
- Required: ``visitor`` (object), ``message`` (non-blank string [I]), ``type``, ``session`` (object),
  ``timestamp``. Optional: ``department_id`` (integer), ``unread`` (boolean).
- ``timestamp``: an integer of Unix seconds, as in the seed's request example (``1444156010``), or an
  ISO 8601 string as every response renders it [I]; a string without a zone is UTC [I]. Answers render it
  ``"2014-10-09T05:28:35Z"``.
- ``visitor``: ``name`` and ``email`` required, ``phone``, ``notes``, ``id`` optional, all strings [I];
  the answer fills ``phone`` and ``notes`` with ``""`` and makes up an ``id`` like ``"1.12345"`` [I].
  Email syntax is not checked [I]: not documented, and the seed's own example address is mangled.
- ``session``: the eleven keys of the seed's model (browser, city, country_code, country_name,
  end_date, id, ip, platform, region, start_date, user_agent), all optional strings [I];
  ``start_date`` and ``end_date`` must be ISO 8601. ``ip`` is not checked: the seed's own request
  example sends ``"67.32.299.96"``.
- Unknown or misspelled fields, at the top level, in ``visitor`` and in ``session``, are refused, and
  so are the server-assigned ones (``id``, ``department_name``, ``started_by``, ``webpath``,
  ``zendesk_ticket_id``). [I] The real service probably ignores unknown fields (a third-party script
  sent ``end_timestamp`` and odd session keys and got no error); refusing them here catches our typos
  that Zendesk would silently drop. Every problem of a body is reported at once in ``details``.
- ``department_id``: any integer, or, when the fake is given ``departments``, one of their ids; the
  answer's ``department_name`` is that department's name, else null.
- The body must be sent as ``application/json`` [I: the seed's curl sample sends that header].

Test controls (call them from the event loop that serves ``app``): ``created``, ``chats``,
``requests``, ``fail_next``, ``rate_limit_next``, ``down``, ``delay``.
"""

from __future__ import annotations

import hmac
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http import wait_unless_disconnected
from widget_server.history.search import QueryError, SearchDoc, parse_query

DEFAULT_TOKEN = "zendesk-chat-test-token"
RATE_LIMIT = 200  # C.3: "the REST API rate limit of 200 requests per minute"
RATE_WINDOW = 60.0

CHATS_PATH = "/api/v2/chat/chats"
_CHAT_PATH = re.compile(r"/api/v2/chat/chats/(?P<id>[^/]+)/?")

# Seed 003, "JSON Format for Offline Messages" and "Create Chat".
REQUIRED_FIELDS = ("visitor", "message", "type", "session", "timestamp")
OPTIONAL_FIELDS = ("department_id", "unread")
SERVER_ASSIGNED_FIELDS = ("id", "department_name", "started_by", "webpath", "zendesk_ticket_id")
VISITOR_REQUIRED = ("name", "email")
VISITOR_OPTIONAL = ("phone", "notes", "id")
SESSION_FIELDS = (
    "browser",
    "city",
    "country_code",
    "country_name",
    "end_date",
    "id",
    "ip",
    "platform",
    "region",
    "start_date",
    "user_agent",
)
_SESSION_DATES = ("start_date", "end_date")

Details = dict[str, list[dict[str, str]]]


class ZendeskError(Exception):
    """An answer in the error envelope described in the module docstring."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        details: Details | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.details is not None:
            out["details"] = self.details
        return out

    def response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Headers  # case-insensitive: r.headers.get("authorization")
    json: Any  # the parsed body; None when there was none or it was not JSON
    body: bytes
    at: float  # the fake's clock (time.monotonic() unless another clock was given)


def iso(moment: datetime) -> str:
    """The API's rendering of a time: ``2014-10-09T05:28:35Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Create Chat, as a pure function ------------------------------------------------------------------


def _problem(details: Details, path: str, code: str, description: str) -> None:
    details.setdefault(path, []).append({"error": code, "description": description})


def _check_keys(
    details: Details,
    obj: Mapping[str, Any],
    prefix: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    server_assigned: tuple[str, ...] = (),
) -> None:
    for key in required:
        if key not in obj:
            _problem(details, prefix + key, "Missing", f"{prefix + key} is required")
    for key in obj:
        if key in server_assigned:
            _problem(
                details, prefix + key, "ReadOnly", f"{prefix + key} is set by Zendesk, not by the client"
            )
        elif key not in required and key not in optional:
            _problem(
                details, prefix + key, "UnknownField", f"{prefix + key} is not a field of an offline message"
            )


def _check_string(details: Details, obj: Mapping[str, Any], key: str, prefix: str = "") -> None:
    if key in obj and not isinstance(obj[key], str):
        _problem(details, prefix + key, "InvalidType", f"{prefix + key} must be a string")


def _parse_time(value: str) -> datetime | None:
    """An ISO 8601 time in UTC (no zone: UTC), or None when it is not one."""
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None


def _timestamp(details: Details, value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            _problem(details, "timestamp", "InvalidValue", f"timestamp {value} is out of range")
            return None
    if isinstance(value, str):
        moment = _parse_time(value)
        if moment is None:
            _problem(details, "timestamp", "InvalidValue", f"timestamp {value!r} is not an ISO 8601 time")
        return moment
    _problem(
        details, "timestamp", "InvalidType", "timestamp must be Unix seconds (integer) or ISO 8601 (string)"
    )
    return None


def check_offline_message(body: Any, departments: Mapping[int, str] | None = None) -> Details:
    """Every problem of a Create Chat body, by field path; empty when the body is acceptable."""
    details: Details = {}
    if not isinstance(body, dict):
        _problem(details, "base", "InvalidType", "the body must be a JSON object")
        return details
    _check_keys(details, body, "", REQUIRED_FIELDS, OPTIONAL_FIELDS, SERVER_ASSIGNED_FIELDS)
    if "type" in body and body["type"] != "offline_msg":
        _problem(
            details,
            "type",
            "InvalidValue",
            f'type must be "offline_msg", not {body["type"]!r}: '
            "the API only supports creating offline messages",
        )
    if "message" in body:
        if not isinstance(body["message"], str):
            _problem(details, "message", "InvalidType", "message must be a string")
        elif not body["message"].strip():
            _problem(details, "message", "BlankValue", "message cannot be blank")
    if "timestamp" in body:
        _timestamp(details, body["timestamp"])
    department = body.get("department_id")
    if "department_id" in body:
        if not isinstance(department, int) or isinstance(department, bool):
            _problem(details, "department_id", "InvalidType", "department_id must be an integer")
        elif departments is not None and department not in departments:
            _problem(details, "department_id", "InvalidValue", f"there is no department {department}")
    if "unread" in body and not isinstance(body["unread"], bool):
        _problem(details, "unread", "InvalidType", "unread must be a boolean")
    visitor = body.get("visitor")
    if "visitor" in body:
        if isinstance(visitor, dict):
            _check_keys(details, visitor, "visitor.", VISITOR_REQUIRED, VISITOR_OPTIONAL)
            for key in VISITOR_REQUIRED + VISITOR_OPTIONAL:
                _check_string(details, visitor, key, "visitor.")
        else:
            _problem(details, "visitor", "InvalidType", "visitor must be an object")
    session = body.get("session")
    if "session" in body:
        if isinstance(session, dict):
            _check_keys(details, session, "session.", (), SESSION_FIELDS)
            for key in SESSION_FIELDS:
                _check_string(details, session, key, "session.")
            for key in _SESSION_DATES:
                value = session.get(key)
                if isinstance(value, str) and _parse_time(value) is None:
                    _problem(
                        details, f"session.{key}", "InvalidValue", f"session.{key} is not an ISO 8601 time"
                    )
        else:
            _problem(details, "session", "InvalidType", "session must be an object")
    return details


def offline_message(
    body: Mapping[str, Any], chat_id: str, visitor_id: str, departments: Mapping[int, str] | None
) -> dict[str, Any]:
    """The created object for a body ``check_offline_message`` accepted; keys as in the seed's 201 example."""
    timestamp = _timestamp({}, body["timestamp"])
    assert timestamp is not None
    visitor = body["visitor"]
    department_id = body.get("department_id")
    return {
        "department_id": department_id,
        "department_name": (departments or {}).get(department_id) if department_id is not None else None,
        "id": chat_id,
        "message": body["message"],
        "session": dict(body["session"]),
        "started_by": "visitor",
        "timestamp": iso(timestamp),
        "type": "offline_msg",
        "unread": body.get("unread", False),  # the seed's example answers false
        "visitor": {
            "email": visitor["email"],
            "id": visitor.get("id", visitor_id),
            "name": visitor["name"],
            "notes": visitor.get("notes", ""),
            "phone": visitor.get("phone", ""),
        },
        "webpath": [],
        "zendesk_ticket_id": None,
    }


# --- the server -----------------------------------------------------------------------------------------


class FakeZendesk:
    """The fake server. ``app`` is the ASGI app; everything else is for the test driving it.

    ``token`` is the bearer token it expects. ``rate_limit`` requests are admitted in any ``rate_window``
    seconds (a sliding window over admitted requests, measured with ``clock``); the next one gets 429 with
    ``Retry-After`` = whole seconds until a slot frees, at least 1. [I] The window's exact form is not
    documented; only authenticated requests count (Zendesk limits per account).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        rate_limit: int = RATE_LIMIT,
        rate_window: float = RATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        departments: Mapping[int, str] | None = None,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.clock = clock
        self.departments = dict(departments) if departments is not None else None
        self.created: list[dict[str, Any]] = []  # offline messages created, in order
        self.chats: dict[str, dict[str, Any]] = {}  # by id, for Show Chat
        self.requests: list[RecordedRequest] = []  # every request, refused ones included
        self._admitted: deque[float] = deque()  # clock() of the admitted requests in the window
        self._faults: deque[ZendeskError] = deque()
        self._down = False
        self._delay = 0.0
        self._lose_answers = 0
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/{path:path}", self._api, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
            ]
        )

    # --- test controls --------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next n requests get this status with an error body, and have no effect."""
        for _ in range(n):
            self._faults.append(
                ZendeskError(status, "InternalServerError", "request failed (injected by the test)")
            )

    def rate_limit_next(self, n: int = 1, retry_after: int = 1) -> None:
        """The next n requests get 429 with ``Retry-After: retry_after``, and have no effect."""
        for _ in range(n):
            self._faults.append(_too_many_requests(retry_after, "rate limit exceeded (injected by the test)"))

    def down(self, is_down: bool = True) -> None:
        """While down, every request (authenticated or not) gets 503 and has no effect."""
        self._down = is_down

    def lose_answers(self, n: int = 1) -> None:
        """The next n creates are carried out, but their answers are held until the client gives up:
        the request arrived although the client saw only a timeout (the case "nothing twice" is about)."""
        self._lose_answers += n

    def delay(self, seconds: float) -> None:
        """Every request waits this long before it is answered (0 turns it off).

        A request whose client gives up during the wait is never processed, so a timed-out request has
        had no effect. [I] (Against the real service a timed-out create may or may not have happened.)
        """
        self._delay = max(0.0, seconds)

    # --- the API --------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        body = await request.body()
        self._record(request, body)
        if self._down:
            return ZendeskError(
                503, "ServiceUnavailable", "Zendesk Chat is down (set by the test)"
            ).response()
        if self._delay and not await wait_unless_disconnected(request, self._delay):
            return Response(status_code=499)  # nobody is listening; the request had no effect
        if self._faults:
            return self._faults.popleft().response()
        try:
            self._authenticate(request.headers)
            self._admit()
            answer = self._answer(request, body)
        except ZendeskError as error:
            return error.response()
        if self._lose_answers and request.method == "POST" and answer.status_code == 201:
            self._lose_answers -= 1
            await wait_unless_disconnected(request, 3600)
        return answer

    def _answer(self, request: Request, body: bytes) -> Response:
        path, method = request.url.path, request.method
        if path in (CHATS_PATH, CHATS_PATH + "/"):
            if method == "POST":
                return self._create(request.headers, body)
            # [I] List Chats and Bulk Delete exist (Zendesk's docs) but widget_server does not call them.
            raise ZendeskError(405, "MethodNotAllowed", f"this fake does not serve {method} {CHATS_PATH}")
        if path == CHATS_PATH + "/search" and method == "GET":
            return self._search(request)
        match = _CHAT_PATH.fullmatch(path)
        if match is None or match["id"] == "search":
            raise ZendeskError(404, "InvalidEndpoint", "Not found")
        if method in ("GET", "HEAD"):
            chat = self.chats.get(match["id"])
            if chat is None:
                raise ZendeskError(404, "RecordNotFound", "Not found")
            return JSONResponse(chat)
        raise ZendeskError(405, "MethodNotAllowed", f"this fake does not serve {method} on a chat")

    def _create(self, headers: Headers, raw: bytes) -> Response:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ZendeskError(
                400, "InvalidRequest", "the body must be sent as Content-Type: application/json"
            )
        try:
            body = json.loads(raw)
        except ValueError:
            raise ZendeskError(400, "InvalidRequest", "the body is not valid JSON") from None
        details = check_offline_message(body, self.departments)
        if details:
            first = next(iter(details.values()))[0]["description"]
            raise ZendeskError(400, "RecordInvalid", f"Record validation errors: {first}", details=details)
        n = next(self._ids)
        chat = offline_message(body, str(n), f"1.{10000 + n}", self.departments)
        self.chats[chat["id"]] = chat
        self.created.append(chat)
        return JSONResponse(chat, status_code=201)

    def _search(self, request: Request) -> Response:
        """Search Chats over the offline messages created here (the only chats this fake has).

        [I] The query language is the one Zendesk Chat documents; the fake borrows widget_server's parser of
        it (widget_server/history/search.py, tested against the seed on its own) rather than writing a
        second one. Results are shaped as the seed's example; one page.
        """
        try:
            query = parse_query(request.query_params.get("q", ""))
        except QueryError as error:
            raise ZendeskError(400, "InvalidRequest", error.message) from None
        results = []
        for chat in self.created:
            doc = SearchDoc(
                agent_names=(),
                visitor_name=chat["visitor"]["name"],
                visitor_email=chat["visitor"]["email"],
                timestamp=datetime.strptime(chat["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                end_timestamp=None,
                chat_type="offline_msg",
                rating=None,
                text=chat["message"],
            )
            if query.matches(doc):
                results.append(
                    {
                        "id": chat["id"],
                        "preview": chat["message"][:100],
                        "timestamp": chat["timestamp"],
                        "type": "offline_msg",
                        "url": f"{request.base_url}api/v2/chat/chats/{chat['id']}",
                    }
                )
        return JSONResponse({"count": len(results), "next_url": None, "prev_url": None, "results": results})

    def _authenticate(self, headers: Headers) -> None:
        # C.2: "Authorization: Bearer {token}". The scheme is case-insensitive (RFC 6750 / RFC 9110).
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            raise ZendeskError(
                401, "Unauthorized", "Couldn't authenticate you", headers={"WWW-Authenticate": "Bearer"}
            )

    def _admit(self) -> None:
        now = self.clock()
        while self._admitted and self._admitted[0] <= now - self.rate_window:
            self._admitted.popleft()
        if len(self._admitted) >= self.rate_limit:
            wait = self._admitted[0] + self.rate_window - now
            raise _too_many_requests(
                max(1, math.ceil(wait)),
                f"rate limit of {self.rate_limit} requests per {self.rate_window:g} seconds exceeded",
            )
        self._admitted.append(now)

    def _record(self, request: Request, body: bytes) -> None:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=request.headers,
                json=parsed,
                body=body,
                at=self.clock(),
            )
        )


def _too_many_requests(retry_after: int, description: str) -> ZendeskError:
    # C.3: "HTTP 429 and a body that details the reason", Retry-After in seconds.
    return ZendeskError(429, "TooManyRequests", description, headers={"Retry-After": str(retry_after)})
