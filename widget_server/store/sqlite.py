"""The embedded store: one SQLite file in WAL mode.

SQLite allows one writer at a time, and every commit is a disk sync when ``synchronous=FULL``. So all
writes go through one thread that commits whatever has queued up while the previous commit ran, in one
transaction (group commit): under load, hundreds of appends share one sync. Each write runs inside its
own savepoint, so one failing write (a chat in the wrong state) does not undo the others in its batch.
Reads use a second connection in a second thread and see every committed write.

This batching is written by hand because the asyncio wrappers for sqlite3 (aiosqlite) run each statement
as its own round trip and commit, which costs a sync per append.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from widget_server.model import (
    MESSAGE,
    ApiToken,
    AuditEntry,
    Chat,
    Event,
    NewEvent,
    OutboxItem,
    StoredSite,
    User,
    Visitor,
    now_ms,
    preview_of,
)
from widget_server.store import Appended, ChatNotFound, SiteExists, SiteNotFound, WrongState

T = TypeVar("T")

SCHEMA = [
    # version 1
    """
    CREATE TABLE chats (
        id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        backend TEXT NOT NULL,
        state TEXT NOT NULL,
        visitor TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        ended_at INTEGER,
        agent TEXT,
        agent_name TEXT,
        backend_ref TEXT,
        backend_state TEXT NOT NULL DEFAULT '{}',
        preview TEXT,
        start_id TEXT,
        ip TEXT,
        type TEXT NOT NULL DEFAULT 'chat',
        meta TEXT NOT NULL DEFAULT '{}',
        deleted_at INTEGER
    );
    CREATE INDEX chats_by_state ON chats (state, site, created_at);
    CREATE INDEX chats_by_ip ON chats (site, ip, created_at);
    CREATE INDEX chats_by_time ON chats (created_at, id);
    CREATE INDEX chats_by_backend_ref ON chats (site, backend_ref);
    CREATE UNIQUE INDEX chats_by_start_id ON chats (site, start_id) WHERE start_id IS NOT NULL;
    CREATE TABLE events (
        chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        client_id TEXT,
        PRIMARY KEY (chat_id, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX events_by_client_id ON events (chat_id, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        display_name TEXT NOT NULL,
        session_version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE sites (
        id TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('sites_version', 0);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        address TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        site TEXT NOT NULL,
        chat_id TEXT,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        done_at INTEGER,
        remote_id TEXT,
        ambiguous INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claimed_until INTEGER
    );
    CREATE INDEX outbox_due ON outbox (state, due_at);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at INTEGER,
        last_used_at INTEGER
    );
    """,
]

_CHAT_COLUMNS = (
    "id, site, backend, state, visitor, created_at, last_seq, ended_at, agent, agent_name, backend_ref,"
    " backend_state, preview, start_id, ip, type, meta, deleted_at"
)
_CHANGEABLE = {
    "state",
    "agent",
    "agent_name",
    "ended_at",
    "backend_ref",
    "backend_state",
    "visitor",
    "meta",
    "deleted_at",
}
_JSON_COLUMNS = {"backend_state", "preview", "meta"}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    for number, script in enumerate(SCHEMA[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")


def _chat(row: Sequence[Any]) -> Chat:
    return Chat(
        id=row[0],
        site=row[1],
        backend=row[2],
        state=row[3],
        visitor=Visitor.from_json(json.loads(row[4])),
        created_at=row[5],
        last_seq=row[6],
        ended_at=row[7],
        agent=row[8],
        agent_name=row[9],
        backend_ref=row[10],
        backend_state=json.loads(row[11]),
        preview=json.loads(row[12]) if row[12] else None,
        start_id=row[13],
        # row[14], the visitor's address, is also in ``visitor``: a column of its own for the per-IP limit
        type=row[15],
        meta=json.loads(row[16]),
        deleted_at=row[17],
    )


def _event(chat_id: str, row: Sequence[Any]) -> Event:
    return Event(chat_id, row[0], row[1], row[2], json.loads(row[3]))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SQLiteStore:
    def __init__(self, path: Path, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        path.parent.mkdir(parents=True, exist_ok=True)

        def setup() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            writer = _connect(path)
            _migrate(writer)
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

    # --- the two doors: reads and (batched) writes ----------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, fn, self._reader)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await loop.run_in_executor(self._write_thread, self._run_batch, batch)
                except BaseException as error:  # the commit itself failed: every write in it did
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._flusher = None

    def _run_batch(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> list[Any]:
        conn = self._writer
        outcomes: list[Any] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append(fn(conn))
                except Exception as error:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append(error)
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    # --- chats ----------------------------------------------------------------------------------------

    async def create_chat(
        self, chat: Chat, events: Sequence[NewEvent], outbox: Sequence[OutboxItem] = ()
    ) -> Appended:
        def run(conn: sqlite3.Connection) -> Appended:
            if chat.start_id is not None:
                found = conn.execute(
                    f"SELECT {_CHAT_COLUMNS} FROM chats WHERE site = ? AND start_id = ?",
                    (chat.site, chat.start_id),
                ).fetchone()
                if found:
                    return Appended(_chat(found), [], new=False)
            conn.execute(
                f"INSERT INTO chats ({_CHAT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL)",
                (
                    chat.id,
                    chat.site,
                    chat.backend,
                    chat.state,
                    _dumps(chat.visitor.to_json()),
                    chat.created_at,
                    chat.ended_at,
                    chat.agent,
                    chat.agent_name,
                    chat.backend_ref,
                    _dumps(chat.backend_state),
                    chat.start_id,
                    chat.visitor.ip,
                    chat.type,
                    _dumps(chat.meta),
                ),
            )
            for item in outbox:
                conn.execute(
                    "INSERT INTO outbox (target, site, chat_id, payload, created_at, due_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item.target, item.site, chat.id, _dumps(item.payload), item.created_at, item.due_at),
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
    ) -> Appended:
        return await self._write(lambda conn: _append(conn, chat_id, events, changes, require_states))

    async def find_by_backend_ref(self, site: str, backend_ref: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats WHERE site = ? AND backend_ref = ?"
                " ORDER BY created_at DESC",
                (site, backend_ref),
            ).fetchone()
            return _chat(row) if row else None

        return await self._read(run)

    async def find_started(self, site: str, start_id: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats WHERE site = ? AND start_id = ?", (site, start_id)
            ).fetchone()
            return _chat(row) if row else None

        return await self._read(run)

    async def update_chat(self, chat_id: str, changes: dict[str, Any]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            sets, values = _changes_sql(changes)
            cursor = conn.execute(f"UPDATE chats SET {sets} WHERE id = ?", (*values, chat_id))
            if cursor.rowcount == 0:
                raise ChatNotFound(chat_id)

        await self._write(run)

    async def get_chat(self, chat_id: str) -> Chat | None:
        def run(conn: sqlite3.Connection) -> Chat | None:
            row = conn.execute(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
            return _chat(row) if row else None

        return await self._read(run)

    async def events_after(self, chat_id: str, after: int, limit: int | None = None) -> list[Event]:
        def run(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute(
                "SELECT seq, at, kind, data FROM events WHERE chat_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (chat_id, after, -1 if limit is None else limit),
            ).fetchall()
            return [_event(chat_id, row) for row in rows]

        return await self._read(run)

    async def list_chats(
        self,
        *,
        sites: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[Chat]:
        def run(conn: sqlite3.Connection) -> list[Chat]:
            clause, values = _chat_filter(sites, states)
            order = "DESC" if newest_first else "ASC"
            rows = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats {clause} ORDER BY created_at {order}, id {order} LIMIT ?",
                (*values, limit),
            ).fetchall()
            return [_chat(row) for row in rows]

        return await self._read(run)

    async def count_chats(
        self, *, sites: Sequence[str] | None = None, states: Sequence[str] | None = None
    ) -> int:
        def run(conn: sqlite3.Connection) -> int:
            clause, values = _chat_filter(sites, states)
            return int(conn.execute(f"SELECT COUNT(*) FROM chats {clause}", values).fetchone()[0])

        return await self._read(run)

    async def count_recent_chats(self, site: str, ip: str, since: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM chats WHERE site = ? AND ip = ? AND created_at >= ?", (site, ip, since)
            ).fetchone()
            return int(row[0])

        return await self._read(run)

    # --- sites, audit, tokens -------------------------------------------------------------------------

    async def sites_version(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT value FROM counters WHERE name = 'sites_version'").fetchone()[0])

        return await self._read(run)

    async def list_sites(self) -> list[StoredSite]:
        def run(conn: sqlite3.Connection) -> list[StoredSite]:
            rows = conn.execute(
                "SELECT id, settings, created_at, updated_at FROM sites ORDER BY id"
            ).fetchall()
            return [StoredSite(row[0], json.loads(row[1]), row[2], row[3]) for row in rows]

        return await self._read(run)

    async def change_site(
        self, site_id: str, settings: dict[str, Any] | None, audit: AuditEntry, *, create: bool = False
    ) -> int:
        def run(conn: sqlite3.Connection) -> int:
            exists = conn.execute("SELECT 1 FROM sites WHERE id = ?", (site_id,)).fetchone() is not None
            if create and exists:
                raise SiteExists(site_id)
            if not create and not exists:
                raise SiteNotFound(site_id)
            now = audit.at
            if settings is None:
                conn.execute("DELETE FROM sites WHERE id = ?", (site_id,))
            elif create:
                conn.execute(
                    "INSERT INTO sites (id, settings, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (site_id, _dumps(settings), now, now),
                )
            else:
                conn.execute(
                    "UPDATE sites SET settings = ?, updated_at = ? WHERE id = ?",
                    (_dumps(settings), now, site_id),
                )
            _insert_audit(conn, audit)
            row = conn.execute(
                "UPDATE counters SET value = value + 1 WHERE name = 'sites_version' RETURNING value"
            ).fetchone()
            return int(row[0])

        return await self._write(run)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write(lambda conn: _insert_audit(conn, entry))

    async def list_audit(
        self, limit: int = 100, before: int | None = None, target: str | None = None
    ) -> list[AuditEntry]:
        def run(conn: sqlite3.Connection) -> list[AuditEntry]:
            rows = conn.execute(
                "SELECT at, actor, via, address, action, target, detail, id FROM audit"
                " WHERE id < ? AND (? IS NULL OR target = ?) ORDER BY id DESC LIMIT ?",
                (before if before is not None else 2**62, target, target, limit),
            ).fetchall()
            return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

        return await self._read(run)

    async def add_token(self, token: ApiToken, audit: AuditEntry) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_tokens (id, name, token_hash, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (token.id, token.name, token.token_hash, token.created_at, token.created_by),
            )
            _insert_audit(conn, audit)

        await self._write(run)

    async def find_token(self, token_hash: str) -> ApiToken | None:
        def run(conn: sqlite3.Connection) -> ApiToken | None:
            row = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return ApiToken(*row) if row else None

        return await self._read(run)

    async def list_tokens(self) -> list[ApiToken]:
        def run(conn: sqlite3.Connection) -> list[ApiToken]:
            rows = conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at").fetchall()
            return [ApiToken(*row) for row in rows]

        return await self._read(run)

    async def revoke_token(self, name: str, audit: AuditEntry) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (audit.at, name)
            ).rowcount
            if done:
                _insert_audit(conn, audit)
            return bool(done)

        return await self._write(run)

    async def token_used(self, token_id: str, at: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))

        await self._write(run)

    # --- the outbox ----------------------------------------------------------------------------------

    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
                " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            return [_outbox_item(row) for row in rows]

        return await self._read(run)

    async def claim_outbox(
        self, target: str, now: int, lease_ms: int, owner: str, limit: int = 50
    ) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE target = ?"
                " AND ((state = 'pending' AND due_at <= ?) OR (state = 'sending' AND claimed_until <= ?))"
                " ORDER BY due_at, id LIMIT ?",
                (target, now, now, limit),
            ).fetchall()
            claimed = []
            for row in rows:
                item = _outbox_item(row)
                # Still "sending" after its lease: whoever sent it died; it may have arrived.
                ambiguous = item.ambiguous or item.state == "sending"
                conn.execute(
                    "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_until = ?, ambiguous = ?"
                    " WHERE id = ?",
                    (owner, now + lease_ms, int(ambiguous), item.id),
                )
                claimed.append(replace(item, state="sending", ambiguous=ambiguous))
            return claimed

        return await self._write(run)

    async def next_outbox_due(self) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT MIN(due_at) FROM outbox WHERE state = 'pending'").fetchone()
            return None if row[0] is None else int(row[0])

        return await self._read(run)

    async def list_outbox(self, chat_id: str | None = None, limit: int = 100) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
                " WHERE (? IS NULL OR chat_id = ?) ORDER BY id DESC LIMIT ?",
                (chat_id, chat_id, limit),
            ).fetchall()
            return [_outbox_item(row) for row in rows]

        return await self._read(run)

    async def update_outbox(self, item_id: int, changes: dict[str, Any]) -> None:
        allowed = {"due_at", "attempts", "state", "last_error", "done_at", "remote_id", "ambiguous"}
        if set(changes) - allowed:
            raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")

        def run(conn: sqlite3.Connection) -> None:
            sets = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(f"UPDATE outbox SET {sets} WHERE id = ?", (*changes.values(), item_id))

        await self._write(run)

    # --- users ----------------------------------------------------------------------------------------

    async def get_user(self, name: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                "SELECT name, role, password_hash, display_name, session_version FROM users WHERE name = ?",
                (name,),
            ).fetchone()
            return User(*row) if row else None

        return await self._read(run)

    async def put_user(self, user: User) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO users (name, role, password_hash, display_name, session_version)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
                " password_hash = excluded.password_hash, display_name = excluded.display_name,"
                " session_version = excluded.session_version",
                (user.name, user.role, user.password_hash, user.display_name, user.session_version),
            )

        await self._write(run)

    async def delete_user(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

        return await self._write(run)

    async def list_users(self) -> list[User]:
        def run(conn: sqlite3.Connection) -> list[User]:
            rows = conn.execute(
                "SELECT name, role, password_hash, display_name, session_version FROM users ORDER BY name"
            ).fetchall()
            return [User(*row) for row in rows]

        return await self._read(run)

    # --- the history API ---

    async def get_chats(self, chat_ids: Sequence[str]) -> dict[str, Chat]:
        ids = list(dict.fromkeys(chat_ids))

        def run(conn: sqlite3.Connection) -> dict[str, Chat]:
            found: dict[str, Chat] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((row[0], _chat(row)) for row in rows)
            return found

        return await self._read(run)

    async def events_of_chats(
        self, chat_ids: Sequence[str], kinds: Sequence[str] | None = None
    ) -> dict[str, list[Event]]:
        ids = list(dict.fromkeys(chat_ids))

        def run(conn: sqlite3.Connection) -> dict[str, list[Event]]:
            found: dict[str, list[Event]] = {}
            kind_clause = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    "SELECT chat_id, seq, at, kind, data FROM events"
                    f" WHERE chat_id IN ({','.join('?' * len(chunk))}){kind_clause} ORDER BY chat_id, seq",
                    (*chunk, *(kinds or ())),
                ).fetchall()
                for row in rows:
                    found.setdefault(row[0], []).append(_event(row[0], row[1:]))
            return found

        return await self._read(run)

    async def find_chat_keys(
        self,
        *,
        created: tuple[int | None, int | None] = (None, None),
        ended: tuple[int | None, int | None] | None = None,
        types: Sequence[str] | None = None,
        rating: str | None = None,
        email: str | None = None,
        words: Sequence[tuple[str, str]] = (),
        before: tuple[int, str] | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[tuple[int, str]]:
        where = ["deleted_at IS NULL"]
        values: list[Any] = []
        ranges = [("created_at", created)]
        if ended is not None:
            where.append("ended_at IS NOT NULL")
            ranges.append(("ended_at", ended))
        for column, (start, end) in ranges:
            if start is not None:
                where.append(f"{column} >= ?")
                values.append(start)
            if end is not None:
                where.append(f"{column} < ?")
                values.append(end)
        if types is not None:
            where.append(f"type IN ({','.join('?' * len(types))})")
            values.extend(types)
        if rating is not None:
            where.append("json_extract(meta, '$.rating') = ?")
            values.append(rating)
        if email is not None:
            clause, args = self._may_equal("coalesce(json_extract(visitor, '$.email'), '')", email)
            where.append(clause)
            values.extend(args)
        order = "DESC"
        if before is not None:
            where.append("(created_at, id) < (?, ?)")
            values.extend(before)
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            values.extend(after)
            order = "ASC"  # the nearest newer ones; turned newest first below

        def run(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            per_chat = True
            if words:
                # Few chats left by the other conditions: look at their events only. Many: one pass over
                # the whole events table for all the words is cheaper than a lookup per chat.
                left = conn.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM chats WHERE {' AND '.join(where)} LIMIT ?)",
                    (*values, self.WORDS_PER_CHAT_MAX + 1),
                ).fetchone()[0]
                per_chat = left <= self.WORDS_PER_CHAT_MAX
            join, join_values, word_clauses, word_values = self._word_conditions(words, per_chat=per_chat)
            rows = conn.execute(
                f"SELECT created_at, id FROM chats{join} WHERE {' AND '.join(where + word_clauses)}"
                f" ORDER BY created_at {order}, id {order} LIMIT ?",
                (*join_values, *values, *word_values, limit),
            ).fetchall()
            keys = [(int(row[0]), str(row[1])) for row in rows]
            return keys[::-1] if order == "ASC" else keys

        return await self._read(run)

    # The loose conditions never drop a chat that Python's str.casefold() would match, using only SQLite's
    # ASCII case folding (LIKE, lower()): a text with any non-ASCII character (its length in characters
    # differs from its length in bytes) is always kept, and an all-ASCII text folds exactly as they do.
    # Words are looked for in the events' raw JSON, which holds the texts and names unescaped (``_dumps``
    # keeps non-ASCII as it is, and JSON escapes no letter, digit or "_"): no decoding, several times
    # faster than json_extract().

    #: Up to this many chats left by the other conditions, words are looked for in those chats' events;
    #: beyond it, in one pass over all events. (A test lowers it to run both plans.)
    WORDS_PER_CHAT_MAX = 20_000
    _LOGGED = "kind IN ('message', 'joined', 'left')"

    @staticmethod
    def _has_non_ascii(expr: str) -> str:
        return f"length({expr}) <> length(CAST({expr} AS BLOB))"

    @staticmethod
    def _like(word: str) -> str:
        return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    @classmethod
    def _may_equal(cls, expr: str, value: str) -> tuple[str, list[Any]]:
        if not value.isascii():
            return cls._has_non_ascii(expr), []
        return f"(lower({expr}) = ? OR {cls._has_non_ascii(expr)})", [value.lower()]

    @classmethod
    def _may_contain(cls, expr: str, word: str) -> tuple[str, list[Any]]:
        if not word.isascii():
            return cls._has_non_ascii(expr), []
        return f"({expr} LIKE ? ESCAPE '\\' OR {cls._has_non_ascii(expr)})", [cls._like(word)]

    @classmethod
    def _word_conditions(
        cls, words: Sequence[tuple[str, str]], *, per_chat: bool
    ) -> tuple[str, list[Any], list[str], list[Any]]:
        """The join and the WHERE clauses (with their values) for ``find_chat_keys``' words."""
        nickname = "coalesce(json_extract(visitor, '$.nickname'), '')"
        own = {
            "visitor": [nickname],
            "agents": ["coalesce(agent_name, '')"],
            "any": [nickname, "coalesce(json_extract(visitor, '$.email'), '')", "coalesce(agent_name, '')"],
        }
        flags: list[str] = []  # the per-word columns of the one pass over the events
        flag_values: list[Any] = []
        clauses: list[str] = []
        values: list[Any] = []
        for place, word in words:
            if place not in own:
                raise ValueError(f"unknown place {place!r}")
            alternatives: list[str] = []
            for expr in own[place]:
                clause, args = cls._may_contain(expr, word)
                alternatives.append(clause)
                values.extend(args)
            if place != "visitor":
                if per_chat:
                    clause, args = cls._may_contain("e.data", word)
                    alternatives.append(
                        f"EXISTS (SELECT 1 FROM events e WHERE e.chat_id = chats.id AND e.{cls._LOGGED}"
                        f" AND {clause})"
                    )
                    values.extend(args)
                else:
                    if word.isascii():
                        flags.append(f"max(data LIKE ? ESCAPE '\\') AS w{len(flags)}")
                        flag_values.append(cls._like(word))
                    else:
                        flags.append(f"0 AS w{len(flags)}")
                    alternatives.append(f"found.w{len(flags) - 1} OR found.non_ascii")
            clauses.append(f"({' OR '.join(alternatives)})")
        join = ""
        if flags:
            columns = ", ".join([f"max({cls._has_non_ascii('data')}) AS non_ascii", *flags])
            join = (
                f" LEFT JOIN (SELECT chat_id, {columns} FROM events WHERE {cls._LOGGED} GROUP BY chat_id)"
                " AS found ON found.chat_id = chats.id"
            )
        return join, flag_values, clauses, values

    async def edit_chat(
        self,
        chat_id: str,
        *,
        visitor: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        audit: AuditEntry | None = None,
    ) -> Chat:
        def run(conn: sqlite3.Connection) -> Chat:
            row = conn.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ? AND deleted_at IS NULL", (chat_id,)
            ).fetchone()
            if row is None:
                raise ChatNotFound(chat_id)
            chat = _chat(row)
            changed = replace(
                chat,
                visitor=Visitor.from_json({**chat.visitor.to_json(), **(visitor or {})}),
                meta={**chat.meta, **(meta or {})},
            )
            conn.execute(
                "UPDATE chats SET visitor = ?, meta = ? WHERE id = ?",
                (_dumps(changed.visitor.to_json()), _dumps(changed.meta), chat_id),
            )
            if audit is not None:
                _insert_audit(conn, audit)
            return changed

        return await self._write(run)

    async def delete_chats(self, chat_ids: Sequence[str], audit: AuditEntry) -> dict[str, str]:
        ids = list(dict.fromkeys(chat_ids))

        def run(conn: sqlite3.Connection) -> dict[str, str]:
            outcomes: dict[str, str] = {}
            for chat_id in ids:
                row = conn.execute("SELECT deleted_at FROM chats WHERE id = ?", (chat_id,)).fetchone()
                if row is None:
                    outcomes[chat_id] = "not_found"
                elif row[0] is not None:
                    outcomes[chat_id] = "already_deleted"
                else:
                    conn.execute("UPDATE chats SET deleted_at = ? WHERE id = ?", (audit.at, chat_id))
                    _insert_audit(conn, replace(audit, target=chat_id))
                    outcomes[chat_id] = "deleted"
            return outcomes

        return await self._write(run)


_OUTBOX_COLUMNS = (
    "id, target, site, chat_id, payload, created_at, due_at, attempts, state, last_error, done_at, remote_id,"
    " ambiguous"
)


def _outbox_item(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        row[0],
        row[1],
        row[2],
        row[3],
        json.loads(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        bool(row[12]),
    )


_TOKEN_COLUMNS = "id, name, token_hash, created_at, created_by, revoked_at, last_used_at"  # noqa: S105


def _insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, via, address, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (entry.at, entry.actor, entry.via, entry.address, entry.action, entry.target, _dumps(entry.detail)),
    )


def _chat_filter(sites: Sequence[str] | None, states: Sequence[str] | None) -> tuple[str, list[Any]]:
    where: list[str] = ["deleted_at IS NULL"]
    values: list[Any] = []
    if states is not None:
        where.append(f"state IN ({','.join('?' * len(states))})")
        values.extend(states)
    if sites is not None:
        where.append(f"site IN ({','.join('?' * len(sites))})")
        values.extend(sites)
    return f"WHERE {' AND '.join(where)}", values


def _changes_sql(changes: dict[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    values = [
        _dumps(v.to_json()) if isinstance(v, Visitor) else _dumps(v) if k in _JSON_COLUMNS else v
        for k, v in changes.items()
    ]
    return ", ".join(f"{k} = ?" for k in changes), values


def _append(
    conn: sqlite3.Connection,
    chat_id: str,
    events: Sequence[NewEvent],
    changes: dict[str, Any] | None,
    require_states: Sequence[str] | None,
) -> Appended:
    row = conn.execute(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)).fetchone()
    if row is None:
        raise ChatNotFound(chat_id)
    chat = _chat(row)
    for new in events:
        if new.client_id is None:
            continue
        found = conn.execute(
            "SELECT seq, at, kind, data FROM events WHERE chat_id = ? AND client_id = ?",
            (chat_id, new.client_id),
        ).fetchone()
        if found:
            return Appended(chat, [_event(chat_id, found)], new=False)
    if require_states is not None and chat.state not in require_states:
        raise WrongState(chat)
    at = now_ms()
    stored = []
    seq = chat.last_seq
    for new in events:
        seq += 1
        conn.execute(
            "INSERT INTO events (chat_id, seq, at, kind, data, client_id) VALUES (?, ?, ?, ?, ?, ?)",
            (chat_id, seq, at, new.kind, _dumps(new.data), new.client_id),
        )
        stored.append(Event(chat_id, seq, at, new.kind, new.data))
    changes = dict(changes or {})
    messages = [event for event in stored if event.kind == MESSAGE]
    sets, values = _changes_sql(changes) if changes else ("", [])
    if messages:
        changes["preview"] = preview_of(messages[-1])
        sets = f"{sets + ', ' if sets else ''}preview = ?"
        values.append(_dumps(changes["preview"]))
    conn.execute(
        f"UPDATE chats SET last_seq = ?{', ' + sets if sets else ''} WHERE id = ?", (seq, *values, chat_id)
    )
    return Appended(replace(chat, last_seq=seq, **changes), stored, new=True)
