"""Adapters: each one knows one contact center's API, nothing else.

An adapter turns what the visitor does into calls on its contact center (start a chat, send a message,
typing, a page visit, end) and, for a polling contact center, makes exactly one poll request when asked.
The chat service owns the chat log and the fan-out; the shared poller (widget_server/poller.py) owns the
loop, the interval, the backoff and the retries. So an adapter is a thin module of I/O.

Every adapter passes the contract suite in tests/test_adapter_contract.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from widget_server.model import Chat, Event, NewEvent
from widget_server.request_budget import RequestBudget

if TYPE_CHECKING:
    from widget_server.settings_table import Setting
    from widget_server.shared_state import SharedState


class BackendError(Exception):
    """The contact center did not do what we asked. ``detail`` is for the operator's log."""

    def __init__(self, detail: str, *, retry_after: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class BackendUnavailable(BackendError):
    """A passing failure (network, 5xx, 429, an internal error code): the same request may succeed later.

    ``ambiguous``: the request may have reached the contact center (it timed out, or the connection
    broke after it was sent). The poller then retries with ``retry=True``."""


class BackendRefused(BackendError):
    """The contact center refused this request for good: repeating it unchanged will not help."""


class ChatGone(BackendError):
    """The contact center no longer knows the chat (ended there, or dropped)."""


@dataclass(frozen=True)
class Started:
    """What starting a chat at the contact center gave: its id there, the adapter's own state to keep, and
    events to put in the log straight away."""

    backend_ref: str | None = None
    backend_state: dict[str, Any] = field(default_factory=dict)
    events: Sequence[NewEvent] = ()


@dataclass(frozen=True)
class Polled:
    """The outcome of one poll request.

    ``events`` go into the chat log; ``typing`` is the agent's typing (name, active) if it changed;
    ``cursor`` is merged into the chat's ``backend_state`` in the same transaction as the events, so that
    polling resumes there after a restart (its ``agents`` key, the agents in the chat, also paces the
    polling); ``ended`` ends the chat; ``lively`` says whether anything happened."""

    events: Sequence[NewEvent] = ()
    typing: Sequence[tuple[str, bool]] = ()
    cursor: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    #: The chat's place in the contact center's queue, if it changed (told to the visitor, not stored:
    #: places change for everyone whenever anyone leaves the queue).
    queue_position: int | None = None

    @property
    def lively(self) -> bool:
        return bool(self.events or self.typing)


class Adapter(Protocol):
    """One site's connection to its contact center."""

    name: str
    capabilities: frozenset[str]
    #: True when agent activity comes back by the shared poller calling ``poll``.
    polls: bool
    #: True when visitor messages must be delivered by ``send_message`` (False: the log is the delivery).
    delivers: bool
    #: What keeps it from working at all, found when it was made (a secret's variable that is not set):
    #: the site is then shown unavailable at once (``hello`` reason "backend", the admin's health).
    setup_problem: str | None

    async def start(self, chat: Chat) -> Started:
        """Open the chat at the contact center. Raise BackendError if it could not be done; nothing must
        be left half-created there."""
        ...

    async def send_message(self, chat: Chat, event: Event, *, retry: bool = False) -> None:
        """Deliver one visitor message. Messages come in order, each once unless this raised.

        ``retry``: an earlier attempt raised ``BackendUnavailable(ambiguous=True)``; if the contact
        center can tell, check whether that attempt arrived before sending again (exactly once).
        ``chat.backend_state["delivered_count"]`` is how many visitor messages were delivered before.

        What the contact center gives along the way (the ids of a customer and a chat it created) may be
        added to ``chat.backend_state``: the poller stores that dict after every attempt, failed ones
        too, so that a retry (also after a restart) finds them and creates nothing twice."""
        ...

    async def send_attachment(self, chat: Chat, event: Event, data: bytes) -> None:
        """Deliver a file the visitor attached (only called when ``capabilities`` has "attachments"), in
        order with the messages."""
        ...

    async def typing(self, chat: Chat, active: bool) -> None: ...

    async def visit(self, chat: Chat, url: str) -> None: ...

    async def end(self, chat: Chat) -> None:
        """The visitor's side is done with the chat. Best effort: the chat is over for us either way."""
        ...

    async def poll(self, chat: Chat) -> Polled:
        """Make exactly one request for agent activity after ``chat.backend_state``'s cursor. Must be safe
        to repeat with the same cursor."""
        ...

    async def close(self) -> None: ...


#: The contact centers whose chats a poller follows (all but the built-in one, which needs none).
POLLING_BACKENDS = ("gws", "helpcrunch", "omnidesk")


def settings_specs() -> dict[str, Mapping[str, Setting]]:
    """The settings table of every backend, by backend name (as in ``backend = "..."``)."""
    from widget_server.adapters import gws, helpcrunch, local, omnidesk

    return {
        "local": local.SETTINGS,
        "gws": gws.SETTINGS,
        "helpcrunch": helpcrunch.SETTINGS,
        "omnidesk": omnidesk.SETTINGS,
    }


def create_adapter(
    backend: str, settings: Mapping[str, Any], context: AdapterContext, site_id: str
) -> Adapter:
    if backend == "local":
        from widget_server.adapters.local import LocalAdapter

        return LocalAdapter()
    if backend == "gws":
        from widget_server.adapters.gws import GWSAdapter

        return GWSAdapter(settings, context)
    if backend == "helpcrunch":
        from widget_server.adapters.helpcrunch import HelpCrunchAdapter

        return HelpCrunchAdapter(settings, context, site_id)
    if backend == "omnidesk":
        from widget_server.adapters.omnidesk import OmnideskAdapter

        return OmnideskAdapter(settings, context, site_id)
    raise ValueError(f"unknown backend {backend!r}")


@dataclass(frozen=True)
class Health:
    """How a site's contact center answered lately, for operators (admin page, API, log, /healthz)."""

    healthy: bool
    detail: str
    since: float


class AdapterContext:
    """What the adapters of a process share: one outbound HTTP session with its connection pool, the
    request budgets of contact-center accounts, and what they found out about their contact centers'
    health.

    aiohttp's client, chosen by measurement (docs/performance.md): with a thousand chats polled about
    once a second it costs a fraction of the CPU per request that httpx does here.
    """

    def __init__(self, state: SharedState | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._state = state  # where budgets are kept: None for each one's own, in memory
        self._budgets: dict[str, RequestBudget] = {}
        self.health: dict[str, Health] = {}

    def budget(self, account: str, per_minute: float) -> RequestBudget:
        """The request budget of one contact-center account, shared by every site and process that uses
        it."""
        if account not in self._budgets:
            self._budgets[account] = RequestBudget(per_minute, state=self._state, account=account)
        return self._budgets[account]

    def report(self, site_id: str, healthy: bool, detail: str = "") -> None:
        """An adapter says how its contact center answered; a change is logged once."""
        import logging
        import time

        previous = self.health.get(site_id)
        if previous is not None and previous.healthy == healthy and previous.detail == detail:
            return
        self.health[site_id] = Health(healthy, detail, time.time())
        if not healthy:
            logging.getLogger(__name__).error("site %s: its contact center is unhealthy: %s", site_id, detail)
        elif previous is not None and not previous.healthy:
            logging.getLogger(__name__).warning("site %s: its contact center is healthy again", site_id)

    def http_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # limit_per_host matches the pollers' in-flight bound (poll_policy.py); keep-alive shorter than
            # the idle timeouts of common load balancers, so a pooled connection is not found closed.
            connector = aiohttp.TCPConnector(
                limit=256, limit_per_host=100, ttl_dns_cache=300, keepalive_timeout=15
            )
            # No cookie jar: contact-center APIs are stateless, and nothing one site's contact center
            # sets should travel with another's requests.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
