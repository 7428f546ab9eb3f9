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

from widget_server.model import Chat, Event, NewEvent

if TYPE_CHECKING:
    from widget_server.config import Setting


class BackendError(Exception):
    """The contact center did not do what we asked. ``detail`` is for the operator's log."""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class BackendUnavailable(BackendError):
    """A passing failure (network, 5xx, 429, an internal error code): the same request may succeed later."""


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
    ``cursor`` is stored so that polling resumes there after a restart; ``ended`` ends the chat;
    ``lively`` says whether anything happened (the poller polls faster while it does)."""

    events: Sequence[NewEvent] = ()
    typing: Sequence[tuple[str, bool]] = ()
    cursor: dict[str, Any] = field(default_factory=dict)
    ended: bool = False

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

    async def start(self, chat: Chat) -> Started:
        """Open the chat at the contact center. Raise BackendError if it could not be done; nothing must
        be left half-created there."""
        ...

    async def send_message(self, chat: Chat, event: Event) -> None:
        """Deliver one visitor message (events arrive in order, each once unless this raised)."""
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


def settings_specs() -> dict[str, Mapping[str, Setting]]:
    """The settings table of every backend, by backend name (as in ``backend = "..."``)."""
    from widget_server.adapters import local

    return {"local": local.SETTINGS}


def create_adapter(backend: str, settings: Mapping[str, Any], context: AdapterContext) -> Adapter:
    if backend == "local":
        from widget_server.adapters.local import LocalAdapter

        return LocalAdapter()
    raise ValueError(f"unknown backend {backend!r}")


@dataclass
class AdapterContext:
    """What adapters share: the outbound HTTP client session, created lazily."""

    http: Any = None
