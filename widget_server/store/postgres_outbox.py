"""The PostgreSQL store's outbox: what is to be forwarded (offline messages to Zendesk), until it is done.

Several processes claim from it at once: a claim locks the rows it takes and skips rows another claimer
has locked (``FOR UPDATE SKIP LOCKED``), so each item goes to exactly one claimer and no claimer waits.
"""

from __future__ import annotations

from typing import Any

from widget_server.model import OutboxItem
from widget_server.store.postgres_base import Params, Pooled
from widget_server.store.rows import OUTBOX_COLUMNS, check_outbox_changes, outbox_item_of


class OutboxTables(Pooled):
    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        rows = await self._pool.fetch(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox"
            " WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
            now,
            limit,
        )
        return [outbox_item_of(row) for row in rows]

    async def claim_outbox(
        self, target: str, now: int, lease_ms: int, owner: str, limit: int = 50
    ) -> list[OutboxItem]:
        # An item still "sending" after its lease: whoever sent it died; it may have arrived (ambiguous).
        # ``ambiguous`` on the right of SET is the value before this update.
        rows = await self._pool.fetch(
            f"""
            WITH due AS (
                SELECT id FROM outbox WHERE target = $1
                AND ((state = 'pending' AND due_at <= $2) OR (state = 'sending' AND claimed_until <= $2))
                ORDER BY due_at, id LIMIT $5 FOR UPDATE SKIP LOCKED
            )
            UPDATE outbox SET state = 'sending', claimed_by = $3, claimed_until = $2 + $4,
                ambiguous = outbox.ambiguous OR outbox.state = 'sending'
            FROM due WHERE outbox.id = due.id
            RETURNING {", ".join(f"outbox.{column.strip()}" for column in OUTBOX_COLUMNS.split(","))}
            """,
            target,
            now,
            owner,
            lease_ms,
            limit,
        )
        return sorted((outbox_item_of(row) for row in rows), key=lambda item: (item.due_at, item.id))

    async def next_outbox_due(self) -> int | None:
        due = await self._pool.fetchval("SELECT min(due_at) FROM outbox WHERE state = 'pending'")
        return None if due is None else int(due)

    async def list_outbox(self, chat_id: str | None = None, limit: int = 100) -> list[OutboxItem]:
        rows = await self._pool.fetch(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox"
            " WHERE ($1::text IS NULL OR chat_id = $1) ORDER BY id DESC LIMIT $2",
            chat_id,
            limit,
        )
        return [outbox_item_of(row) for row in rows]

    async def update_outbox(self, item_id: int, changes: dict[str, Any], *, owner: str | None = None) -> bool:
        check_outbox_changes(changes)
        p = Params(item_id)
        # ``ambiguous`` is a boolean here, an integer in SQLite: callers may give either.
        values = {column: bool(v) if column == "ambiguous" else v for column, v in changes.items()}
        sets = ", ".join(f"{column} = {p(value)}" for column, value in values.items())
        where = "id = $1"
        if owner is not None:
            where += f" AND state = 'sending' AND claimed_by = {p(owner)}"
        status = await self._pool.execute(f"UPDATE outbox SET {sets} WHERE {where}", *p.values)
        return bool(status != "UPDATE 0")
