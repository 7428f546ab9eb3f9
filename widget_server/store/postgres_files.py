"""Attachments' bytes in the PostgreSQL store's database: every process on every host reads every file,
with nothing else to share. A file is one row, written in one statement (whole or absent) and read in
slices, so that a download streams without holding the whole file in memory.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

from widget_server.file_store import CHUNK, StoredFile, valid_ids
from widget_server.model import now_ms


class _DatabaseFile:
    def __init__(self, pool: Any, chat_id: str, file_id: str, size: int) -> None:
        self._pool = pool
        self._key = (chat_id, file_id)
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        for offset in range(0, self.size, CHUNK):
            chunk = await self._pool.fetchval(
                "SELECT substring(data FROM $3 FOR $4) FROM files WHERE chat_id = $1 AND id = $2",
                *self._key,
                offset + 1,  # SQL counts from 1
                CHUNK,
            )
            if chunk is None:  # removed while being read
                return
            yield bytes(chunk)


class PostgresFiles:
    """The ``FileStore`` (widget_server/attachments.py) of the PostgreSQL store, on its pool."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def save(self, chat_id: str, data: bytes) -> str:
        file_id = secrets.token_urlsafe(16)
        if not valid_ids(chat_id, file_id):
            raise FileNotFoundError(chat_id)
        await self._pool.execute(
            "INSERT INTO files (chat_id, id, size, data, created_at) VALUES ($1, $2, $3, $4, $5)",
            chat_id,
            file_id,
            len(data),
            data,
            now_ms(),
        )
        return file_id

    async def open(self, chat_id: str, file_id: str) -> StoredFile | None:
        if not valid_ids(chat_id, file_id):
            return None
        size = await self._pool.fetchval(
            "SELECT size FROM files WHERE chat_id = $1 AND id = $2", chat_id, file_id
        )
        return None if size is None else _DatabaseFile(self._pool, chat_id, file_id, size)

    async def remove(self, chat_id: str, file_id: str) -> None:
        await self._pool.execute("DELETE FROM files WHERE chat_id = $1 AND id = $2", chat_id, file_id)

    async def remove_chat(self, chat_id: str) -> None:
        await self._pool.execute("DELETE FROM files WHERE chat_id = $1", chat_id)
