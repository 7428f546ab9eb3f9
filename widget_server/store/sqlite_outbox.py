"""The SQLite store's outbox: what is to be forwarded (offline messages to Zendesk), until it is done."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from widget_server.model import OutboxItem
from widget_server.store.rows import OUTBOX_COLUMNS, check_outbox_changes, outbox_item_of
from widget_server.store.sqlite_base import Doors


class OutboxTables(Doors):
    # --- the outbox ----------------------------------------------------------------------------------

    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox"
                " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            return [outbox_item_of(row) for row in rows]

        return await self._read(run)

    async def claim_outbox(
        self, target: str, now: int, lease_ms: int, owner: str, limit: int = 50
    ) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE target = ?"
                " AND ((state = 'pending' AND due_at <= ?) OR (state = 'sending' AND claimed_until <= ?))"
                " ORDER BY due_at, id LIMIT ?",
                (target, now, now, limit),
            ).fetchall()
            claimed = []
            for row in rows:
                item = outbox_item_of(row)
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
                f"SELECT {OUTBOX_COLUMNS} FROM outbox"
                " WHERE (? IS NULL OR chat_id = ?) ORDER BY id DESC LIMIT ?",
                (chat_id, chat_id, limit),
            ).fetchall()
            return [outbox_item_of(row) for row in rows]

        return await self._read(run)

    async def update_outbox(self, item_id: int, changes: dict[str, Any], *, owner: str | None = None) -> bool:
        check_outbox_changes(changes)

        def run(conn: sqlite3.Connection) -> bool:
            sets = ", ".join(f"{k} = ?" for k in changes)
            where, values = "id = ?", [*changes.values(), item_id]
            if owner is not None:
                where += " AND state = 'sending' AND claimed_by = ?"
                values.append(owner)
            return conn.execute(f"UPDATE outbox SET {sets} WHERE {where}", values).rowcount > 0

        return await self._write(run)
