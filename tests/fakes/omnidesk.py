"""A fake Omnidesk "Chat" controller (API v2) and its hookpoint, following the vendor's documentation.

Sources: Omnidesk's API documentation, "Chat" (the nine endpoints, their fields, lengths and patterns),
and its chat integration guide ("D.n" below: the session model and the hookpoint). Where the two
differ, the API reference wins: it names
addAttachment's query parameters and its body field ``file``, and requestChatQueue's ``chatAccountToken``.
Where both are silent the choice is marked [I] (inferred) and is an option or a module-level constant.

Layers, pure cores, thin edges:

- ``ENDPOINTS``: the documented fields of every endpoint as data, and ``validate`` over them.
- ``OmnideskCore``: chat sessions, tickets, what was received, the account's policy and queue; no I/O.
- ``FakeOmnidesk``: a thin Starlette app: ``apiKey`` auth, multipart parsing, fault injection, the
  request log, and the agent's side (``agent_reply`` POSTs to ``{chatServer}/messageForCustomer``).
  A JSON control API under ``/_fake/`` serves other processes::

      python -m tests.fakes.omnidesk --port 8091
"""

from __future__ import annotations

import argparse
import base64
import binascii
import ipaddress
import itertools
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.http import json_params, wait_unless_disconnected

API_BASE = "/api/v2/chat/"  # D.1
DEFAULT_API_KEY = "omnidesk-test-key"
DEFAULT_CHAT_ACCOUNT_TOKEN = "a1b2c3d4e5f6a7b8"  # the one in Omnidesk's example
DEFAULT_CHANNEL_ID = 8  # D.3: "use 8 for live chat"
PERMISSION = "API_CHAT"  # Omnidesk's documentation: "All endpoints require the API_CHAT permission"
FIRST_TICKET_ID = 12312  # the integration guide's example ticketID
EVENTS = ("startedtyping", "stoppedtyping", "expandedchat", "minimizedchat")  # Omnidesk's documentation

# --- responses ------------------------------------------------------------------------------------------
# D.1: success is {"type": "result", "message": ...}; an error is HTTP 400
# {"status": "error", "message": ...}.
# D.2 [C]: notifyUserNewChatMessage answers {"type": "result", "message": "Message sent.", "ticketID": 12312}.
# [I] Every other body is not documented. They follow the one that is: "type" and "message", and the data
# in keys beside them. The adapter reads these keys; the shapes are spelled out here once.
RESULT = "result"
MESSAGE_SENT = "Message sent."  # [C]
TICKET_ID_KEY = "ticketID"  # [C]
CONFIG_KEY = "config"  # [I]
WHITELIST_KEY = "whitelistedDomains"  # [I]
BLACKLIST_KEY = "blacklistedIPs"  # [I]
ALLOWED_KEY, ORIGIN_ALLOWED_KEY, IP_ALLOWED_KEY = "allowed", "originAllowed", "ipAllowed"  # [I]
QUEUE_KEY = "queue"  # [I] a list of {"chatSessionID": ..., "position": n}, 1 = next to be answered
DEFAULT_CHAT_CONFIG = {"online": True, "channelID": DEFAULT_CHANNEL_ID}  # [I] the config's content

CONFIG_RESPONSE_EXAMPLE = {"type": RESULT, "message": "Chat config.", CONFIG_KEY: DEFAULT_CHAT_CONFIG}
POLICY_RESPONSE_EXAMPLE = {
    "type": RESULT,
    "message": "Whitelisted domains and blacklisted IPs.",
    WHITELIST_KEY: ["acme.example", "*.acme.example"],
    BLACKLIST_KEY: ["198.51.100.0/24", "2001:db8::1"],
}
ORIGIN_CHECK_RESPONSE_EXAMPLE = {
    "type": RESULT,
    "message": "Origin and IP allowed.",
    ALLOWED_KEY: True,
    ORIGIN_ALLOWED_KEY: True,
    IP_ALLOWED_KEY: True,
}
QUEUE_RESPONSE_EXAMPLE = {
    "type": RESULT,
    "message": "Chat queue.",
    QUEUE_KEY: [{"chatSessionID": "s", "position": 1}],
}
SUCCESS_MESSAGES = {  # [I] except notifyUserNewChatMessage's
    "notifyUserNewChatMessage": MESSAGE_SENT,
    "notifyUserNewChatEvent": "Event sent.",
    "notifyUserVisited": "Visit sent.",
    "notifyUserEndChat": "Chat ended.",
    "addAttachment": "Attachment added.",
}

# --- the hookpoint (D.4) --------------------------------------------------------------------------------
HOOK_PATH = "/messageForCustomer"  # [C] POST {chatServer}/messageForCustomer
HOOK_ANSWER = "ok"  # [C] the hookpoint answers the text "ok"
# [I] The payload's field names were not readable in the docs (D.4). These are the defaults the server's
# hookpoint reads too, and ``hook_fields`` maps them otherwise.
DEFAULT_HOOK_FIELDS = {"chat_session_id": "chatSessionID", "message": "message", "agent_name": "agentName"}
HOOK_FORMATS = ("multipart", "urlencoded", "json")  # [I] multipart, as the API itself, by default


class OmnideskError(Exception):
    """An error answer: HTTP 400 ``{"status": "error", "message": ...}`` (D.1) unless said otherwise."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status

    def response(self) -> JSONResponse:
        return JSONResponse({"status": "error", "message": self.message}, status_code=self.http_status)


class ControlError(Exception):
    """A test drove the agent's side wrongly (unknown session, no chatServer, ...)."""

    def __init__(self, message: str, http_status: int = 409) -> None:
        super().__init__(message)
        self.http_status = http_status


# --- the documented fields (Omnidesk's documentation) ---------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # [I] "string · email" gives no grammar


@dataclass(frozen=True)
class FieldRule:
    """One documented field. ``min_length``/``max_length`` are lengths; ``number`` is (min, max) of a
    number field; ``pattern`` is matched against the whole value. [I] An optional field that is sent
    must satisfy its rule even when empty: the documented minimum lengths leave no room for "".
    The error texts are [I]; only their shape is documented."""

    name: str
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    number: tuple[int, int | None] | None = None
    email: bool = False
    choices: tuple[str, ...] | None = None

    def parse(self, raw: str | None) -> str | int | None:
        if raw is None:
            if self.required:
                raise OmnideskError(f"{self.name} is required.")
            return None
        if self.number is not None:
            if not re.fullmatch(r"[0-9]+", raw):
                raise OmnideskError(f"{self.name} must be a number.")
            value, (low, high) = int(raw), self.number
            if value < low or (high is not None and value > high):
                bound = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise OmnideskError(f"{self.name} must be {bound}.")
            return value
        if self.min_length is not None and len(raw) < self.min_length:
            raise OmnideskError(f"{self.name} must be at least {self.min_length} characters long.")
        if self.max_length is not None and len(raw) > self.max_length:
            raise OmnideskError(f"{self.name} must be at most {self.max_length} characters long.")
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise OmnideskError(f"{self.name} does not match the pattern ^{self.pattern}$.")
        if self.email and not _EMAIL.fullmatch(raw):
            raise OmnideskError(f"{self.name} must be a valid email address.")
        if self.choices is not None and raw not in self.choices:
            raise OmnideskError(f"{self.name} must be one of: {', '.join(self.choices)}.")
        return raw


CHAT_SERVER = FieldRule("chatServer", required=True, min_length=5, pattern=r"[a-zA-Z0-9\.\:\/\-]+")
CHAT_ACCOUNT_TOKEN = FieldRule("chatAccountToken", required=True, min_length=10, pattern=r"[a-zA-Z0-9]+")
# The seed gives chatSessionID three ways: notifyUserNewChatMessage 10-65 with an optional "+", addAttachment
# min 10 with "+", the other session endpoints min 10 without "+". A "+" session (a phone number) can send
# messages and files but no event, visit or end; an adapter's ids should be 10-65 of [a-zA-Z0-9-].
SESSION_FOR_MESSAGE = FieldRule(
    "chatSessionID", required=True, min_length=10, max_length=65, pattern=r"\+?[a-zA-Z0-9\-]+"
)
SESSION_FOR_ATTACHMENT = FieldRule(
    "chatSessionID", required=True, min_length=10, pattern=r"\+?[a-zA-Z0-9\-]+"
)
SESSION = FieldRule("chatSessionID", required=True, min_length=10, pattern=r"[a-zA-Z0-9\-]+")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    body: tuple[FieldRule, ...] = ()
    query: tuple[FieldRule, ...] = ()
    file_field: str | None = None


ENDPOINTS = {
    e.name: e
    for e in (
        Endpoint("requestChatConfig", "POST", (CHAT_SERVER, CHAT_ACCOUNT_TOKEN)),
        Endpoint(
            "notifyUserNewChatMessage",
            "POST",
            (
                CHAT_SERVER,
                SESSION_FOR_MESSAGE,
                CHAT_ACCOUNT_TOKEN,
                FieldRule("channelID", number=(1, None)),
                FieldRule("message", required=True, min_length=1),
                FieldRule("url", min_length=1),
                FieldRule("messageNumber", number=(1, 50)),
                FieldRule("usedPredefinedUserInput", min_length=1),
                FieldRule("additionalData", min_length=1),
                FieldRule("externalAddressOverwrite", min_length=1),
                FieldRule("customerName", pattern=r"[a-zA-Z 0-9]+"),
                FieldRule("emailAddress", email=True),
                FieldRule("phoneNumber", pattern=r"\+[0-9]+"),
            ),
        ),
        Endpoint(
            "notifyUserNewChatEvent",
            "POST",
            (CHAT_SERVER, SESSION, FieldRule("event", required=True, choices=EVENTS)),
        ),
        Endpoint(
            "notifyUserVisited", "POST", (CHAT_SERVER, SESSION, FieldRule("url", required=True, min_length=4))
        ),
        Endpoint("notifyUserEndChat", "POST", (CHAT_SERVER, SESSION)),
        Endpoint(
            "addAttachment",
            "POST",
            query=(
                CHAT_SERVER,
                SESSION_FOR_ATTACHMENT,
                CHAT_ACCOUNT_TOKEN,
                FieldRule("phoneNumber", pattern=r"\+?[0-9]+"),
                FieldRule("messageNumber", number=(1, None)),  # [I] no bounds documented; at least 1
            ),
            file_field="file",
        ),
        Endpoint(
            "checkOriginAndIP",
            "POST",
            (
                CHAT_SERVER,
                CHAT_ACCOUNT_TOKEN,
                FieldRule("origin", required=True, min_length=1, pattern=r"[a-zA-Z0-9\.\-]+"),
                FieldRule("ip", required=True, min_length=5),
            ),
        ),
        Endpoint("whitelistedDomainsAndBlacklistedIPs", "GET"),
        Endpoint("requestChatQueue", "POST", (CHAT_ACCOUNT_TOKEN,)),
    )
}


def validate(rules: Iterable[FieldRule], values: Mapping[str, str]) -> dict[str, Any]:
    """The parsed values of the documented fields (absent optional ones as None); the first bad field
    raises ``OmnideskError``. Undocumented fields are ignored."""
    return {rule.name: rule.parse(values.get(rule.name)) for rule in rules}


# --- state ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    text: str
    message_number: int | None  # as sent; the documented default is 1
    ticket_id: int
    channel_id: int  # as sent, or the default 8
    fields: dict[str, Any]  # every documented field as parsed (None: not sent)


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content: bytes
    content_type: str | None
    message_number: int | None
    ticket_id: int | None
    sent_as: str  # "file" (a multipart file part) or "base64" (a text field, OpenAPI "string · byte")


@dataclass(frozen=True)
class HookCall:
    """One POST to the hookpoint: what was sent and what came back."""

    url: str
    format: str
    payload: dict[str, str]
    status: int | None
    answer: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200 and (self.answer or "").strip() == HOOK_ANSWER


@dataclass
class Session:
    id: str
    chat_server: str | None = None
    ticket_ids: list[int] = field(default_factory=list)
    messages: list[ReceivedMessage] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    visits: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    agent_replies: list[HookCall] = field(default_factory=list)
    ended: bool = False
    ends: int = 0  # how many notifyUserEndChat calls

    @property
    def ticket_id(self) -> int | None:
        return self.ticket_ids[-1] if self.ticket_ids else None

    @property
    def open(self) -> bool:
        return self.ticket_id is not None and not self.ended

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    @property
    def message_numbers(self) -> list[int | None]:
        return [m.message_number for m in self.messages]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class OmnideskCore:
    """One Omnidesk account's chat side. No I/O: every method is a synchronous state change.

    The endpoint methods take the validated fields (see ``validate``) and return the response body; a
    refused request raises ``OmnideskError`` and changes nothing.
    """

    def __init__(
        self,
        chat_account_token: str = DEFAULT_CHAT_ACCOUNT_TOKEN,
        *,
        strict_sessions: bool = False,
        empty_whitelist_allows_all: bool = True,
        refusals_as_errors: bool = False,
        max_attachment_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.chat_account_token = chat_account_token
        # [I] Events, visits and ends for a chatSessionID that has sent no message yet: recorded (False),
        # or refused with 400 "Unknown chatSessionID." (True).
        self.strict_sessions = strict_sessions
        # [I] checkOriginAndIP with no whitelisted domain at all: every origin passes (True) or none.
        self.empty_whitelist_allows_all = empty_whitelist_allows_all
        # [I] A refused origin or IP: 200 with "allowed": false (False), or 400 error (True).
        self.refusals_as_errors = refusals_as_errors
        self.max_attachment_bytes = max_attachment_bytes  # [I] no limit is documented
        self.chat_config: dict[str, Any] = dict(DEFAULT_CHAT_CONFIG)
        self.sessions: dict[str, Session] = {}
        self.domains: list[str] = []
        self.blocked_ips: list[str] = []
        self.queue_overrides: dict[str, int] = {}
        self._ticket_ids = itertools.count(FIRST_TICKET_ID)

    # --- endpoints ------------------------------------------------------------------------------------

    def answer(
        self, endpoint: str, fields: dict[str, Any], upload: Attachment | None = None
    ) -> dict[str, Any]:
        if fields.get("chatAccountToken") not in (None, self.chat_account_token):
            raise OmnideskError("Invalid chatAccountToken.")  # [I] the token names the account (D.3)
        if endpoint == "notifyUserNewChatMessage":
            return self.new_chat_message(fields)
        if endpoint == "addAttachment":
            assert upload is not None
            return self.add_attachment(fields, upload)
        if endpoint in ("notifyUserNewChatEvent", "notifyUserVisited", "notifyUserEndChat"):
            return self.session_notice(endpoint, fields)
        if endpoint == "requestChatConfig":
            return {"type": RESULT, "message": "Chat config.", CONFIG_KEY: dict(self.chat_config)}
        if endpoint == "checkOriginAndIP":
            return self.check_origin_and_ip(fields["origin"], fields["ip"])
        if endpoint == "whitelistedDomainsAndBlacklistedIPs":
            return {
                "type": RESULT,
                "message": "Whitelisted domains and blacklisted IPs.",
                WHITELIST_KEY: list(self.domains),
                BLACKLIST_KEY: list(self.blocked_ips),
            }
        assert endpoint == "requestChatQueue"
        return {"type": RESULT, "message": "Chat queue.", QUEUE_KEY: self.queue()}

    def new_chat_message(self, fields: dict[str, Any]) -> dict[str, Any]:
        """D.3: the first message of a chatSessionID opens a ticket; later ones reach the same ticket.
        [I] After notifyUserEndChat the next message of that id opens a new ticket."""
        session = self.sessions.setdefault(fields["chatSessionID"], Session(fields["chatSessionID"]))
        if not session.open:
            session.ticket_ids.append(next(self._ticket_ids))
            session.ended = False
            self.queue_overrides.pop(session.id, None)
        session.chat_server = fields["chatServer"]
        ticket_id = session.ticket_id
        assert ticket_id is not None
        channel_id = fields["channelID"] if fields["channelID"] is not None else DEFAULT_CHANNEL_ID
        session.messages.append(
            ReceivedMessage(fields["message"], fields["messageNumber"], ticket_id, channel_id, dict(fields))
        )
        return {"type": RESULT, "message": MESSAGE_SENT, TICKET_ID_KEY: ticket_id}

    def session_notice(self, endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
        session = self._session_for_notice(fields["chatSessionID"])
        session.chat_server = fields["chatServer"]
        if endpoint == "notifyUserNewChatEvent":
            session.events.append(fields["event"])
        elif endpoint == "notifyUserVisited":
            session.visits.append(fields["url"])
        else:
            session.ended = True
            session.ends += 1
        return {"type": RESULT, "message": SUCCESS_MESSAGES[endpoint]}

    def add_attachment(self, fields: dict[str, Any], upload: Attachment) -> dict[str, Any]:
        # [I] A file needs the ticket a message opened ("from the customer to the agent", D.2).
        session = self.sessions.get(fields["chatSessionID"])
        if session is None or not session.open:
            raise OmnideskError("Unknown chatSessionID.")
        if len(upload.content) > self.max_attachment_bytes:
            raise OmnideskError("file is too large.")
        session.chat_server = fields["chatServer"]
        session.attachments.append(
            Attachment(
                upload.filename,
                upload.content,
                upload.content_type,
                fields["messageNumber"],
                session.ticket_id,
                upload.sent_as,
            )
        )
        return {"type": RESULT, "message": SUCCESS_MESSAGES["addAttachment"]}

    def check_origin_and_ip(self, origin: str, ip: str) -> dict[str, Any]:
        try:
            address = _ip(ip)
        except ValueError:
            raise OmnideskError("ip is not a valid IP address.") from None  # [I]
        origin_allowed = self.origin_allowed(origin)
        ip_allowed = not any(
            address in ipaddress.ip_network(entry, strict=False)
            for entry in self.blocked_ips
            if ipaddress.ip_network(entry, strict=False).version == address.version
        )
        allowed = origin_allowed and ip_allowed
        if not allowed and self.refusals_as_errors:
            raise OmnideskError("Origin not allowed." if not origin_allowed else "IP not allowed.")
        message = "Origin and IP allowed." if allowed else "Origin or IP not allowed."
        return {
            "type": RESULT,
            "message": message,
            ALLOWED_KEY: allowed,
            ORIGIN_ALLOWED_KEY: origin_allowed,
            IP_ALLOWED_KEY: ip_allowed,
        }

    def origin_allowed(self, hostname: str) -> bool:
        """[I] A whitelisted "acme.example" allows that host only (any case); "*.acme.example" allows its
        subdomains, not the bare domain."""
        if not self.domains:
            return self.empty_whitelist_allows_all
        host = hostname.lower().rstrip(".")
        for entry in (d.lower().rstrip(".") for d in self.domains):
            if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
                return True
            if host == entry:
                return True
        return False

    def queue(self) -> list[dict[str, Any]]:
        """[I] Open sessions that no agent has answered, oldest first, positions 1..n; a position set by
        ``queue_overrides`` wins (and keeps an answered session in the queue)."""
        waiting = [s for s in self.sessions.values() if s.open and not s.agent_replies]
        entries = {s.id: n for n, s in enumerate(waiting, start=1)}
        for session_id, position in self.queue_overrides.items():
            if session_id in self.sessions and self.sessions[session_id].open:
                entries[session_id] = position
        ordered = sorted(entries.items(), key=lambda item: item[1])
        return [{"chatSessionID": session_id, "position": position} for session_id, position in ordered]

    def _session_for_notice(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            if self.strict_sessions:
                raise OmnideskError("Unknown chatSessionID.")
            session = self.sessions[session_id] = Session(session_id)
        return session


# --- HTTP layer -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePart:
    filename: str | None
    content: bytes
    content_type: str | None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    endpoint: str | None  # the Chat-controller endpoint; None if the path is not one
    query: dict[str, str]
    headers: Headers
    form: dict[str, str]  # text fields; file parts appear as "<file NAME>"
    files: dict[str, FilePart]
    status: int
    at: float  # time.monotonic()


class FakeOmnidesk:
    """The fake server. ``app`` is the ASGI app (its URL is the adapter's ``base_url``).

    Test controls are meant to be called from the event loop that serves ``app``; ``agent_reply`` is
    async because it POSTs to our server's hookpoint.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        chat_account_token: str = DEFAULT_CHAT_ACCOUNT_TOKEN,
        *,
        permissions: Iterable[str] = (PERMISSION,),
        auth_error_status: int = 401,
        accept_urlencoded: bool = False,
        hook_format: str = "multipart",
        hook_fields: Mapping[str, str] | None = None,
        hook_extra_fields: Mapping[str, str] | None = None,
        hook_timeout: float = 5.0,
        **core_options: Any,
    ) -> None:
        if hook_format not in HOOK_FORMATS:
            raise ValueError(f"hook_format must be one of {HOOK_FORMATS}")
        self.api_key = api_key
        self.permissions = frozenset(permissions)
        self.auth_error_status = auth_error_status  # [I] not documented; 401, and 403 for a permission
        # D.1: the declared content type is multipart/form-data. [I] Anything else is refused with 400, so
        # an adapter that sends urlencoded forms (aiohttp's default) finds out here.
        self.accept_urlencoded = accept_urlencoded
        self.hook_format = hook_format
        self.hook_fields = dict(DEFAULT_HOOK_FIELDS | dict(hook_fields or {}))
        self.hook_extra_fields = dict(hook_extra_fields or {})
        self.hook_timeout = hook_timeout
        self.core = OmnideskCore(chat_account_token, **core_options)
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Response] = deque()
        self._down = False
        self._delay = 0.0
        self.app = Starlette(
            routes=[
                Route("/_fake/state", self._control_state, methods=["GET"]),
                Route("/_fake/sessions/{session_id}/reply", self._control_reply, methods=["POST"]),
                Route("/_fake/policy", self._control_policy, methods=["POST"]),
                Route("/_fake/queue", self._control_queue, methods=["POST"]),
                Route("/_fake/faults", self._control_faults, methods=["POST"]),
                Route("/{path:path}", self._api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # --- test controls --------------------------------------------------------------------------------

    @property
    def sessions(self) -> dict[str, Session]:
        return self.core.sessions

    async def agent_reply(
        self, chat_session_id: str, text: str, agent_name: str = "Omnidesk Agent"
    ) -> HookCall:
        """The agent answers: POST ``{chatServer}/messageForCustomer`` (D.4) with the session's last
        chatServer, and record what came back (``HookCall.ok``: HTTP 200 and the text "ok").

        [I] A chatServer without a scheme gets https://. No retry when the hookpoint fails.
        """
        session = self.sessions.get(chat_session_id)
        if session is None or session.chat_server is None:
            raise ControlError(f"no chat session {chat_session_id!r} with a chatServer", http_status=404)
        base = session.chat_server if "://" in session.chat_server else f"https://{session.chat_server}"
        url = base.rstrip("/") + HOOK_PATH
        payload = {
            self.hook_fields["chat_session_id"]: chat_session_id,
            self.hook_fields["message"]: text,
            self.hook_fields["agent_name"]: agent_name,
        } | self.hook_extra_fields
        status: int | None = None
        answer: str | None = None
        error: str | None = None
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.hook_timeout)
            ) as client:
                if self.hook_format == "json":
                    request = client.post(url, json=payload)
                else:
                    form = aiohttp.FormData(payload, default_to_multipart=self.hook_format == "multipart")
                    request = client.post(url, data=form)
                async with request as response:
                    status, answer = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        call = HookCall(url, self.hook_format, payload, status, answer, error)
        session.agent_replies.append(call)
        return call

    def set_policy(self, domains: Iterable[str] = (), blocked_ips: Iterable[str] = ()) -> None:
        """What whitelistedDomainsAndBlacklistedIPs returns and checkOriginAndIP enforces."""
        blocked = list(blocked_ips)
        for entry in blocked:
            ipaddress.ip_network(entry, strict=False)  # a typo in a test fails here, not later
        self.core.domains, self.core.blocked_ips = list(domains), blocked

    def queue_position(self, chat_session_id: str, position: int | None) -> None:
        """Pin a session's place in requestChatQueue (None: back to the natural order)."""
        if position is None:
            self.core.queue_overrides.pop(chat_session_id, None)
        else:
            self.core.queue_overrides[chat_session_id] = position

    def set_config(self, **fields: Any) -> None:
        """Change what requestChatConfig returns under "config" ([I], e.g. ``online=False``)."""
        self.core.chat_config.update(fields)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next n API requests get this status and have no effect. [I] body in the error shape."""
        body = {"status": "error", "message": "Internal server error (injected by the test)."}
        self._faults.extend(JSONResponse(body, status_code=status) for _ in range(n))

    def down(self, is_down: bool = True) -> None:
        """While down, every API request gets 503 with a plain-text body, as from a proxy in front."""
        self._down = is_down

    def delay(self, seconds: float) -> None:
        """Every API request waits this long first (0 turns it off); one whose client gives up during the
        wait is never processed, so a timed-out request has had no effect."""
        self._delay = max(0.0, seconds)

    def requests_for(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def state(self) -> dict[str, Any]:
        return {
            "sessions": {
                s.id: {
                    "chatServer": s.chat_server,
                    "ticketIDs": s.ticket_ids,
                    "messages": [{"text": m.text, "messageNumber": m.message_number} for m in s.messages],
                    "events": s.events,
                    "visits": s.visits,
                    "attachments": [{"filename": a.filename, "size": len(a.content)} for a in s.attachments],
                    "agentReplies": [{"payload": c.payload, "ok": c.ok} for c in s.agent_replies],
                    "ended": s.ended,
                }
                for s in self.sessions.values()
            },
            "requests": [{"path": r.path, "endpoint": r.endpoint, "status": r.status} for r in self.requests],
        }

    # --- the API --------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        path = request.url.path
        endpoint = path[len(API_BASE) :] if path.startswith(API_BASE) else None
        if endpoint not in ENDPOINTS:
            endpoint = None
        form: dict[str, str] = {}
        files: dict[str, FilePart] = {}
        try:
            response = await self._respond(request, endpoint, form, files)
        except OmnideskError as error:
            response = error.response()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                endpoint=endpoint,
                query=dict(request.query_params),
                headers=request.headers,
                form=form,
                files=files,
                status=response.status_code,
                at=time.monotonic(),
            )
        )
        return response

    async def _respond(
        self,
        request: Request,
        endpoint_name: str | None,
        form: dict[str, str],
        files: dict[str, FilePart],
    ) -> Response:
        if request.method == "POST":
            await self._read_form(request, form, files)  # first, so that the record has it
        if self._delay and not await wait_unless_disconnected(request, self._delay):
            return Response(status_code=499)  # nobody is listening; the request had no effect
        if self._down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        if self._faults:
            return self._faults.popleft()
        key = request.headers.get("apikey") or request.query_params.get("apiKey")  # D.1: both
        if key != self.api_key:
            raise OmnideskError("Invalid API key.", http_status=self.auth_error_status)  # [I]
        if PERMISSION not in self.permissions:
            raise OmnideskError(f"This API key lacks the {PERMISSION} permission.", http_status=403)  # [I]
        if endpoint_name is None:
            raise OmnideskError("Unknown endpoint.", http_status=404)  # [I]
        endpoint = ENDPOINTS[endpoint_name]
        if request.method != endpoint.method:
            raise OmnideskError(f"{endpoint_name} takes {endpoint.method}.", http_status=405)  # [I]
        if endpoint.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            allowed = ("multipart/form-data", "application/x-www-form-urlencoded")
            if content_type not in allowed[: 2 if self.accept_urlencoded else 1]:
                raise OmnideskError("The request body must be multipart/form-data.")  # [I] wording
        fields = validate(endpoint.body, form) | validate(endpoint.query, request.query_params)
        upload = self._upload(endpoint, form, files) if endpoint.file_field else None
        return JSONResponse(self.core.answer(endpoint_name, fields, upload))

    async def _read_form(self, request: Request, form: dict[str, str], files: dict[str, FilePart]) -> None:
        limit = 2 * self.core.max_attachment_bytes + 1024  # a base64 text field is a third larger
        try:
            async with request.form(max_part_size=limit) as parsed:
                for name, value in parsed.multi_items():
                    if isinstance(value, UploadFile):
                        files[name] = FilePart(value.filename, await value.read(), value.content_type)
                        form[name] = f"<file {value.filename}>"
                    else:
                        form[name] = value
        except (HTTPException, MultiPartException) as error:
            detail = error.detail if isinstance(error, HTTPException) else error.message
            raise OmnideskError(f"The form could not be read: {detail}") from None

    def _upload(self, endpoint: Endpoint, form: dict[str, str], files: dict[str, FilePart]) -> Attachment:
        name = endpoint.file_field
        assert name is not None
        if name in files:
            part = files[name]
            return Attachment(part.filename, part.content, part.content_type, None, None, "file")
        if form.get(name):
            # Seed 004: "file string · byte", base64 in OpenAPI terms. [I] So a base64 text field is
            # accepted as well as a file part.
            try:
                content = base64.b64decode(form[name], validate=True)
            except (binascii.Error, ValueError):
                raise OmnideskError(f"{name} is neither a file nor base64.") from None
            return Attachment(None, content, None, None, None, "base64")
        raise OmnideskError(f"{name} is required.")

    # --- the control API for another process ----------------------------------------------------------

    async def _control_reply(self, request: Request) -> Response:
        params = await json_params(request)
        try:
            call = await self.agent_reply(
                request.path_params["session_id"],
                str(params["text"]),
                params.get("agent_name", "Omnidesk Agent"),
            )
        except ControlError as error:
            return JSONResponse({"error": str(error)}, status_code=error.http_status)
        except KeyError:
            return JSONResponse({"error": "missing parameter 'text'"}, status_code=400)
        return JSONResponse(
            {"ok": call.ok, "status": call.status, "answer": call.answer, "error": call.error}
        )

    async def _control_policy(self, request: Request) -> Response:
        params = await json_params(request)
        try:
            self.set_policy(params.get("domains", []), params.get("blocked_ips", []))
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def _control_queue(self, request: Request) -> Response:
        params = await json_params(request)
        self.queue_position(str(params["session"]), params.get("position"))
        return JSONResponse({"ok": True})

    async def _control_faults(self, request: Request) -> Response:
        params = await json_params(request)
        kind = params.get("kind")
        if kind == "fail":
            self.fail_next(params.get("n", 1), params.get("status", 500))
        elif kind in ("down", "up"):
            self.down(kind == "down")
        elif kind == "delay":
            self.delay(params.get("seconds", 0))
        else:
            return JSONResponse({"error": f"unknown fault kind {kind!r}"}, status_code=400)
        return JSONResponse({"ok": True})

    async def _control_state(self, request: Request) -> Response:
        return JSONResponse(self.state())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fake Omnidesk Chat controller (see tests/fakes/omnidesk.py)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--chat-account-token", default=DEFAULT_CHAT_ACCOUNT_TOKEN)
    parser.add_argument("--hook-format", choices=HOOK_FORMATS, default="multipart")
    parser.add_argument("--accept-urlencoded", action="store_true", help="also accept urlencoded forms")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    fake = FakeOmnidesk(
        args.api_key,
        args.chat_account_token,
        hook_format=args.hook_format,
        accept_urlencoded=args.accept_urlencoded,
    )
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level, http="h11")


if __name__ == "__main__":
    main()
