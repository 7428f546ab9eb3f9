"""Omnidesk's Chat controller (Omnidesk's API documentation): a visitor chat becomes an Omnidesk chat session.

What the API is (docs/omnidesk.md has the detail): nine endpoints under ``/api/v2/chat/``, every one a
``multipart/form-data`` request with the ``apiKey`` header. We own the session: our chat id *is* the
``chatSessionID`` (a UUID, 36 of ``[a-zA-Z0-9-]``, inside every documented pattern and length). The first
``notifyUserNewChatMessage`` of a session opens a ticket; later ones reach the same ticket. There is no
way to read anything back: agent replies are pushed to our hookpoint ``{chatServer}/messageForCustomer``
(widget_server/web/hooks_omnidesk.py), whose payload is not documented, so its field names are
settings (``hook_fields``, defaults here).

The only thing worth polling is the visitor's place in the queue (``requestChatQueue``). One answer
lists the whole account's queue, so the adapter asks at most once per ``queue_interval`` for all its
chats together, and each chat's poll reads its place from that answer (``queue_update``): a changed
place becomes a ``state: queued`` event with its ``position``, which every tab shows at once and a
resuming tab replays. Asking stops for good once the chat has left the queue.

Error answers are HTTP 400 ``{"status": "error", "message": ...}`` (D.1): refused for good. 401, 403
and 404 mean the API key, its ``API_CHAT`` permission or the base URL are wrong: the site is marked
unhealthy for operators and everything is kept to be retried, since fixing the configuration (and
restarting) should deliver what is waiting. Omnidesk can tell us nothing about a request that timed
out, so a retried message is sent again (at least once, with the same ``messageNumber``).

Pure functions first (the fields we send, the answers we read); the ``OmnideskAdapter`` class is the I/O.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from widget_server import metrics
from widget_server.adapters import (
    AdapterContext,
    BackendError,
    BackendRefused,
    BackendUnavailable,
    Polled,
    Started,
    http_edge,
)
from widget_server.adapters.http_edge import plain_base_url
from widget_server.model import Chat, Event, Visitor
from widget_server.settings_table import Setting, env_name, http_url, positive

log = logging.getLogger(__name__)

API_PATH = "/api/v2/chat/"
HOOK_PATH = "/messageForCustomer"  # D.4: Omnidesk POSTs agent replies to {chatServer}/messageForCustomer
HOOK_ROUTE_PREFIX = "/hooks/omnidesk/"  # ours: /hooks/omnidesk/{site}/{secret}/messageForCustomer

# The documented patterns (Omnidesk's documentation), matched against the whole value.
CHAT_SERVER_PATTERN = re.compile(r"[a-zA-Z0-9.:/\-]{5,}")
CHAT_ACCOUNT_TOKEN_PATTERN = re.compile(r"[a-zA-Z0-9]{10,}")
SESSION_PATTERN = re.compile(r"[a-zA-Z0-9\-]{10,65}")  # the strictest of the three forms, and 10-65
CUSTOMER_NAME_PATTERN = re.compile(r"[a-zA-Z 0-9]+")
PHONE_PATTERN = re.compile(r"\+[0-9]+")
ORIGIN_HOST_PATTERN = re.compile(r"[a-zA-Z0-9.\-]+")  # checkOriginAndIP's origin: a host name
# "string · email" has no grammar of its own; this is what browsers accept for <input type=email>
# (the WHATWG HTML standard's "valid e-mail address"), a fair reading of "an email".
EMAIL_PATTERN = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
)
MAX_MESSAGE_NUMBER = 50  # messageNumber: number 1-50
MIN_SECRET = 16
# userData keys that may hold a phone number, compared without case, "_" and "-".
PHONE_KEYS = frozenset({"phone", "phonenumber", "tel", "telephone", "mobile"})
EVENTS = {True: "startedtyping", False: "stoppedtyping"}
WIDGET_EVENTS = {True: "expandedchat", False: "minimizedchat"}

# The hookpoint's payload (D.4: "not found"): our defaults, each renamable with ``hook_fields``.
DEFAULT_HOOK_FIELDS = {
    "chat_session_id": "chatSessionID",
    "message": "message",
    "agent_name": "agentName",
    "event": "event",  # [I] optional: see HOOK_EVENTS
    "message_id": "messageID",  # [I] optional: makes a repeated delivery count once
}
# [I] What an optional ``event`` field may say, in Omnidesk's own spelling of notifyUserNewChatEvent.
HOOK_EVENTS = ("startedtyping", "stoppedtyping", "joinedchat", "endedchat")


def _chat_server(value: str) -> str | None:
    problem = http_url(value)
    if problem:
        return problem
    if not CHAT_SERVER_PATTERN.fullmatch(value):
        return (
            "may contain only letters, digits, '.', ':', '/' and '-' (Omnidesk's chatServer pattern; "
            "so no '_', query or fragment, and the site id in it must have no '_' either)"
        )
    parts = value.rstrip("/").split("/")
    if len(parts) < 4 or "/".join(parts[-4:-2]) != HOOK_ROUTE_PREFIX.strip("/"):
        return f"must end with {HOOK_ROUTE_PREFIX}SITE/SECRET (this server's hookpoint for the site)"
    if len(parts[-1]) < MIN_SECRET:
        return f"must end with a secret of at least {MIN_SECRET} letters, digits or '-' (unguessable)"
    return None


def _base_url(value: str) -> str | None:
    return plain_base_url(value, "must be just the account's address, e.g. https://account.omnidesk.com")


def _hook_fields(value: dict[str, Any]) -> str | None:
    for key, name in value.items():
        if key not in DEFAULT_HOOK_FIELDS:
            return f"unknown key {key!r} (known: {', '.join(DEFAULT_HOOK_FIELDS)})"
        if not isinstance(name, str) or not name.strip():
            return f"{key} must name a field"
    return None


def _one_of(*choices: str) -> Any:
    return lambda value: None if value in choices else f"must be one of: {', '.join(choices)}"


SETTINGS: dict[str, Setting] = {
    "base_url": Setting(str, required=True, check=_base_url, doc="https://ACCOUNT.omnidesk.com"),
    "api_key_env": Setting(str, required=True, check=env_name, doc="the variable holding the API key"),
    "chat_account_token": Setting(
        str,
        required=True,
        check=lambda v: None if CHAT_ACCOUNT_TOKEN_PATTERN.fullmatch(v) else "must be 10+ letters or digits",
    ),
    "chat_server": Setting(
        str, required=True, check=_chat_server, doc="our hookpoint base URL, with its secret"
    ),
    "channel_id": Setting(int, default=8, check=positive, doc="8 is live chat"),
    "policy_source": Setting(bool, default=False),
    # Added: item 8 (widget_server/omnidesk_policy.py), the queue, the hookpoint, timeouts.
    "policy_unknown": Setting(
        str, default="refuse", check=_one_of("admit", "refuse"), doc="neither an answer nor synced lists"
    ),
    "policy_interval": Setting((int, float), default=60, check=positive, doc="seconds between list syncs"),
    "policy_cache": Setting((int, float), default=60, check=positive, doc="seconds an origin check counts"),
    "policy_timeout": Setting((int, float), default=3, check=positive, doc="seconds for checkOriginAndIP"),
    "queue_interval": Setting(
        (int, float), default=10, check=lambda v: None if v >= 0 else "must be 0 (off) or more"
    ),
    "hook_fields": Setting(dict, default={}, check=_hook_fields, doc="the hookpoint's field names"),
    "timeout": Setting((int, float), default=10, check=positive, doc="seconds per request"),
}


# --- what we send ---------------------------------------------------------------------------------------


def hook_secret(chat_server: str) -> str:
    """The secret part of a configured ``chat_server``: its last path segment."""
    return chat_server.rstrip("/").rsplit("/", 1)[-1]


def hook_site(chat_server: str) -> str:
    """The site id a configured ``chat_server`` names (the segment before the secret)."""
    return chat_server.rstrip("/").split("/")[-2]


def customer_fields(visitor: Visitor) -> dict[str, str]:
    """Name, email, phone, page and userData for the message that opens the ticket. A value that does not
    match its documented pattern is left out: Omnidesk would refuse the whole message for it, and the
    message matters more than the name ("José O'Brien" is sent without customerName)."""
    fields: dict[str, str] = {}
    name = visitor.nickname.strip()
    if CUSTOMER_NAME_PATTERN.fullmatch(name):
        fields["customerName"] = name
    if visitor.email and EMAIL_PATTERN.fullmatch(visitor.email):
        fields["emailAddress"] = visitor.email
    phone = _phone(visitor.user_data)
    if phone is not None:
        fields["phoneNumber"] = phone
    if visitor.page:
        fields["url"] = visitor.page
    additional = dict(visitor.user_data)
    if visitor.subject and "subject" not in additional:
        additional["subject"] = visitor.subject  # Omnidesk has no subject field; the agent should see it
    if additional:
        fields["additionalData"] = json.dumps(additional, ensure_ascii=False, sort_keys=True)
    return fields


def _phone(user_data: Mapping[str, str]) -> str | None:
    """A phone number from userData, without the spaces, dashes, dots and brackets people write."""
    for key, value in user_data.items():
        if key.lower().replace("_", "").replace("-", "") in PHONE_KEYS:
            number = re.sub(r"[\s\-.()/]", "", value)
            if PHONE_PATTERN.fullmatch(number):
                return number
    return None


def message_fields(chat: Chat, text: str, delivered: int) -> dict[str, str]:
    """notifyUserNewChatMessage's own fields for the visitor's next message (``delivered`` went before).

    ``messageNumber`` counts from 1 while it stays within the documented 1-50, then is left out (it is
    "recommended, not required"). Files count too: addAttachment takes the same number."""
    fields = {"chatSessionID": session_id(chat), "message": text}
    if delivered + 1 <= MAX_MESSAGE_NUMBER:
        fields["messageNumber"] = str(delivered + 1)
    if delivered == 0:
        fields.update(customer_fields(chat.visitor))
    return fields


def session_id(chat: Chat) -> str:
    if not SESSION_PATTERN.fullmatch(chat.id):
        raise BackendRefused(f"chat id {chat.id!r} does not fit Omnidesk's chatSessionID pattern")
    return chat.id


# --- what comes back ------------------------------------------------------------------------------------


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return None


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _find(answer: Mapping[str, Any], *names: str) -> Any:
    """A value under any of these names (compared without case, "_" and "-"), also one level down in
    "data" or "result": the answers' shapes are not documented (D.2)."""
    wanted = {_key(n) for n in names}
    for scope in (answer, answer.get("data"), answer.get("result")):
        if isinstance(scope, Mapping):
            for key, value in scope.items():
                if isinstance(key, str) and _key(key) in wanted:
                    return value
    return None


@dataclass(frozen=True)
class OriginCheck:
    """checkOriginAndIP's verdict: ``allowed`` None when the answer could not be read."""

    allowed: bool | None
    origin_allowed: bool | None = None
    ip_allowed: bool | None = None

    @property
    def refusal(self) -> str | None:
        """The gate's rule name for a refusal, None when allowed."""
        if self.allowed is not False:
            return None
        if self.ip_allowed is False:
            return "ip_blocked"
        if self.origin_allowed is False:
            return "origin_not_allowed"
        return "omnidesk_refused"


def read_origin_check(answer: Mapping[str, Any]) -> OriginCheck:
    """[I] The body is not documented: ``allowed`` (or ``originAllowed`` and ``ipAllowed``)."""
    origin_allowed = _flag(_find(answer, "originAllowed", "domainAllowed"))
    ip_allowed = _flag(_find(answer, "ipAllowed"))
    allowed = _flag(_find(answer, "allowed", "isAllowed", "valid"))
    if allowed is None and origin_allowed is not None and ip_allowed is not None:
        allowed = origin_allowed and ip_allowed
    if allowed is None and False in (origin_allowed, ip_allowed):
        allowed = False
    return OriginCheck(allowed, origin_allowed, ip_allowed)


def _strings(value: Any) -> list[str] | None:
    """A list of strings from a list (of strings, or of objects holding one) or a separated string."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,\s;]+", value) if part.strip()]
    if not isinstance(value, list):
        return None
    items: list[str] = []
    for item in value:
        if isinstance(item, Mapping):
            item = next((v for v in item.values() if isinstance(v, str)), None)
        if isinstance(item, str) and item.strip():
            items.append(item.strip())
    return items


def read_access_lists(answer: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """whitelistedDomainsAndBlacklistedIPs' (domains, addresses). [I] Its body is not documented; the
    names tried are listed here. Raises ValueError when neither list can be found."""
    domains = _strings(_find(answer, "whitelistedDomains", "domains", "whitelist", "allowedDomains"))
    addresses = _strings(
        _find(answer, "blacklistedIPs", "blacklistedIps", "ips", "blacklist", "blockedIPs", "blockedIps")
    )
    if domains is None and addresses is None:
        raise ValueError(f"no whitelistedDomains or blacklistedIPs in {str(answer)[:200]}")
    return domains or [], addresses or []


def read_queue(answer: Mapping[str, Any]) -> dict[str, int]:
    """requestChatQueue's places by chatSessionID. [I] Not documented: a list under ``queue`` of
    ``{"chatSessionID", "position"}`` (or of ids, in order, 1 first)."""
    entries = _find(answer, "queue", "chats", "sessions")
    positions: dict[str, int] = {}
    if not isinstance(entries, list):
        return positions
    for index, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            positions.setdefault(entry, index)
        elif isinstance(entry, Mapping):
            session = _find(entry, "chatSessionID", "sessionID", "id")
            position = _find(entry, "position", "place")
            if isinstance(session, str):
                ok = isinstance(position, int) and not isinstance(position, bool) and position > 0
                positions.setdefault(session, position if ok else index)
    return positions


def queue_update(position: int | None, cursor: Mapping[str, Any]) -> Polled:
    """The visitor's place in Omnidesk's queue: a changed place is told to the visitor (not stored, like
    the built-in contact center's places); once the chat was seen in the queue and is no longer, it has
    left for good."""
    last = cursor.get("queue_position")
    if position is None:
        return Polled(cursor={"queue_done": True}) if last is not None else Polled()
    if position == last:
        return Polled()
    return Polled(queue_position=position, cursor={"queue_position": position})


# --- the adapter ----------------------------------------------------------------------------------------


class OmnideskAdapter:
    name = "omnidesk"
    capabilities: frozenset[str] = frozenset({"attachments"})  # addAttachment
    delivers = True

    def __init__(self, settings: Mapping[str, Any], context: AdapterContext, site_id: str) -> None:
        self.site_id = site_id
        self.base = settings["base_url"].rstrip("/") + API_PATH
        self.api_key_env: str = settings["api_key_env"]
        self.setup_problem: str | None = (
            None
            if os.environ.get(self.api_key_env)
            else f"the environment variable {self.api_key_env} (the API key) is not set"
        )
        self.chat_account_token: str = settings["chat_account_token"]
        # Omnidesk appends "/messageForCustomer" itself: no trailing slash, or the path gets "//".
        self.chat_server: str = settings["chat_server"].rstrip("/")
        self.channel_id = int(settings.get("channel_id") or 8)
        self.timeout = aiohttp.ClientTimeout(total=float(settings.get("timeout") or 10))
        self.policy_timeout = aiohttp.ClientTimeout(total=float(settings.get("policy_timeout") or 3))
        self.queue_interval = float(settings.get("queue_interval", 10) or 0)
        #: The queue is the only thing to poll for; without it there is nothing to poll.
        self.polls = self.queue_interval > 0
        self.context = context
        #: The last requestChatConfig answer's configuration, for operators.
        self.chat_config: Any = None
        self._queue: dict[str, int] | None = None
        self._queue_asked = float("-inf")
        self._queue_lock = asyncio.Lock()
        # Chats an agent has answered (told by the hookpoint), so that a queue answer that was on its way
        # meanwhile does not put them back in the queue.
        self._answered: set[str] = set()

    # --- the visitor's side ---------------------------------------------------------------------------

    async def configure(self) -> Any:
        """requestChatConfig: checks the account, the token and our chatServer. Raises BackendError."""
        answer = await self._session_call("requestChatConfig", {"chatAccountToken": self.chat_account_token})
        self.chat_config = _find(answer, "config", "chatConfig") or answer
        return self.chat_config

    async def start(self, chat: Chat) -> Started:
        # The ticket opens with the first message (D.3): here only the account is asked for its chat
        # configuration, so that a visitor learns at once when Omnidesk cannot take chats.
        session_id(chat)
        await self.configure()
        return Started(backend_ref=chat.id)

    async def send_message(self, chat: Chat, event: Event, *, retry: bool = False) -> None:
        # ``retry``: Omnidesk cannot be asked whether the earlier attempt arrived; sent again (at least
        # once), with the same messageNumber so that Omnidesk could tell.
        delivered = int(chat.backend_state.get("delivered_count", 0))
        answer = await self._session_call(
            "notifyUserNewChatMessage", message_fields(chat, event.data["text"], delivered)
        )
        ticket = _find(answer, "ticketID")
        if delivered == 0 and ticket is not None:
            log.info("chat %s: Omnidesk ticket %s", chat.id, str(ticket)[:40])

    async def send_attachment(self, chat: Chat, event: Event, data: bytes) -> None:
        file = event.data.get("file", {})
        await self.upload(chat, file.get("name") or "file", file.get("type"), data)

    async def upload(self, chat: Chat, filename: str, content_type: str | None, data: bytes) -> None:
        """addAttachment: the documented query parameters, and the file as the multipart part ``file``.

        A file needs the ticket that a message opens: a file sent before any message opens it with a
        line naming the file (number 1; the file then goes without a number, so that the visitor's next
        message, the second thing delivered, is number 2)."""
        delivered = int(chat.backend_state.get("delivered_count", 0))
        opened_here = delivered == 0
        if opened_here:
            await self._session_call(
                "notifyUserNewChatMessage", message_fields(chat, f"(sent a file: {filename})", 0)
            )
        query = {
            "chatServer": self.chat_server,
            "chatSessionID": session_id(chat),
            "chatAccountToken": self.chat_account_token,
        }
        if not opened_here and delivered + 1 <= MAX_MESSAGE_NUMBER:
            query["messageNumber"] = str(delivered + 1)
        phone = _phone(chat.visitor.user_data)
        if phone is not None:
            query["phoneNumber"] = phone
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field(
            "file", data, filename=filename, content_type=content_type or "application/octet-stream"
        )
        await self._call("addAttachment", form=form, query=query)

    async def typing(self, chat: Chat, active: bool) -> None:
        await self._session_call("notifyUserNewChatEvent", {"event": EVENTS[active]}, chat=chat)

    async def widget_expanded(self, chat: Chat, expanded: bool) -> None:
        """The visitor opened (True) or minimised (False) the widget: ``expandedchat``/``minimizedchat``.
        Nothing calls this yet: the visitor protocol needs a frame for it (docs/omnidesk.md)."""
        await self._session_call("notifyUserNewChatEvent", {"event": WIDGET_EVENTS[expanded]}, chat=chat)

    async def visit(self, chat: Chat, url: str) -> None:
        if len(url) >= 4:  # url: min 4
            await self._session_call("notifyUserVisited", {"url": url}, chat=chat)

    async def end(self, chat: Chat) -> None:
        self._answered.discard(chat.id)
        await self._session_call("notifyUserEndChat", {}, chat=chat)

    # --- the queue ------------------------------------------------------------------------------------

    def agent_answered(self, chat_id: str) -> None:
        """The hookpoint saw an agent in this chat: it has left the queue."""
        self._answered.add(chat_id)

    async def poll(self, chat: Chat) -> Polled:
        """The visitor's place in the queue; at most one request, shared with every chat of the site
        for ``queue_interval``. Never raises: a place is worth less than delaying the chat's messages
        behind the poller's backoff."""
        state = chat.backend_state
        if state.get("queue_done"):
            return Polled()
        if chat.id in self._answered:
            return Polled(cursor={"queue_done": True})
        if not int(state.get("delivered_count", 0)):
            return Polled()  # no message yet, so no ticket, so no place
        positions = await self._queue_positions()
        if positions is None:
            return Polled()
        if chat.id in self._answered:  # answered while we asked
            return Polled(cursor={"queue_done": True})
        return queue_update(positions.get(chat.id), state)

    async def _queue_positions(self) -> dict[str, int] | None:
        async with self._queue_lock:
            now = asyncio.get_running_loop().time()
            if now - self._queue_asked >= self.queue_interval:
                self._queue_asked = now  # a failure also waits for the next interval
                try:
                    answer = await self._call(
                        "requestChatQueue", {"chatAccountToken": self.chat_account_token}
                    )
                except BackendError as error:
                    log.info("site %s: requestChatQueue failed: %s", self.site_id, error.detail)
                    self._queue = None
                else:
                    self._queue = read_queue(answer)
            return self._queue

    # --- the access policy (widget_server/omnidesk_policy.py) -----------------------------------------

    async def access_lists(self) -> tuple[list[str], list[str]]:
        """whitelistedDomainsAndBlacklistedIPs: (domains, addresses). Raises BackendError."""
        answer = await self._call("whitelistedDomainsAndBlacklistedIPs", method="GET")
        try:
            return read_access_lists(answer)
        except ValueError as error:
            raise BackendUnavailable(f"whitelistedDomainsAndBlacklistedIPs: {error}") from None

    async def check_origin_and_ip(self, host: str, ip: str) -> OriginCheck:
        """checkOriginAndIP for an origin's host name and an address. A 400 answer is a refusal (the fields
        were checked here first, so what is left to refuse is the origin or the address). Raises
        BackendError when Omnidesk cannot be asked."""
        fields = {
            "chatServer": self.chat_server,
            "chatAccountToken": self.chat_account_token,
            "origin": host,
            "ip": ip,
        }
        try:
            answer = await self._call("checkOriginAndIP", fields, time_limit=self.policy_timeout)
        except BackendRefused:
            return OriginCheck(False)
        return read_origin_check(answer)

    async def close(self) -> None:
        pass  # the HTTP session belongs to the runtime

    # --- HTTP -----------------------------------------------------------------------------------------

    async def _session_call(
        self, endpoint: str, fields: dict[str, str], *, chat: Chat | None = None
    ) -> dict[str, Any]:
        """A call about one chat session: chatServer, and the session and token where it takes them."""
        base = {"chatServer": self.chat_server}
        if chat is not None:
            base["chatSessionID"] = session_id(chat)
        if endpoint == "notifyUserNewChatMessage":
            base["chatAccountToken"] = self.chat_account_token
            base["channelID"] = str(self.channel_id)
        return await self._call(endpoint, {**base, **fields})

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if not key:
            detail = f"the environment variable {self.api_key_env} (the API key) is not set"
            self.context.report(self.site_id, False, detail)
            raise BackendUnavailable(detail)
        return key

    async def _call(
        self,
        endpoint: str,
        fields: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
        form: aiohttp.FormData | None = None,
        query: Mapping[str, str] | None = None,
        time_limit: aiohttp.ClientTimeout | None = None,
    ) -> dict[str, Any]:
        """One request; the answer's JSON object (empty for an empty answer), else a BackendError."""
        headers = {"apiKey": self._api_key(), "Accept": "application/json"}
        data = None
        if method == "POST":
            if form is None:
                # multipart, as documented: aiohttp would send a form without files urlencoded.
                form = aiohttp.FormData(default_to_multipart=True)
                for name, value in (fields or {}).items():
                    form.add_field(name, value)
            data = form
        try:
            response = await http_edge.request(
                self.context.http_session(),
                method,
                self.base + endpoint,
                where=endpoint,
                ambiguous=method == "POST",
                headers=headers,
                timeout=time_limit or self.timeout,
                data=data,
                params=query,
            )
        except BackendUnavailable as error:
            self.context.report(self.site_id, False, error.detail)
            raise
        raw, status, retry_after = response.body, response.status, response.retry_after
        answer = response.json(empty={})
        if status == 429:
            metrics.RATE_LIMITED.labels(self.name).inc()
        failure = classify(endpoint, status, answer, raw, retry_after)
        if failure is not None:
            if isinstance(failure, BackendUnavailable) and status != 429:
                self.context.report(self.site_id, False, failure.detail)
            raise failure
        self.context.report(self.site_id, True)
        return answer if isinstance(answer, dict) else {}


def classify(
    endpoint: str, status: int, answer: Any, raw: bytes, retry_after: float | None
) -> BackendError | None:
    """The exception for an answer, or None for a success.

    Only HTTP 400 is a refusal for good (D.1's error answer). An error body with a 2xx status is off the
    documented path: taken as a passing failure, so that nothing is dropped on a guess."""
    message = answer.get("message") if isinstance(answer, dict) else None
    said = message if isinstance(message, str) else raw[:120].decode("utf-8", "replace")
    detail = f"{endpoint}: HTTP {status}: {said}"[:500]
    is_error = isinstance(answer, dict) and answer.get("status") == "error"
    if 200 <= status < 300 and not is_error:
        return None
    if status in (401, 403):
        return BackendUnavailable(f"{detail} (the API key, or its API_CHAT permission)")
    if status in (404, 405):
        return BackendUnavailable(f"{detail} (is base_url the Omnidesk account's address?)")
    if status == 400:
        return BackendRefused(detail)
    return BackendUnavailable(detail, retry_after=retry_after)
