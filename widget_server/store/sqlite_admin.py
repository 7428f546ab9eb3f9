"""The SQLite store's tables of administration: sites, the audit log, API tokens, and people."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from widget_server.model import ApiToken, AuditEntry, StoredSite, User
from widget_server.store import SiteExists, SiteNotFound
from widget_server.store.rows import dumps
from widget_server.store.sqlite_base import Doors, insert_audit

_TOKEN_COLUMNS = "id, name, token_hash, created_at, created_by, revoked_at, last_used_at"  # noqa: S105
_USER_COLUMNS = "name, role, password_hash, display_name, session_version, status"


class AdminTables(Doors):
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
                    (site_id, dumps(settings), now, now),
                )
            else:
                conn.execute(
                    "UPDATE sites SET settings = ?, updated_at = ? WHERE id = ?",
                    (dumps(settings), now, site_id),
                )
            insert_audit(conn, audit)
            row = conn.execute(
                "UPDATE counters SET value = value + 1 WHERE name = 'sites_version' RETURNING value"
            ).fetchone()
            return int(row[0])

        return await self._write(run)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write(lambda conn: insert_audit(conn, entry))

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
            insert_audit(conn, audit)

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
                insert_audit(conn, audit)
            return bool(done)

        return await self._write(run)

    async def token_used(self, token_id: str, at: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))

        await self._write(run)

    # --- users ----------------------------------------------------------------------------------------

    async def get_user(self, name: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?",
                (name,),
            ).fetchone()
            return User(*row) if row else None

        return await self._read(run)

    async def put_user(self, user: User) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
                " password_hash = excluded.password_hash, display_name = excluded.display_name,"
                " session_version = excluded.session_version",
                (
                    user.name,
                    user.role,
                    user.password_hash,
                    user.display_name,
                    user.session_version,
                    user.status,
                ),
            )

        await self._write(run)

    async def delete_user(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

        return await self._write(run)

    async def list_users(self) -> list[User]:
        def run(conn: sqlite3.Connection) -> list[User]:
            rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
            return [User(*row) for row in rows]

        return await self._read(run)

    async def set_user_status(self, name: str, status: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("UPDATE users SET status = ? WHERE name = ?", (status, name)).rowcount > 0

        return await self._write(run)
