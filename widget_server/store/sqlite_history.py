"""The SQLite store's queries for the history API: chats by id, search candidates, edits, deletion."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from widget_server.model import AuditEntry, Chat, Event, Visitor
from widget_server.store import ChatNotFound
from widget_server.store.rows import CHAT_COLUMNS, EVENT_COLUMNS, chat_of, dumps, event_of
from widget_server.store.sqlite_base import Doors, insert_audit


class HistoryQueries(Doors):
    async def get_chats(self, chat_ids: Sequence[str]) -> dict[str, Chat]:
        ids = list(dict.fromkeys(chat_ids))

        def run(conn: sqlite3.Connection) -> dict[str, Chat]:
            found: dict[str, Chat] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    f"SELECT {CHAT_COLUMNS} FROM chats WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((row[0], chat_of(row)) for row in rows)
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
                    f"SELECT chat_id, {EVENT_COLUMNS} FROM events"
                    f" WHERE chat_id IN ({','.join('?' * len(chunk))}){kind_clause} ORDER BY chat_id, seq",
                    (*chunk, *(kinds or ())),
                ).fetchall()
                for row in rows:
                    found.setdefault(row[0], []).append(event_of(row[0], row[1:]))
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
        sites: Sequence[str] | None = None,
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
        if sites is not None:
            where.append(f"site IN ({','.join('?' * len(sites))})" if sites else "0")
            values.extend(sites)
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
                f"SELECT {CHAT_COLUMNS} FROM chats WHERE id = ? AND deleted_at IS NULL", (chat_id,)
            ).fetchone()
            if row is None:
                raise ChatNotFound(chat_id)
            chat = chat_of(row)
            changed = replace(
                chat,
                visitor=Visitor.from_json({**chat.visitor.to_json(), **(visitor or {})}),
                meta={**chat.meta, **(meta or {})},
            )
            conn.execute(
                "UPDATE chats SET visitor = ?, meta = ? WHERE id = ?",
                (dumps(changed.visitor.to_json()), dumps(changed.meta), chat_id),
            )
            if audit is not None:
                insert_audit(conn, audit)
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
                    insert_audit(conn, replace(audit, target=chat_id))
                    outcomes[chat_id] = "deleted"
            return outcomes

        return await self._write(run)
