"""Schema migrations, for every store: from an empty database, from the previous version's schema with
rows in it, several processes starting at once, and a database newer than the code."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from widget_server import model
from widget_server.store import (
    Fenced,
    StoreError,
    open_store,
    postgres_console,
    postgres_schema,
    sqlite_console,
    sqlite_schema,
)

# Rows as the first release wrote them; the same SQL for both stores.
VERSION_1_ROWS = [
    "INSERT INTO chats (id, site, backend, state, visitor, created_at, last_seq, backend_state, meta)"
    """ VALUES ('old', 'acme', 'gws', 'active', '{"nickname":"Old"}', 1000, 1, '{"cursor":3}', '{}')""",
    "INSERT INTO events (chat_id, seq, at, kind, data, client_id)"
    """ VALUES ('old', 1, 1000, 'message', '{"from":"visitor","name":"Old","text":"before"}', 'm1')""",
    "INSERT INTO users (name, role, password_hash, display_name) VALUES ('ana', 'agent', 'hash', 'Ana')",
    "INSERT INTO outbox (target, site, chat_id, payload, created_at, due_at)"
    """ VALUES ('zendesk', 'acme', 'old', '{"x":1}', 1000, 1000)""",
]


@dataclass
class SQLiteDatabase:
    url: str
    data_dir: Path
    scripts: Sequence[str] = tuple(sqlite_schema.MIGRATIONS)

    def _connect(self) -> sqlite3.Connection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.data_dir / "widget.db", isolation_level=None)

    async def create(self, scripts: Sequence[str], rows: Sequence[str]) -> None:
        """A database made by the store's own runner with only ``scripts``, then ``rows`` written."""
        conn = self._connect()
        try:
            sqlite_schema.migrate(conn, scripts)
            for row in rows:
                conn.execute(row)
        finally:
            conn.close()

    async def version(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    #: How the store spells its look-ups of a visitor's chats, each with its index.
    lookups = ((sqlite_console.BY_KEY, "chats_by_visitor_key"), (sqlite_console.BY_EMAIL, "chats_by_email"))

    async def plan(self, condition: str) -> str:
        """How SQLite would find the chats of a site meeting ``condition`` (one ``?``), newest first."""
        conn = self._connect()
        try:
            rows = conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM chats WHERE site = ? AND {condition}"
                " ORDER BY created_at DESC LIMIT 20",
                ("acme", "x"),
            ).fetchall()
            return " ".join(str(row[-1]) for row in rows)
        finally:
            conn.close()


@dataclass
class PostgresDatabase:
    url: str
    data_dir: Path
    scripts: Sequence[str] = tuple(postgres_schema.MIGRATIONS)

    async def create(self, scripts: Sequence[str], rows: Sequence[str]) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await postgres_schema.migrate(conn, scripts)
            for row in rows:
                await conn.execute(row)
        finally:
            await conn.close()

    async def version(self) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        finally:
            await conn.close()
        # One record per script, each run once.
        assert [row[0] for row in versions] == list(range(1, len(versions) + 1))
        return len(versions)

    lookups = (
        (postgres_console.BY_KEY.format("$2"), "chats_by_visitor_key"),
        (postgres_console.BY_EMAIL.format("$2"), "chats_by_email"),
    )

    async def plan(self, condition: str) -> str:
        """How PostgreSQL would find them, were the table large (a few rows are read faster without an
        index, so sequential scans are ruled out here)."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("SET enable_seqscan = off")
            rows = await conn.fetch(
                f"EXPLAIN SELECT id FROM chats WHERE site = $1 AND {condition}"
                " ORDER BY created_at DESC LIMIT 20",
                "acme",
                "x",
            )
            return " ".join(row[0] for row in rows)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteDatabase | PostgresDatabase:
    if request.param == "postgresql":
        return PostgresDatabase(request.getfixturevalue("postgres_url"), tmp_path)
    return SQLiteDatabase("sqlite:", tmp_path)


async def test_an_empty_database_gets_the_newest_schema(database: SQLiteDatabase | PostgresDatabase) -> None:
    store = await open_store(database.url, database.data_dir)
    try:
        chat = model.Chat("c1", "acme", "local", model.QUEUED, model.Visitor("C"), 1000)
        await store.create_chat(chat, [model.state(model.QUEUED)])
        await store.append("c1", [model.joined("Ana")], fence=1)
    finally:
        await store.close()
    assert await database.version() == len(database.scripts) >= 2


async def test_a_version_1_database_keeps_its_rows_and_gains_the_newest_schema(
    database: SQLiteDatabase | PostgresDatabase,
) -> None:
    await database.create(database.scripts[:1], VERSION_1_ROWS)
    assert await database.version() == 1
    store = await open_store(database.url, database.data_dir)
    try:
        assert await database.version() == len(database.scripts)
        chat = await store.get_chat("old")
        assert chat is not None and chat.last_seq == 1 and chat.backend_state == {"cursor": 3}
        assert [e.data["text"] for e in await store.events_after("old", 0)] == ["before"]
        again = await store.append("old", [model.message("visitor", "Old", "before", "m1")])
        assert not again.new and again.events[0].seq == 1  # the old client id still makes it idempotent
        user = await store.get_user("ana")
        assert user is not None and user.session_version == 1 and user.status == model.ONLINE
        assert [item.payload for item in await store.list_outbox("old")] == [{"x": 1}]
        # Version 2's fence starts at 0 on the old chat.
        await store.update_chat("old", {"backend_state": {"cursor": 4}}, fence=0)
        await store.append("old", [model.joined("Ana")], fence=5)
        with pytest.raises(Fenced):
            await store.update_chat("old", {"backend_state": {"cursor": 1}}, fence=4)
        # The old log has no agents-only events: the visitor numbers it as it always did, and a note
        # added now is left out of that numbering from here on.
        assert [e.visitor_seq for e in await store.visitor_events_after("old", 0)] == [1, 2]
        await store.append("old", [model.note("Ana", "noted", "n1"), model.left("Ana")])
        assert [(e.seq, e.visitor_seq) for e in await store.visitor_events_after("old", 1)] == [
            (2, 2),
            (4, 3),
        ]
    finally:
        await store.close()


async def test_processes_starting_at_once_migrate_once(database: SQLiteDatabase | PostgresDatabase) -> None:
    stores = await asyncio.gather(*(open_store(database.url, database.data_dir) for _ in range(4)))
    for store in stores:
        await store.close()
    assert await database.version() == len(database.scripts)


async def test_a_database_newer_than_the_code_is_refused(database: SQLiteDatabase | PostgresDatabase) -> None:
    await database.create([*database.scripts, "CREATE TABLE from_the_future (x INTEGER)"], [])
    newer = len(database.scripts) + 1
    with pytest.raises(StoreError, match=f"schema version {newer}, newer than this widget_server knows"):
        await open_store(database.url, database.data_dir)


async def test_a_visitors_chats_are_found_through_indexes(
    database: SQLiteDatabase | PostgresDatabase,
) -> None:
    store = await open_store(database.url, database.data_dir)
    await store.close()
    for condition, index in database.lookups:
        assert index in await database.plan(condition), condition
