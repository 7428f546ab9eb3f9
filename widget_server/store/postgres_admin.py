"""The PostgreSQL store's tables of administration: sites, the audit log, API tokens, and people."""

from __future__ import annotations

import json
from typing import Any

from widget_server.model import ApiToken, AuditEntry, StoredSite, User
from widget_server.store import SiteExists, SiteNotFound
from widget_server.store.postgres_base import Pooled, insert_audit
from widget_server.store.rows import dumps

_TOKEN_COLUMNS = "id, name, token_hash, created_at, created_by, revoked_at, last_used_at"  # noqa: S105
_USER_COLUMNS = "name, role, password_hash, display_name, session_version, status"


class AdminTables(Pooled):
    async def sites_version(self) -> int:
        return int(await self._pool.fetchval("SELECT value FROM counters WHERE name = 'sites_version'"))

    async def list_sites(self) -> list[StoredSite]:
        rows = await self._pool.fetch("SELECT id, settings, created_at, updated_at FROM sites ORDER BY id")
        return [StoredSite(row[0], json.loads(row[1]), row[2], row[3]) for row in rows]

    async def change_site(
        self, site_id: str, settings: dict[str, Any] | None, audit: AuditEntry, *, create: bool = False
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # The counter's row lock first: changes of sites from several processes take turns, so a
            # create of one id twice at once finds the first one's row rather than a unique violation.
            version = await conn.fetchval(
                "UPDATE counters SET value = value + 1 WHERE name = 'sites_version' RETURNING value"
            )
            exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)", site_id)
            if create and exists:
                raise SiteExists(site_id)
            if not create and not exists:
                raise SiteNotFound(site_id)
            now = audit.at
            if settings is None:
                await conn.execute("DELETE FROM sites WHERE id = $1", site_id)
            elif create:
                await conn.execute(
                    "INSERT INTO sites (id, settings, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                    site_id,
                    dumps(settings),
                    now,
                )
            else:
                await conn.execute(
                    "UPDATE sites SET settings = $2, updated_at = $3 WHERE id = $1",
                    site_id,
                    dumps(settings),
                    now,
                )
            await insert_audit(conn, audit)
            return int(version)

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self._pool.acquire() as conn:
            await insert_audit(conn, entry)

    async def list_audit(
        self, limit: int = 100, before: int | None = None, target: str | None = None
    ) -> list[AuditEntry]:
        rows = await self._pool.fetch(
            "SELECT at, actor, via, address, action, target, detail, id FROM audit"
            " WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR target = $2)"
            " ORDER BY id DESC LIMIT $3",
            before,
            target,
            limit,
        )
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

    async def add_token(self, token: ApiToken, audit: AuditEntry) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO api_tokens (id, name, token_hash, created_at, created_by)"
                " VALUES ($1, $2, $3, $4, $5)",
                token.id,
                token.name,
                token.token_hash,
                token.created_at,
                token.created_by,
            )
            await insert_audit(conn, audit)

    async def find_token(self, token_hash: str) -> ApiToken | None:
        row = await self._pool.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1", token_hash
        )
        return ApiToken(*row) if row else None

    async def list_tokens(self) -> list[ApiToken]:
        rows = await self._pool.fetch(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at")
        return [ApiToken(*row) for row in rows]

    async def revoke_token(self, name: str, audit: AuditEntry) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL", audit.at, name
            )
            if status == "UPDATE 0":
                return False
            await insert_audit(conn, audit)
            return True

    async def token_used(self, token_id: str, at: int) -> None:
        await self._pool.execute("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", at, token_id)

    # --- users ----------------------------------------------------------------------------------------

    async def get_user(self, name: str) -> User | None:
        row = await self._pool.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE name = $1", name)
        return User(*row) if row else None

    async def put_user(self, user: User) -> None:
        await self._pool.execute(
            f"INSERT INTO users ({_USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
            " password_hash = excluded.password_hash, display_name = excluded.display_name,"
            " session_version = excluded.session_version",
            user.name,
            user.role,
            user.password_hash,
            user.display_name,
            user.session_version,
            user.status,
        )

    async def delete_user(self, name: str) -> bool:
        return bool(await self._pool.execute("DELETE FROM users WHERE name = $1", name) != "DELETE 0")

    async def list_users(self) -> list[User]:
        rows = await self._pool.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [User(*row) for row in rows]

    async def set_user_status(self, name: str, status: str) -> bool:
        done = await self._pool.execute("UPDATE users SET status = $1 WHERE name = $2", status, name)
        return bool(done != "UPDATE 0")
