"""What every part of the PostgreSQL store shares: the connection pool, numbered query parameters, and
the audit insert that several transactions make.

Every write is one transaction on one pooled connection, committed before the method returns
(``synchronous_commit`` stays on: an ack means the event is on disk). There is no batching of our own:
PostgreSQL already flushes the commits of concurrent transactions together (its WAL group flush), and a
batch would make each write wait for its neighbours.
"""

from __future__ import annotations

from typing import Any

from widget_server.model import AuditEntry
from widget_server.store.rows import dumps


class Params:
    """The values of one query, each added where its ``$n`` placeholder goes."""

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def insert_audit(conn: Any, entry: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit (at, actor, via, address, action, target, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        entry.at,
        entry.actor,
        entry.via,
        entry.address,
        entry.action,
        entry.target,
        dumps(entry.detail),
    )


class Pooled:
    """Holds the store's asyncpg pool (typed ``Any``: asyncpg ships no type hints)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def check_writable(self) -> None:
        # A real write of the same value (a new row version): fails on a read-only standby or a full disk.
        await self._pool.execute("UPDATE counters SET value = value WHERE name = 'sites_version'")
