"""The PostgreSQL store's queries for the history API: chats by id, search candidates, edits, deletion.

The loose search conditions keep what the SQLite store keeps (see sqlite_history.py): every chat that
Python's ``str.casefold()`` could match, judged with ASCII case folding only (``ILIKE`` under the "C"
collation), and any text holding a non-ASCII character is always kept for the caller to decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from widget_server.model import AuditEntry, Chat, Event, Visitor
from widget_server.store import ChatNotFound
from widget_server.store.postgres_base import Params, Pooled, insert_audit
from widget_server.store.rows import CHAT_COLUMNS, EVENT_COLUMNS, chat_of, dumps, event_of

_LOGGED = "kind IN ('message', 'joined', 'left')"


def _has_non_ascii(expr: str) -> str:
    return f"(octet_length({expr}) <> char_length({expr}))"


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _may_equal(p: Params, expr: str, value: str) -> str:
    if not value.isascii():
        return _has_non_ascii(expr)
    return f'(lower({expr} COLLATE "C") = {p(value.lower())} OR {_has_non_ascii(expr)})'


def _may_contain(p: Params, expr: str, word: str) -> str:
    if not word.isascii():
        return _has_non_ascii(expr)
    return f'({expr} COLLATE "C" ILIKE {p(_like(word))} OR {_has_non_ascii(expr)})'


class HistoryQueries(Pooled):
    async def get_chats(self, chat_ids: Sequence[str]) -> dict[str, Chat]:
        rows = await self._pool.fetch(
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = ANY($1::text[])", list(dict.fromkeys(chat_ids))
        )
        return {row[0]: chat_of(row) for row in rows}

    async def events_of_chats(
        self, chat_ids: Sequence[str], kinds: Sequence[str] | None = None
    ) -> dict[str, list[Event]]:
        rows = await self._pool.fetch(
            f"SELECT chat_id, {EVENT_COLUMNS} FROM events WHERE chat_id = ANY($1::text[])"
            " AND ($2::text[] IS NULL OR kind = ANY($2::text[])) ORDER BY chat_id, seq",
            list(dict.fromkeys(chat_ids)),
            list(kinds) if kinds else None,
        )
        found: dict[str, list[Event]] = {}
        for row in rows:
            found.setdefault(row[0], []).append(event_of(row[0], row[1:]))
        return found

    async def find_chat_keys(
        self,
        *,
        created: tuple[int | None, int | None] = (None, None),
        ended: tuple[int | None, int | None] | None = None,
        types: Sequence[str] | None = None,
        rating: str | None = None,
        email: str | None = None,
        words: Sequence[tuple[str, str]] = (),
        sites: Sequence[str] | None = None,
        before: tuple[int, str] | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> list[tuple[int, str]]:
        p = Params()
        where = ["deleted_at IS NULL"]
        ranges = [("created_at", created)]
        if ended is not None:
            where.append("ended_at IS NOT NULL")
            ranges.append(("ended_at", ended))
        for column, (start, end) in ranges:
            if start is not None:
                where.append(f"{column} >= {p(start)}")
            if end is not None:
                where.append(f"{column} < {p(end)}")
        if types is not None:
            where.append(f"type = ANY({p(list(types))}::text[])")
        if sites is not None:
            where.append(f"site = ANY({p(list(sites))}::text[])")
        if rating is not None:
            where.append(f"meta ->> 'rating' = {p(rating)}")
        if email is not None:
            where.append(_may_equal(p, "coalesce(visitor ->> 'email', '')", email))
        order = "DESC"
        if before is not None:
            where.append(f"(created_at, id) < ({p(before[0])}, {p(before[1])})")
        if after is not None:
            where.append(f"(created_at, id) > ({p(after[0])}, {p(after[1])})")
            order = "ASC"  # the nearest newer ones; turned newest first below
        where.extend(_word_conditions(p, words))
        rows = await self._pool.fetch(
            f"SELECT created_at, id FROM chats WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {order}, id {order} LIMIT {p(limit)}",
            *p.values,
        )
        keys = [(int(row[0]), str(row[1])) for row in rows]
        return keys[::-1] if order == "ASC" else keys

    async def edit_chat(
        self,
        chat_id: str,
        *,
        visitor: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        audit: AuditEntry | None = None,
    ) -> Chat:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", chat_id
            )
            if row is None:
                raise ChatNotFound(chat_id)
            chat = chat_of(row)
            changed = replace(
                chat,
                visitor=Visitor.from_json({**chat.visitor.to_json(), **(visitor or {})}),
                meta={**chat.meta, **(meta or {})},
            )
            await conn.execute(
                "UPDATE chats SET visitor = $2, meta = $3 WHERE id = $1",
                chat_id,
                dumps(changed.visitor.to_json()),
                dumps(changed.meta),
            )
            if audit is not None:
                await insert_audit(conn, audit)
            return changed

    async def delete_chats(self, chat_ids: Sequence[str], audit: AuditEntry) -> dict[str, str]:
        ids = list(dict.fromkeys(chat_ids))
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, deleted_at FROM chats WHERE id = ANY($1::text[]) FOR UPDATE", ids
            )
            deleted_at = {row[0]: row[1] for row in rows}
            outcomes: dict[str, str] = {}
            for chat_id in ids:
                if chat_id not in deleted_at:
                    outcomes[chat_id] = "not_found"
                elif deleted_at[chat_id] is not None:
                    outcomes[chat_id] = "already_deleted"
                else:
                    outcomes[chat_id] = "deleted"
            fresh = [chat_id for chat_id, outcome in outcomes.items() if outcome == "deleted"]
            if fresh:
                await conn.execute(
                    "UPDATE chats SET deleted_at = $1 WHERE id = ANY($2::text[])", audit.at, fresh
                )
                for chat_id in fresh:
                    await insert_audit(conn, replace(audit, target=chat_id))
            return outcomes


def _word_conditions(p: Params, words: Sequence[tuple[str, str]]) -> list[str]:
    """The WHERE clauses for ``find_chat_keys``' words; a word in the messages is looked for with a
    semi-join on the chat's events, which the planner runs per chat or as one pass, whichever is cheaper."""
    nickname = "coalesce(visitor ->> 'nickname', '')"
    own = {
        "visitor": [nickname],
        "agents": ["coalesce(agent_name, '')"],
        "any": [nickname, "coalesce(visitor ->> 'email', '')", "coalesce(agent_name, '')"],
    }
    clauses = []
    for place, word in words:
        if place not in own:
            raise ValueError(f"unknown place {place!r}")
        alternatives = [_may_contain(p, expr, word) for expr in own[place]]
        if place != "visitor":
            alternatives.append(
                f"EXISTS (SELECT 1 FROM events e WHERE e.chat_id = chats.id AND e.{_LOGGED}"
                f" AND {_may_contain(p, 'e.data', word)})"
            )
        clauses.append(f"({' OR '.join(alternatives)})")
    return clauses
