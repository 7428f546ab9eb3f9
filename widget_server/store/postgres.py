"""The store on PostgreSQL, for several server processes and hosts sharing one database.

The database is the truth: a chat's ``seq`` is assigned in the append's own transaction while it holds
the chat's row lock (``SELECT ... FOR UPDATE``), so appends to one chat from any number of processes are
serialised there, and the client-id lookup that makes an append idempotent runs under the same lock.
Each write commits before its method returns. asyncpg is imported only when this module is, that is,
when a ``postgresql://`` store is configured.

Split by concern like the SQLite store: chats and their logs here; sites, audit, tokens and people in
postgres_admin.py; the outbox in postgres_outbox.py; the history API's queries in postgres_history.py;
the agent console's helpers (a visitor's other chats, canned responses) in postgres_console.py; the pool
and shared helpers in postgres_base.py; the schema in postgres_schema.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from widget_server.model import (
    ACTIVE,
    AGENTS_ONLY,
    MESSAGE,
    OPEN_STATES,
    Chat,
    Event,
    NewEvent,
    OutboxItem,
    now_ms,
    preview_of,
)
from widget_server.store import (
    Appended,
    ChatNotFound,
    Fenced,
    LimitReached,
    NoRoom,
    StoreError,
    StoreFigures,
    WrongState,
)
from widget_server.store.postgres_admin import AdminTables
from widget_server.store.postgres_base import Params
from widget_server.store.postgres_console import ConsoleQueries
from widget_server.store.postgres_files import PostgresFiles
from widget_server.store.postgres_history import HistoryQueries
from widget_server.store.postgres_outbox import OutboxTables
from widget_server.store.postgres_schema import migrate
from widget_server.store.rows import (
    BACKEND,
    CHAT_COLUMNS,
    EVENT_COLUMNS,
    HIDDEN_EVENTS,
    LAST_SEQ,
    SITE,
    STATE,
    TEAM,
    chat_of,
    dumps,
    encode_changes,
    event_of,
)

#: Connections per process unless the URL says otherwise (``?pool_max=``): PostgreSQL's default
#: ``max_connections`` is 100, shared by every process of the cluster.
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0  # seconds; an unreachable server at start is an error, not a hang
# Seconds a statement may take: past it the caller gets an error rather than waiting on a database that
# stopped answering (a network partition drops packets; nothing would ever say the connection is gone).
COMMAND_TIMEOUT = 10.0

_FENCE = len(CHAT_COLUMNS.split(","))  # the column after the chat's own, in _append's query


def pool_settings(url: str) -> tuple[str, int]:
    """The URL for asyncpg without our own query parameter ``pool_max``, and the pool size."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    pool_max = POOL_MAX
    for name, value in query:
        if name == "pool_max":
            if not value.isdigit() or int(value) < 1:
                raise StoreError(
                    f"the store URL's pool_max must be a whole number of at least 1, not {value!r}"
                )
            pool_max = int(value)
    rest = urlencode([(name, value) for name, value in query if name != "pool_max"])
    return urlunsplit(parts._replace(query=rest)), pool_max


def without_password(url: str) -> str:
    """The URL fit for a log line or an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class PostgresStore(ConsoleQueries, HistoryQueries, OutboxTables, AdminTables):
    """The store (widget_server/store/__init__.py), its parts by concern: chats and their logs here, the
    rest in the mixins; everything through the pool of ``Pooled``."""

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        dsn, pool_max = pool_settings(url)
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=pool_max, timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT
            )
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(
                f"cannot connect to the PostgreSQL store at {without_password(url)}:"
                f" {error or type(error).__name__}"
            ) from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @property
    def files(self) -> PostgresFiles:
        """Attachments' bytes in this database, shared by every process (attachments.open_files)."""
        return PostgresFiles(self._pool)

    # --- chats ----------------------------------------------------------------------------------------

    async def create_chat(
        self, chat: Chat, events: Sequence[NewEvent], outbox: Sequence[OutboxItem] = ()
    ) -> Appended:
        async with self._pool.acquire() as conn, conn.transaction():
            # A second start with the same client id, in this process or another, waits here for the
            # first one's commit and then finds its chat.
            inserted = await conn.fetchval(
                f"INSERT INTO chats ({CHAT_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, NULL, $12, $13, $14, $15,"
                " NULL, 0, 0, $16)"
                " ON CONFLICT (site, start_id) WHERE start_id IS NOT NULL DO NOTHING RETURNING id",
                chat.id,
                chat.site,
                chat.backend,
                chat.state,
                dumps(chat.visitor.to_json()),
                chat.created_at,
                chat.ended_at,
                chat.agent,
                chat.agent_name,
                chat.backend_ref,
                dumps(chat.backend_state),
                chat.start_id,
                chat.visitor.ip,
                chat.type,
                dumps(chat.meta),
                chat.team,
            )
            if inserted is None:
                row = await conn.fetchrow(
                    f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = $1 AND start_id = $2",
                    chat.site,
                    chat.start_id,
                )
                return Appended(chat_of(row), [], new=False)
            if outbox:
                await conn.executemany(
                    "INSERT INTO outbox (target, site, chat_id, payload, created_at, due_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    [
                        (item.target, item.site, chat.id, dumps(item.payload), item.created_at, item.due_at)
                        for item in outbox
                    ],
                )
            return await _append(conn, chat.id, events, None, None, None)

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
        encoded = encode_changes(changes or {})  # a bad change is refused before the transaction
        async with self._pool.acquire() as conn, conn.transaction():
            return await _append(
                conn, chat_id, events, changes, require_states, fence, encoded, at_most, room_for
            )

    async def find_by_backend_ref(self, site: str, backend_ref: str) -> Chat | None:
        row = await self._pool.fetchrow(
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = $1 AND backend_ref = $2"
            " ORDER BY created_at DESC LIMIT 1",
            site,
            backend_ref,
        )
        return chat_of(row) if row else None

    async def find_started(self, site: str, start_id: str) -> Chat | None:
        row = await self._pool.fetchrow(
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = $1 AND start_id = $2", site, start_id
        )
        return chat_of(row) if row else None

    async def update_chat(self, chat_id: str, changes: dict[str, Any], *, fence: int | None = None) -> None:
        encoded = encode_changes(changes)
        p = Params(chat_id)
        sets = [f"{column} = {p(value)}" for column, value in encoded.items()]
        if fence is None:
            status = await self._pool.execute(f"UPDATE chats SET {', '.join(sets)} WHERE id = $1", *p.values)
            if status == "UPDATE 0":
                raise ChatNotFound(chat_id)
            return
        sets.append(f"backend_fence = {p(fence)}")
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval("SELECT backend_fence FROM chats WHERE id = $1 FOR UPDATE", chat_id)
            if current is None:
                raise ChatNotFound(chat_id)
            if fence < current:
                raise Fenced(chat_id, fence, current)
            await conn.execute(f"UPDATE chats SET {', '.join(sets)} WHERE id = $1", *p.values)

    async def get_chat(self, chat_id: str) -> Chat | None:
        row = await self._pool.fetchrow(f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1", chat_id)
        return chat_of(row) if row else None

    async def agent_read(self, chat_id: str, seq: int) -> int | None:
        # As the SQLite store's: the row lock of the UPDATE makes a second reader re-check the mark.
        seen = await self._pool.fetchval(
            "UPDATE chats SET read_seq = r.seen FROM ("
            " SELECT seq - hidden_before - (CASE WHEN kind = ANY($3::text[]) THEN 1 ELSE 0 END) AS seen"
            " FROM events WHERE chat_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1"
            ") AS r WHERE chats.id = $1 AND chats.read_seq < r.seen RETURNING chats.read_seq",
            chat_id,
            seq,
            sorted(AGENTS_ONLY),
        )
        if seen is not None:
            return int(seen)
        if await self._pool.fetchval("SELECT 1 FROM chats WHERE id = $1", chat_id) is None:
            raise ChatNotFound(chat_id)
        return None

    async def events_after(self, chat_id: str, after: int, limit: int | None = None) -> list[Event]:
        rows = await self._pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            chat_id,
            after,
            limit,  # NULL: no limit
        )
        return [event_of(chat_id, row) for row in rows]

    async def visitor_events_after(self, chat_id: str, after: int) -> list[Event]:
        # seq >= visitor seq: "seq > after" narrows to the chat's newer events through the primary key.
        rows = await self._pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = $1 AND seq > $2"
            " AND seq - hidden_before > $2 AND kind <> ALL($3::text[]) ORDER BY seq",
            chat_id,
            after,
            sorted(AGENTS_ONLY),
        )
        return [event_of(chat_id, row) for row in rows]

    async def list_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 1000,
        newest_first: bool = False,
        backends: Sequence[str] | None = None,
    ) -> list[Chat]:
        p = Params()
        clause = _chat_filter(p, sites, states, backends)
        order = "DESC" if newest_first else "ASC"
        rows = await self._pool.fetch(
            f"SELECT {CHAT_COLUMNS} FROM chats {clause}"
            f" ORDER BY created_at {order}, id {order} LIMIT {p(limit)}",
            *p.values,
        )
        return [chat_of(row) for row in rows]

    async def count_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        up_to: Chat | None = None,
    ) -> int:
        p = Params()
        clause = _chat_filter(p, sites, states)
        if up_to is not None:
            clause += f" AND (created_at, id) <= ({p(up_to.created_at)}, {p(up_to.id)})"
        return int(await self._pool.fetchval(f"SELECT count(*) FROM chats {clause}", *p.values))

    async def figures(self) -> StoreFigures:
        rows = await self._pool.fetch(
            "SELECT backend, state, count(*) AS n FROM chats WHERE state = ANY($1::text[])"
            " AND deleted_at IS NULL GROUP BY backend, state",
            list(OPEN_STATES),
        )
        outbox = await self._pool.fetchrow(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox"
            " WHERE state IN ('pending', 'sending')"
        )
        return StoreFigures(
            {(r["backend"], r["state"]): int(r["n"]) for r in rows}, int(outbox["n"]), outbox["oldest"]
        )

    async def count_recent_chats(self, site: str, ip: str, since: int) -> int:
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM chats WHERE site = $1 AND ip = $2 AND created_at >= $3", site, ip, since
            )
        )


def _chat_filter(
    p: Params,
    sites: Sequence[str] | None,
    states: Sequence[str] | None,
    backends: Sequence[str] | None = None,
) -> str:
    where = ["deleted_at IS NULL"]
    if backends is not None:
        where.append(f"backend = ANY({p(list(backends))}::text[])")
    if states is not None:
        where.append(f"state = ANY({p(list(states))}::text[])")
    if sites is not None:
        where.append(f"site = ANY({p(list(sites))}::text[])")
    return f"WHERE {' AND '.join(where)}"


async def _append(
    conn: Any,
    chat_id: str,
    events: Sequence[NewEvent],
    changes: dict[str, Any] | None,
    require_states: Sequence[str] | None,
    fence: int | None,
    encoded: dict[str, Any] | None = None,
    at_most: tuple[str, int] | None = None,
    room_for: tuple[str, int] | None = None,
) -> Appended:
    """The append, on ``conn`` inside its transaction (the chat's row locked: appends to one chat take
    turns)."""
    row = await conn.fetchrow(
        f"SELECT {CHAT_COLUMNS}, backend_fence FROM chats WHERE id = $1 FOR UPDATE", chat_id
    )
    if row is None:
        raise ChatNotFound(chat_id)
    if fence is not None and fence < row[_FENCE]:
        raise Fenced(chat_id, fence, row[_FENCE])
    client_ids = [new.client_id for new in events if new.client_id is not None]
    if client_ids:
        found = {
            found[5]: found
            for found in await conn.fetch(
                f"SELECT {EVENT_COLUMNS}, client_id FROM events"
                " WHERE chat_id = $1 AND client_id = ANY($2::text[])",
                chat_id,
                client_ids,
            )
        }
        for client_id in client_ids:
            if client_id in found:
                return Appended(chat_of(row), [event_of(chat_id, found[client_id])], new=False)
    if require_states is not None and row[STATE] not in require_states:
        raise WrongState(chat_of(row))
    if at_most is not None:
        kind, limit = at_most
        held = await conn.fetchval(
            "SELECT COUNT(*) FROM events WHERE chat_id = $1 AND kind = $2", chat_id, kind
        )
        if held + sum(1 for new in events if new.kind == kind) > limit:
            raise LimitReached(chat_of(row), kind, limit)
    if room_for is not None:
        agent, capacity = room_for
        # Writers giving this agent chats take turns (a lock of the agent, held to the commit; taken
        # after the chat's row and never before another, so no deadlock): each one's count, a statement
        # of its own under READ COMMITTED, sees the chats the others gave them.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('agent:' || $1, 0))", agent)
        active = await conn.fetchval(
            "SELECT COUNT(*) FROM chats WHERE state = $1 AND agent = $2 AND id <> $3 AND deleted_at IS NULL",
            ACTIVE,
            agent,
            chat_id,
        )
        if active >= capacity:
            raise NoRoom(chat_of(row), agent, capacity)
    at = now_ms()
    last_seq = row[LAST_SEQ]
    hidden = row[HIDDEN_EVENTS]
    stored = []
    for n, new in enumerate(events, 1):
        stored.append(Event(chat_id, last_seq + n, at, new.kind, new.data, hidden))
        if new.kind in AGENTS_ONLY:
            hidden += 1
    if events:
        await conn.execute(
            "INSERT INTO events (chat_id, seq, at, kind, data, client_id, hidden_before)"
            " SELECT $1, seq, $2, kind, data, client_id, hidden_before"
            " FROM unnest($3::integer[], $4::text[], $5::text[], $6::text[], $7::integer[])"
            " AS e (seq, kind, data, client_id, hidden_before)",
            chat_id,
            at,
            [event.seq for event in stored],
            [new.kind for new in events],
            [dumps(new.data) for new in events],
            [new.client_id for new in events],
            [event.hidden_before for event in stored],
        )
    seq = last_seq + len(events)
    changes = dict(changes or {})
    columns = dict(encoded if encoded is not None else encode_changes(changes))
    messages = [event for event in stored if event.kind == MESSAGE]
    if messages:
        changes["preview"] = preview_of(messages[-1])
        columns["preview"] = dumps(changes["preview"])
    if fence is not None:
        columns["backend_fence"] = fence
    if hidden != row[HIDDEN_EVENTS]:
        changes["hidden_events"] = columns["hidden_events"] = hidden
    p = Params(chat_id, seq)
    sets = "".join(f", {column} = {p(value)}" for column, value in columns.items())
    await conn.execute(f"UPDATE chats SET last_seq = $2{sets} WHERE id = $1", *p.values)
    return Appended.later(
        lambda: replace(chat_of(row), last_seq=seq, **changes),
        row[BACKEND],
        row[SITE],
        stored,
        changes.get("team", row[TEAM]),
    )
