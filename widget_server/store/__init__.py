"""The store: chats and their append-only logs, and the people who log in.

``Store`` is the interface; ``open_store(url)`` picks an implementation by URL scheme and imports it
lazily, so the embedded default (SQLite in the data dir) needs nothing else installed. Every
implementation passes the contract suite in tests/test_store_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from widget_server.model import (
    ApiToken,
    AuditEntry,
    CannedResponse,
    Chat,
    Event,
    NewEvent,
    OutboxItem,
    StoredSite,
    User,
)


class StoreError(Exception):
    """Base of the store's exceptions."""


class ChatNotFound(StoreError):
    pass


class LimitReached(StoreError):
    """The chat already holds as many events of a kind as ``at_most`` allows. Nothing was written."""

    def __init__(self, chat: Chat, kind: str, limit: int) -> None:
        super().__init__(f"chat {chat.id} already has {limit} {kind} events")
        self.chat, self.kind, self.limit = chat, kind, limit


class NoRoom(StoreError):
    """The agent already holds as many active chats as ``room_for`` allows. Nothing was written."""

    def __init__(self, chat: Chat, agent: str, capacity: int) -> None:
        super().__init__(f"{agent} already has {capacity} active chats")
        self.chat, self.agent, self.capacity = chat, agent, capacity


class WrongState(StoreError):
    """The chat is not in a state that allows the change (accepting a chat another agent took, writing
    to an ended chat). Nothing was written."""

    def __init__(self, chat: Chat) -> None:
        super().__init__(f"chat {chat.id} is {chat.state}")
        self.chat = chat


class Fenced(StoreError):
    """A write carried a fencing token older than the chat's: a newer owner of its poller exists; nothing
    was written."""

    def __init__(self, chat_id: str, fence: int, current: int) -> None:
        super().__init__(f"chat {chat_id} is fenced at {current}; a write with fence {fence} is stale")
        self.chat_id = chat_id
        self.fence = fence
        self.current = current


class SiteExists(StoreError):
    pass


class SiteNotFound(StoreError):
    pass


class ShortcutTaken(StoreError):
    """A canned response with this shortcut exists already where the new one would go (the shared ones,
    or the same agent's own). Nothing was written."""


class CannedNotFound(StoreError):
    pass


class Appended:
    """What `Store.append` did: the events as stored, the chat after the change, and whether anything was
    written (False when an event's ``client_id`` was already in the log: the stored event is returned and
    nothing else happened). ``backend`` is the chat's contact center, ``site`` its site (the consoles see
    only the chats of the sites their people see: widget_server/roles.py).

    ``chat`` may be built when first read (``Appended.later``): a visitor's message needs only its event
    and the chat's contact center, and decoding the chat's row for every message (its JSON columns, two
    dataclasses) was a tenth of the server's CPU in a burst."""

    __slots__ = ("_build", "_chat", "backend", "events", "new", "site", "team")

    def __init__(self, chat: Chat, events: list[Event], new: bool) -> None:
        self._chat: Chat | None = chat
        self._build: Callable[[], Chat] | None = None
        self.backend = chat.backend
        self.site = chat.site
        self.team = chat.team
        self.events = events
        self.new = new

    @classmethod
    def later(
        cls, build: Callable[[], Chat], backend: str, site: str, events: list[Event], team: str | None = None
    ) -> Appended:
        """A new append whose chat is ``build()``, called when ``chat`` is first read; ``team``: the
        chat's (``Chat.team``) after the append."""
        appended = cls.__new__(cls)
        appended._chat, appended._build = None, build
        appended.backend, appended.site, appended.events, appended.new = backend, site, events, True
        appended.team = team
        return appended

    @property
    def chat(self) -> Chat:
        if self._chat is None:
            assert self._build is not None
            self._chat, self._build = self._build(), None
        return self._chat


@dataclass(frozen=True)
class StoreFigures:
    """What only the store knows, for the metrics: the open chats by contact center and state, and the
    outbox's items not yet sent (how many, and when the oldest was queued, epoch ms)."""

    open_chats: dict[tuple[str, str], int]
    outbox_waiting: int
    outbox_oldest: int | None


class Store(Protocol):
    async def close(self) -> None: ...

    async def check_writable(self) -> None:
        """Write once, changing nothing (for readiness); raises what a write would raise."""
        ...

    # --- chats and their logs -------------------------------------------------------------------------

    async def create_chat(
        self, chat: Chat, events: Sequence[NewEvent], outbox: Sequence[OutboxItem] = ()
    ) -> Appended:
        """Store a new chat, its first events and what is to be forwarded about it (``outbox``; their
        ids are given by the store) in one transaction. If the site already has a chat with the same
        ``start_id``, store nothing and return that one (``new`` is False)."""
        ...

    async def find_by_backend_ref(self, site: str, backend_ref: str) -> Chat | None:
        """The site's chat that has this id at its contact center (for webhooks), the newest if several."""
        ...

    async def find_started(self, site: str, start_id: str) -> Chat | None:
        """The site's chat that a `start` with this client id created, if any."""
        ...

    async def append(
        self,
        chat_id: str,
        events: Sequence[NewEvent],
        *,
        changes: dict[str, Any] | None = None,
        require_states: Sequence[str] | None = None,
        fence: int | None = None,
        at_most: tuple[str, int] | None = None,
        room_for: tuple[str, int] | None = None,
    ) -> Appended:
        """Append events to a chat's log and apply ``changes`` to the chat, all or nothing, durable when
        it returns.

        Sequence numbers continue the chat's log without gaps, however many processes append at once; each
        event carries how many agents-only events come before it (``hidden_before``), and the chat how many
        it holds (``hidden_events``), so that the visitor's numbering has no gaps either (model.py). With
        ``require_states`` the append happens only when the chat is in one of them, else ``WrongState``.
        Unknown chat: ``ChatNotFound``. ``changes`` may set ``state``, ``agent``, ``agent_name``,
        ``ended_at``, ``backend_ref`` and ``backend_state``. The chat's ``preview`` follows its last
        message.

        ``fence``: the fencing token of the writer that owns the chat's poller. The append happens only
        when it is at least the chat's (and then becomes the chat's), else ``Fenced``; checked before
        anything else, so a stale owner learns it even when its event is already in the log.

        ``at_most=(kind, n)``: the append happens only when the chat would then hold at most ``n`` events
        of that kind, else ``LimitReached``; counted inside the append's transaction, so that writers
        racing on one chat (in any process) cannot pass the limit together.

        ``room_for=(agent, capacity)``: the append happens only when ``agent`` holds fewer than
        ``capacity`` active chats (other than this one), else ``NoRoom``; counted inside the transaction
        under a lock of that agent, so that writers giving them different chats at once (in any process)
        cannot pass their capacity together (round robin, widget_server/assignment.py).
        """
        ...

    async def update_chat(self, chat_id: str, changes: dict[str, Any], *, fence: int | None = None) -> None:
        """Change a chat's fields without an event (an adapter's cursor, the visitor's details, ``meta``,
        ``deleted_at``). ``fence`` as in ``append``: a stale one raises ``Fenced`` and writes nothing."""
        ...

    async def get_chat(self, chat_id: str) -> Chat | None: ...

    async def agent_read(self, chat_id: str, seq: int) -> int | None:
        """An agent has read the chat's log up to ``seq`` (the log's numbering, as consoles see it): keep
        how far, in the visitor's numbering (``Chat.read_seq``), never moving back, and return the new
        mark; None when it did not move (already as far, or nothing to read). A ``seq`` beyond the log
        counts as its end. ``ChatNotFound`` for no such chat. One statement: agents in any process may
        read the same chat at once."""
        ...

    async def events_after(self, chat_id: str, after: int, limit: int | None = None) -> list[Event]:
        """The chat's events with ``seq > after``, in order: the whole log, as agents see it."""
        ...

    async def visitor_events_after(self, chat_id: str, after: int) -> list[Event]:
        """The events the chat's visitor receives (no agents-only kind, ``model.AGENTS_ONLY``) with
        ``visitor_seq > after``, in order; ``after`` counts as the visitor does (model.py)."""
        ...

    async def list_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 1000,
        newest_first: bool = False,
        backends: Sequence[str] | None = None,
    ) -> list[Chat]:
        """Chats oldest first (or newest first), filtered by site, state and contact center; deleted ones
        are left out."""
        ...

    async def count_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        up_to: Chat | None = None,
    ) -> int:
        """How many chats ``list_chats`` would list (without its limit); with ``up_to``, only those
        listed before that chat, and the chat itself."""
        ...

    async def figures(self) -> StoreFigures: ...

    async def count_recent_chats(self, site: str, ip: str, since: int) -> int:
        """How many chats this address started on the site since ``since`` (epoch ms)."""
        ...

    # --- the outbox ----------------------------------------------------------------------------------

    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        """Pending items due by ``now`` (epoch ms), oldest first."""
        ...

    async def claim_outbox(
        self, target: str, now: int, lease_ms: int, owner: str, limit: int = 50
    ) -> list[OutboxItem]:
        """Take the due items of ``target`` for ``lease_ms``: no other process gets them until the
        lease ends. Items whose earlier claim ran out unfinished come back marked ``ambiguous``."""
        ...

    async def next_outbox_due(self) -> int | None:
        """When the next pending item is due, if any."""
        ...

    async def list_outbox(self, chat_id: str | None = None, limit: int = 100) -> list[OutboxItem]: ...

    async def update_outbox(self, item_id: int, changes: dict[str, Any], *, owner: str | None = None) -> bool:
        """Change an outbox item's ``due_at``, ``attempts``, ``state``, ``last_error``, ``done_at``,
        ``remote_id`` or ``ambiguous``; True when it was changed. With ``owner`` (the claimer's name given
        to ``claim_outbox``), only while the item is still claimed by that owner (state ``sending``): after
        another process reclaimed it, False and nothing written."""
        ...

    # --- sites, the audit log, API tokens -------------------------------------------------------------

    async def sites_version(self) -> int:
        """A counter that every change of a stored site increases: a cheap question "did anything
        change?" that every server process sharing the database can ask."""
        ...

    async def list_sites(self) -> list[StoredSite]: ...

    async def change_site(
        self, site_id: str, settings: dict[str, Any] | None, audit: AuditEntry, *, create: bool = False
    ) -> int:
        """Create (``create``), replace or delete (``settings`` None) a stored site, record the audit
        entry and increase the sites version, in one transaction; return the new version. A create of
        an existing id raises ``SiteExists``, a change of a missing one ``SiteNotFound``."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def list_audit(
        self, limit: int = 100, before: int | None = None, target: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; ``before`` an entry id, for paging; ``target`` only entries about it (a site)."""
        ...

    async def add_token(self, token: ApiToken, audit: AuditEntry) -> None: ...

    async def find_token(self, token_hash: str) -> ApiToken | None: ...

    async def list_tokens(self) -> list[ApiToken]: ...

    async def revoke_token(self, name: str, audit: AuditEntry) -> bool: ...

    async def token_used(self, token_id: str, at: int) -> None: ...

    # --- people ---------------------------------------------------------------------------------------

    async def get_user(self, name: str) -> User | None: ...

    async def put_user(self, user: User) -> None:
        """Create or replace a user. A new user gets ``user.status``; a replaced one keeps the status it
        has (a password change or a removal of sessions does not change whether they are online)."""
        ...

    async def delete_user(self, name: str) -> bool: ...

    async def list_users(self) -> list[User]: ...

    async def set_user_status(self, name: str, status: str) -> bool:
        """Store the status the user chose (``model.AGENT_STATUSES``); False if there is no such user."""
        ...

    # --- the history API ---

    async def get_chats(self, chat_ids: Sequence[str]) -> dict[str, Chat]:
        """The chats with these ids that exist, deleted ones included, by id."""
        ...

    async def events_of_chats(
        self, chat_ids: Sequence[str], kinds: Sequence[str] | None = None
    ) -> dict[str, list[Event]]:
        """The events of these chats (of these kinds only, if given), each chat's in ``seq`` order, by chat
        id; a chat without such events is absent."""
        ...

    async def find_chat_keys(
        self,
        *,
        created: tuple[int | None, int | None] = (None, None),
        ended: tuple[int | None, int | None] | None = None,
        types: Sequence[str] | None = None,
        rating: str | None = None,
        email: str | None = None,
        words: Sequence[tuple[str, str]] = (),
        sites: Sequence[str] | None = None,
        before: tuple[int, str] | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[tuple[int, str]]:
        """The ``(created_at, id)`` of chats that are not deleted, newest first, at most ``limit``.

        Exact conditions: ``created`` and ``ended`` are ``[from, until)`` in epoch ms, ``None`` an open end
        (``ended`` given: the chat must have ended); ``types`` the chat types allowed; ``rating`` the
        ``meta`` rating. Loose conditions, which keep every chat that may match and some that do not (the
        caller decides those exactly): ``email``, the visitor's email equal to it ignoring case; ``words``,
        ``(place, word)`` pairs, the case-folded word occurring in ``"visitor"`` (the visitor's name),
        ``"agents"`` (agents' names) or ``"any"`` (those, the visitor's email, and the messages).
        ``sites``: only chats of these sites (none: no chat).

        Keyset paging: ``before`` keeps only chats older than that key, ``after`` only newer ones; with
        ``after``, the ``limit`` chats nearest to it are returned (still newest first).
        """
        ...

    async def edit_chat(
        self,
        chat_id: str,
        *,
        visitor: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        audit: AuditEntry | None = None,
    ) -> Chat:
        """Set some of the visitor's fields (``Visitor.to_json`` names) and ``meta`` keys of a chat that is
        not deleted, and record the audit entry, in one transaction; return the chat as changed. A missing or
        deleted chat: ``ChatNotFound``, nothing written."""
        ...

    async def delete_chats(self, chat_ids: Sequence[str], audit: AuditEntry) -> dict[str, str]:
        """Soft-delete chats (``deleted_at`` = ``audit.at``) in one transaction, recording ``audit`` once per
        chat deleted with the chat's id as its target. Returns each id's outcome: ``"deleted"``,
        ``"already_deleted"`` or ``"not_found"``."""
        ...

    # --- the agent console's helpers: a visitor's other chats, canned responses ---------------------------

    async def find_visitor_chats(
        self,
        site: str,
        *,
        key: str | None,
        email: str | None,
        before: tuple[int, str] | None = None,
        limit: int = 20,
    ) -> list[Chat]:
        """The site's chats, not deleted, of the visitor with this ``key`` (``Visitor.key``) or this
        ``email`` (equal ignoring case), newest first, at most ``limit``; ``before`` a ``(created_at, id)``
        key: only chats older than it. Each condition is answered from an index of its own."""
        ...

    async def first_messages(self, chat_ids: Sequence[str]) -> dict[str, Event]:
        """Each chat's first ``message`` event, by chat id; a chat without one is absent."""
        ...

    async def list_canned(self, owner: str) -> list[CannedResponse]:
        """The shared canned responses and ``owner``'s own, by shortcut (shared first where two have
        the same one)."""
        ...

    async def get_canned(self, canned_id: str) -> CannedResponse | None: ...

    async def count_canned(self, owner: str | None) -> int:
        """How many canned responses ``owner`` has (None: how many shared ones there are)."""
        ...

    async def save_canned(
        self, response: CannedResponse, *, create: bool, audit: AuditEntry | None = None
    ) -> None:
        """Create (``create``) or replace a canned response, and record ``audit`` if given, in one
        transaction. Its shortcut must be free among the shared ones (a shared response) or its owner's
        (a personal one), else ``ShortcutTaken``; a replace of a missing one raises ``CannedNotFound``.
        ``owner`` and ``created_at`` never change on a replace."""
        ...

    async def delete_canned(self, canned_id: str, audit: AuditEntry | None = None) -> bool:
        """Delete a canned response (and record ``audit``); False when there was none."""
        ...


def sqlite_path(url: str, data_dir: Path) -> Path | None:
    """The file of a ``sqlite:`` store URL, or None for another store."""
    scheme, _, rest = url.partition(":")
    return data_dir / (rest.removeprefix("///") or "widget.db") if scheme == "sqlite" else None


async def open_store(url: str, data_dir: Path) -> Store:
    """``sqlite:///path/to/file.db`` (relative to the data dir when not absolute), or ``sqlite:`` for the
    default file ``widget.db`` in the data dir; ``postgresql://user:password@host:port/database`` (or
    ``postgres://``) for a PostgreSQL database shared by several processes (docs/configuration.md).
    The schema is migrated to the current version before the store is returned."""
    scheme, _, rest = url.partition(":")
    if scheme == "sqlite":
        from widget_server.store.sqlite import SQLiteStore

        return await SQLiteStore.open(data_dir / (rest.removeprefix("///") or "widget.db"))
    if scheme in ("postgresql", "postgres"):
        # Imported here: asyncpg is needed only when PostgreSQL is chosen (the "cluster" extra).
        try:
            from widget_server.store.postgres import PostgresStore
        except ModuleNotFoundError as error:
            raise StoreError(
                "the PostgreSQL store needs the cluster extra: pip install 'widget_server[cluster]'"
                f" ({error})"
            ) from None

        return await PostgresStore.open(url)
    raise StoreError(
        f"unknown store URL scheme {scheme!r}: use sqlite: (a file in the data dir) or"
        " postgresql://user@host/database"
    )
