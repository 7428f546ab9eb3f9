"""The PostgreSQL store's part for the agent console's helpers: a visitor's other chats, canned responses.

A visitor's chats are found through two expression indexes (schema version 5): ``(site, (visitor ->>
'key'), created_at)`` and ``(site, lower(visitor ->> 'email'), created_at)``; the queries spell the
expressions as the indexes do, which is what lets the planner use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from widget_server.model import AuditEntry, CannedResponse, Chat, Event
from widget_server.store import CannedNotFound, ShortcutTaken
from widget_server.store.postgres_base import Params, Pooled, insert_audit
from widget_server.store.rows import CANNED_COLUMNS, CHAT_COLUMNS, EVENT_COLUMNS, canned_of, chat_of, event_of

#: How a visitor's chats are looked up, spelt as the indexes are (tests/test_store_migrations.py checks
#: that the database uses them).
BY_KEY = "(visitor ->> 'key') = {}"
BY_EMAIL = "lower(visitor ->> 'email') = lower({})"


class ConsoleQueries(Pooled):
    async def find_visitor_chats(
        self,
        site: str,
        *,
        key: str | None,
        email: str | None,
        before: tuple[int, str] | None = None,
        limit: int = 20,
    ) -> list[Chat]:
        p = Params()
        # One branch per index, each reading at most ``limit`` rows of it newest first; UNION drops a
        # chat both find (compared by id alone: a JSON column has no equality of its own).
        branches = []
        for condition, value in ((BY_KEY, key), (BY_EMAIL, email)):
            if value:
                older = "" if before is None else f" AND (created_at, id) < ({p(before[0])}, {p(before[1])})"
                branches.append(
                    f"(SELECT id FROM chats WHERE site = {p(site)} AND {condition.format(p(value))}"
                    f" AND deleted_at IS NULL{older} ORDER BY created_at DESC, id DESC LIMIT {p(limit)})"
                )
        if not branches:
            return []
        rows = await self._pool.fetch(
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE id IN ({' UNION '.join(branches)})"
            f" ORDER BY created_at DESC, id DESC LIMIT {p(limit)}",
            *p.values,
        )
        return [chat_of(row) for row in rows]

    async def first_messages(self, chat_ids: Sequence[str]) -> dict[str, Event]:
        # A lateral join: for each chat, the first message by its log's primary key, one short walk each.
        rows = await self._pool.fetch(
            f"SELECT c.id, e.* FROM unnest($1::text[]) AS c (id) CROSS JOIN LATERAL"
            f" (SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = c.id AND kind = 'message'"
            " ORDER BY seq LIMIT 1) AS e",
            list(dict.fromkeys(chat_ids)),
        )
        return {row[0]: event_of(row[0], row[1:]) for row in rows}

    async def list_canned(self, owner: str) -> list[CannedResponse]:
        rows = await self._pool.fetch(
            f"SELECT {CANNED_COLUMNS} FROM canned_responses WHERE owner IS NULL OR owner = $1"
            " ORDER BY shortcut, owner IS NOT NULL, id",
            owner,
        )
        return [canned_of(row) for row in rows]

    async def get_canned(self, canned_id: str) -> CannedResponse | None:
        row = await self._pool.fetchrow(
            f"SELECT {CANNED_COLUMNS} FROM canned_responses WHERE id = $1", canned_id
        )
        return canned_of(row) if row else None

    async def count_canned(self, owner: str | None) -> int:
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM canned_responses WHERE owner IS NOT DISTINCT FROM $1", owner
            )
        )

    async def save_canned(
        self, response: CannedResponse, *, create: bool, audit: AuditEntry | None = None
    ) -> None:
        r = response
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if create:
                    await conn.execute(
                        f"INSERT INTO canned_responses ({CANNED_COLUMNS})"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        r.id,
                        r.owner,
                        r.shortcut,
                        r.title,
                        r.text,
                        r.created_at,
                        r.updated_at,
                        r.updated_by,
                    )
                else:
                    status = await conn.execute(
                        "UPDATE canned_responses SET shortcut = $2, title = $3, text = $4, updated_at = $5,"
                        " updated_by = $6 WHERE id = $1",
                        r.id,
                        r.shortcut,
                        r.title,
                        r.text,
                        r.updated_at,
                        r.updated_by,
                    )
                    if status == "UPDATE 0":
                        raise CannedNotFound(r.id)
                if audit is not None:
                    await insert_audit(conn, audit)
        except asyncpg.UniqueViolationError:
            raise ShortcutTaken(r.shortcut) from None

    async def delete_canned(self, canned_id: str, audit: AuditEntry | None = None) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.execute("DELETE FROM canned_responses WHERE id = $1", canned_id) == "DELETE 0":
                return False
            if audit is not None:
                await insert_audit(conn, audit)
            return True
