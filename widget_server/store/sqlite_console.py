"""The SQLite store's part for the agent console's helpers: a visitor's other chats, canned responses.

A visitor's chats are found through two expression indexes on the chat's visitor JSON (schema version 4):
``(site, json_extract(visitor, '$.key'), created_at)`` and ``(site, lower(json_extract(visitor,
'$.email')), created_at)``. SQLite uses an expression index only for the very same expression, so the
queries below spell them exactly as the schema does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from widget_server.model import AuditEntry, CannedResponse, Chat, Event
from widget_server.store import CannedNotFound, ShortcutTaken
from widget_server.store.rows import CANNED_COLUMNS, CHAT_COLUMNS, EVENT_COLUMNS, canned_of, chat_of, event_of
from widget_server.store.sqlite_base import Doors, insert_audit

#: How a visitor's chats are looked up, spelt as the indexes are (tests/test_store_migrations.py checks
#: that the database uses them).
BY_KEY = "json_extract(visitor, '$.key') = ?"
BY_EMAIL = "lower(json_extract(visitor, '$.email')) = lower(?)"


class ConsoleQueries(Doors):
    async def find_visitor_chats(
        self,
        site: str,
        *,
        key: str | None,
        email: str | None,
        before: tuple[int, str] | None = None,
        limit: int = 20,
    ) -> list[Chat]:
        older, older_values = ("", []) if before is None else (" AND (created_at, id) < (?, ?)", list(before))
        # One branch per index, each reading at most ``limit`` rows of it newest first; UNION drops a
        # chat both find.
        branches: list[str] = []
        values: list[object] = []
        for condition, value in ((BY_KEY, key), (BY_EMAIL, email)):
            if value:
                branches.append(
                    f"SELECT * FROM (SELECT {CHAT_COLUMNS} FROM chats WHERE site = ? AND {condition}"
                    f" AND deleted_at IS NULL{older} ORDER BY created_at DESC, id DESC LIMIT ?)"
                )
                values += [site, value, *older_values, limit]
        if not branches:
            return []

        def run(conn: sqlite3.Connection) -> list[Chat]:
            rows = conn.execute(
                f"{' UNION '.join(branches)} ORDER BY created_at DESC, id DESC LIMIT ?", (*values, limit)
            ).fetchall()
            return [chat_of(row) for row in rows]

        return await self._read(run)

    async def first_messages(self, chat_ids: Sequence[str]) -> dict[str, Event]:
        ids = list(dict.fromkeys(chat_ids))

        def run(conn: sqlite3.Connection) -> dict[str, Event]:
            found: dict[str, Event] = {}
            for chat_id in ids:  # each a short walk of the chat's log by its primary key
                row = conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE chat_id = ? AND kind = 'message'"
                    " ORDER BY seq LIMIT 1",
                    (chat_id,),
                ).fetchone()
                if row is not None:
                    found[chat_id] = event_of(chat_id, row)
            return found

        return await self._read(run)

    async def list_canned(self, owner: str) -> list[CannedResponse]:
        def run(conn: sqlite3.Connection) -> list[CannedResponse]:
            rows = conn.execute(
                f"SELECT {CANNED_COLUMNS} FROM canned_responses WHERE owner IS NULL OR owner = ?"
                " ORDER BY shortcut, owner IS NOT NULL, id",
                (owner,),
            ).fetchall()
            return [canned_of(row) for row in rows]

        return await self._read(run)

    async def get_canned(self, canned_id: str) -> CannedResponse | None:
        def run(conn: sqlite3.Connection) -> CannedResponse | None:
            row = conn.execute(
                f"SELECT {CANNED_COLUMNS} FROM canned_responses WHERE id = ?", (canned_id,)
            ).fetchone()
            return canned_of(row) if row else None

        return await self._read(run)

    async def count_canned(self, owner: str | None) -> int:
        def run(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(
                "SELECT count(*) FROM canned_responses WHERE owner IS ?", (owner,)
            ).fetchone()
            return int(count)

        return await self._read(run)

    async def save_canned(
        self, response: CannedResponse, *, create: bool, audit: AuditEntry | None = None
    ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            r = response
            try:
                if create:
                    conn.execute(
                        f"INSERT INTO canned_responses ({CANNED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            r.id,
                            r.owner,
                            r.shortcut,
                            r.title,
                            r.text,
                            r.created_at,
                            r.updated_at,
                            r.updated_by,
                        ),
                    )
                elif not conn.execute(
                    "UPDATE canned_responses SET shortcut = ?, title = ?, text = ?, updated_at = ?,"
                    " updated_by = ? WHERE id = ?",
                    (r.shortcut, r.title, r.text, r.updated_at, r.updated_by, r.id),
                ).rowcount:
                    raise CannedNotFound(r.id)
            except sqlite3.IntegrityError:
                raise ShortcutTaken(r.shortcut) from None
            if audit is not None:
                insert_audit(conn, audit)

        await self._write(run)

    async def delete_canned(self, canned_id: str, audit: AuditEntry | None = None) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if not conn.execute("DELETE FROM canned_responses WHERE id = ?", (canned_id,)).rowcount:
                return False
            if audit is not None:
                insert_audit(conn, audit)
            return True

        return await self._write(run)
