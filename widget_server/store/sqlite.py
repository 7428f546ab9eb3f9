"""The embedded store: one SQLite file in WAL mode.

SQLite allows one writer at a time, and every commit is a disk sync when ``synchronous=FULL``. So all
writes go through one thread that commits whatever has queued up while the previous commit ran, in one
transaction (group commit): under load, hundreds of appends share one sync. Each write runs inside its
own savepoint, so one failing write (a chat in the wrong state) does not undo the others in its batch.
Reads use a second connection in a second thread and see every committed write.

This batching is written by hand because the asyncio wrappers for sqlite3 (aiosqlite) run each statement
as its own round trip and commit, which costs a sync per append.

The store is split by concern: chats and their logs here; sites, audit, tokens and people in
sqlite_admin.py; the outbox in sqlite_outbox.py; the history API's queries in sqlite_history.py; the agent
console's helpers (a visitor's other chats, canned responses) in sqlite_console.py; the connections, the
two doors and row decoding in sqlite_base.py.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

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
    StoreFigures,
    WrongState,
)
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
from widget_server.store.sqlite_admin import AdminTables
from widget_server.store.sqlite_base import Doors
from widget_server.store.sqlite_console import ConsoleQueries
from widget_server.store.sqlite_history import HistoryQueries
from widget_server.store.sqlite_outbox import OutboxTables
from widget_server.store.sqlite_schema import migrate

# The furthest event up to the agent's seq, counted as its visitor counts (an agents-only event is not
# one of theirs), kept only if it moves the mark forward.
_AGENT_READ = (
    "UPDATE chats SET read_seq = r.seen FROM ("
    f" SELECT e.seq - e.hidden_before - (e.kind IN ({', '.join('?' * len(AGENTS_ONLY))})) AS seen"
    " FROM events e WHERE e.chat_id = ? AND e.seq <= ? ORDER BY e.seq DESC LIMIT 1"
    ") AS r WHERE chats.id = ? AND chats.read_seq < r.seen RETURNING chats.read_seq"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # First: switching a new file to WAL takes a lock that several processes starting at once contend for.
    conn.execute("PRAGMA busy_timeout = 10000")
    _switch_to_wal(conn)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, retried: when two connections both hold the shared lock and want
    the exclusive one, SQLite fails one at once instead of calling its busy handler (that would deadlock),
    so the busy timeout alone does not cover processes starting at once on a new file."""
    deadline = time.monotonic() + 10
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


class SQLiteStore(ConsoleQueries, HistoryQueries, OutboxTables, AdminTables, Doors):
    """The store (widget_server/store/__init__.py), its parts by concern: chats and their logs here, the
    rest in the mixins; everything through the two doors of ``Doors``."""

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        path.parent.mkdir(parents=True, exist_ok=True)

        def setup() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            writer = _connect(path)
            migrate(writer)
            return writer, _connect(path)

        writer, reader = await asyncio.to_thread(setup)
        return cls(path, writer, reader)

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher
        self._write_thread.shutdown(wait=True)
        self._read_thread.shutdown(wait=True)
        self._writer.close()
        self._reader.close()

    # --- chats ----------------------------------------------------------------------------------------

    async def create_chat(
        self, chat: Chat, events: Sequence[NewEvent], outbox: Sequence[OutboxItem] = ()
    ) -> Appended:
        def run(conn: sqlite3.Connection) -> Appended:
            if chat.start_id is not None:
                found = conn.execute(
                    f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = ? AND start_id = ?",
                    (chat.site, chat.start_id),
                ).fetchone()
                if found:
                    return Appended(chat_of(found), [], new=False)
            conn.execute(
                f"INSERT INTO chats ({CHAT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, 0, 0, ?)",
                (
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
                ),
            )
            for item in outbox:
                conn.execute(
                    "INSERT INTO outbox (target, site, chat_id, payload, created_at, due_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item.target, item.site, chat.id, dumps(item.payload), item.created_at, item.due_at),
                )
            return _append(conn, chat.id, events, None, None)

        return await self._write(run)

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
        return await self._write(
            lambda conn: _append(conn, chat_id, events, changes, require_states, fence, at_most, room_for)
        )

    async def find_by_backend_ref(self, site: str, backend_ref: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(
                f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = ? AND backend_ref = ?"
                " ORDER BY created_at DESC",
                (site, backend_ref),
            ).fetchone()
            return chat_of(row) if row else None

        return await self._read(run)

    async def find_started(self, site: str, start_id: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(
                f"SELECT {CHAT_COLUMNS} FROM chats WHERE site = ? AND start_id = ?", (site, start_id)
            ).fetchone()
            return chat_of(row) if row else None

        return await self._read(run)

    async def update_chat(self, chat_id: str, changes: dict[str, Any], *, fence: int | None = None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            sets, values = _changes_sql(changes)
            if fence is not None:
                _check_fence(conn, chat_id, fence)
                sets, values = f"{sets + ', ' if sets else ''}backend_fence = ?", [*values, fence]
            cursor = conn.execute(f"UPDATE chats SET {sets} WHERE id = ?", (*values, chat_id))
            if cursor.rowcount == 0:
                raise ChatNotFound(chat_id)

        await self._write(run)

    async def get_chat(self, chat_id: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
            return chat_of(row) if row else None

        return await self._read(run)

    async def agent_read(self, chat_id: str, seq: int) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(_AGENT_READ, (*sorted(AGENTS_ONLY), chat_id, seq, chat_id)).fetchone()
            if row is not None:
                return int(row[0])
            if conn.execute("SELECT 1 FROM chats WHERE id = ?", (chat_id,)).fetchone() is None:
                raise ChatNotFound(chat_id)
            return None

        return await self._write(run)

    async def events_after(self, chat_id: str, after: int, limit: int | None = None) -> list[Event]:
        def run(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (chat_id, after, -1 if limit is None else limit),
            ).fetchall()
            return [event_of(chat_id, row) for row in rows]

        return await self._read(run)

    async def visitor_events_after(self, chat_id: str, after: int) -> list[Event]:
        hidden = ", ".join("?" * len(AGENTS_ONLY))

        def run(conn: sqlite3.Connection) -> list[Event]:
            # seq >= visitor seq: "seq > after" narrows to the chat's newer events through the primary key.
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = ? AND seq > ?"
                f" AND seq - hidden_before > ? AND kind NOT IN ({hidden}) ORDER BY seq",
                (chat_id, after, after, *sorted(AGENTS_ONLY)),
            ).fetchall()
            return [event_of(chat_id, row) for row in rows]

        return await self._read(run)

    async def list_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 1000,
        newest_first: bool = False,
        backends: Sequence[str] | None = None,
    ) -> list[Chat]:
        def run(conn: sqlite3.Connection) -> list[Chat]:
            clause, values = _chat_filter(sites, states, backends)
            order = "DESC" if newest_first else "ASC"
            rows = conn.execute(
                f"SELECT {CHAT_COLUMNS} FROM chats {clause} ORDER BY created_at {order}, id {order} LIMIT ?",
                (*values, limit),
            ).fetchall()
            return [chat_of(row) for row in rows]

        return await self._read(run)

    async def count_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        up_to: Chat | None = None,
    ) -> int:
        def run(conn: sqlite3.Connection) -> int:
            clause, values = _chat_filter(sites, states)
            if up_to is not None:
                clause += " AND (created_at < ? OR (created_at = ? AND id <= ?))"
                values += [up_to.created_at, up_to.created_at, up_to.id]
            return int(conn.execute(f"SELECT COUNT(*) FROM chats {clause}", values).fetchone()[0])

        return await self._read(run)

    async def figures(self) -> StoreFigures:
        def run(conn: sqlite3.Connection) -> StoreFigures:
            rows = conn.execute(
                "SELECT backend, state, COUNT(*) FROM chats WHERE state IN (?, ?) AND deleted_at IS NULL"
                " GROUP BY backend, state",
                OPEN_STATES,
            ).fetchall()
            waiting, oldest = conn.execute(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')"
            ).fetchone()
            return StoreFigures({(b, s): int(n) for b, s, n in rows}, int(waiting), oldest)

        return await self._read(run)

    async def count_recent_chats(self, site: str, ip: str, since: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM chats WHERE site = ? AND ip = ? AND created_at >= ?", (site, ip, since)
            ).fetchone()
            return int(row[0])

        return await self._read(run)


def _chat_filter(
    sites: Sequence[str] | None, states: Sequence[str] | None, backends: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    where: list[str] = ["deleted_at IS NULL"]
    values: list[Any] = []
    if backends is not None:
        where.append(f"backend IN ({','.join('?' * len(backends))})")
        values.extend(backends)
    if states is not None:
        where.append(f"state IN ({','.join('?' * len(states))})")
        values.extend(states)
    if sites is not None:
        where.append(f"site IN ({','.join('?' * len(sites))})")
        values.extend(sites)
    return f"WHERE {' AND '.join(where)}", values


def _changes_sql(changes: dict[str, Any]) -> tuple[str, list[Any]]:
    encoded = encode_changes(changes)
    return ", ".join(f"{k} = ?" for k in encoded), list(encoded.values())


def _check_fence(conn: sqlite3.Connection, chat_id: str, fence: int) -> None:
    # Inside the write transaction, which holds SQLite's one write lock: nobody moves the fence meanwhile.
    row = conn.execute("SELECT backend_fence FROM chats WHERE id = ?", (chat_id,)).fetchone()
    if row is None:
        raise ChatNotFound(chat_id)
    if fence < row[0]:
        raise Fenced(chat_id, fence, row[0])


def _repeated(conn: sqlite3.Connection, chat_id: str, events: Sequence[NewEvent]) -> Event | None:
    """The stored event with the client id of one of ``events``, if any."""
    for new in events:
        if new.client_id is not None:
            found = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = ? AND client_id = ?",
                (chat_id, new.client_id),
            ).fetchone()
            if found:
                return event_of(chat_id, found)
    return None


def _append(
    conn: sqlite3.Connection,
    chat_id: str,
    events: Sequence[NewEvent],
    changes: dict[str, Any] | None,
    require_states: Sequence[str] | None,
    fence: int | None = None,
    at_most: tuple[str, int] | None = None,
    room_for: tuple[str, int] | None = None,
) -> Appended:
    row = conn.execute(f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
    if row is None:
        raise ChatNotFound(chat_id)
    if fence is not None:
        _check_fence(conn, chat_id, fence)
    # One event to a chat that takes it (a message): its insert finds a repeated client id itself (the
    # unique index), so the common case reads nothing but the chat's row. Otherwise a repeat is looked
    # for first: it is answered even where the write itself would be refused.
    single = (
        len(events) == 1
        and at_most is None
        and room_for is None
        and (require_states is None or row[STATE] in require_states)
    )
    if not single:
        repeated = _repeated(conn, chat_id, events)
        if repeated is not None:
            return Appended(chat_of(row), [repeated], new=False)
    if require_states is not None and row[STATE] not in require_states:
        raise WrongState(chat_of(row))
    if at_most is not None:
        kind, limit = at_most
        (held,) = conn.execute(
            "SELECT COUNT(*) FROM events WHERE chat_id = ? AND kind = ?", (chat_id, kind)
        ).fetchone()
        if held + sum(1 for new in events if new.kind == kind) > limit:
            raise LimitReached(chat_of(row), kind, limit)
    if room_for is not None:  # one writer at a time (the write transaction): counting is enough
        agent, capacity = room_for
        (active,) = conn.execute(
            "SELECT COUNT(*) FROM chats WHERE state = ? AND agent = ? AND id <> ? AND deleted_at IS NULL",
            (ACTIVE, agent, chat_id),
        ).fetchone()
        if active >= capacity:
            raise NoRoom(chat_of(row), agent, capacity)
    at = now_ms()
    stored = []
    seq = row[LAST_SEQ]
    hidden = row[HIDDEN_EVENTS]
    for new in events:
        seq += 1
        inserted = conn.execute(
            "INSERT INTO events (chat_id, seq, at, kind, data, client_id, hidden_before)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (chat_id, client_id) WHERE client_id IS NOT NULL DO NOTHING",
            (chat_id, seq, at, new.kind, dumps(new.data), new.client_id, hidden),
        ).rowcount
        if not inserted:  # a repeated client id (only ``single`` gets here: nothing else was written)
            repeated = _repeated(conn, chat_id, events)
            assert repeated is not None
            return Appended(chat_of(row), [repeated], new=False)
        stored.append(Event(chat_id, seq, at, new.kind, new.data, hidden))
        if new.kind in AGENTS_ONLY:
            hidden += 1
    changes = dict(changes or {})
    messages = [event for event in stored if event.kind == MESSAGE]
    sets, values = _changes_sql(changes) if changes else ("", [])
    if fence is not None:
        sets = f"{sets + ', ' if sets else ''}backend_fence = ?"
        values.append(fence)
    if hidden != row[HIDDEN_EVENTS]:
        changes["hidden_events"] = hidden
        sets = f"{sets + ', ' if sets else ''}hidden_events = ?"
        values.append(hidden)
    if messages:
        changes["preview"] = preview_of(messages[-1])
        sets = f"{sets + ', ' if sets else ''}preview = ?"
        values.append(dumps(changes["preview"]))
    conn.execute(
        f"UPDATE chats SET last_seq = ?{', ' + sets if sets else ''} WHERE id = ?", (seq, *values, chat_id)
    )
    return Appended.later(
        lambda: replace(chat_of(row), last_seq=seq, **changes),
        row[BACKEND],
        row[SITE],
        stored,
        changes.get("team", row[TEAM]),
    )
