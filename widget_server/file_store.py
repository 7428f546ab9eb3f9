"""Where attachments' bytes live, behind one small interface: a directory (the data dir's, or one every
host mounts) here, or the PostgreSQL store's database (widget_server/store/postgres_files.py). It knows
nothing of chats' logs or sites' rules: widget_server/attachments.py does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHAT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
CHUNK = 64 * 1024  # what a download sends at a time


class StoredFile(Protocol):
    """A file as kept: its size, and its bytes in chunks (a download streams them)."""

    size: int

    def chunks(self) -> AsyncIterator[bytes]: ...


class FileStore(Protocol):
    """Where the bytes of attachments live: a directory (the data dir's, or one every host mounts), or
    the PostgreSQL store's database. A file is either whole or absent. Every implementation passes
    tests/test_file_store_contract.py."""

    async def save(self, chat_id: str, data: bytes) -> str:
        """Keep the bytes; return the new file's id."""
        ...

    async def open(self, chat_id: str, file_id: str) -> StoredFile | None:
        """The file, or None if it is not there (or the ids are not ids)."""
        ...

    async def remove(self, chat_id: str, file_id: str) -> None: ...

    async def remove_chat(self, chat_id: str) -> None:
        """Remove every file of a chat (it was deleted)."""
        ...


def valid_ids(chat_id: str, file_id: str) -> bool:
    """Ids as we make them: nothing else ever names a file (no paths, no dots)."""
    return bool(CHAT_ID.fullmatch(chat_id) and FILE_ID.fullmatch(file_id))


async def read_all(file: StoredFile) -> bytes:
    return b"".join([chunk async for chunk in file.chunks()])


class _DirectoryFile:
    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk


class DirectoryFiles:
    """The bytes of attachments in a directory, ``ROOT/CHAT/FILE``: the data dir's by default, or
    ``attachments_dir``, a directory every host mounts. Written to a temporary file and renamed into
    place, so a file is either whole or absent."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, chat_id: str, file_id: str) -> Path:
        if not valid_ids(chat_id, file_id):
            raise FileNotFoundError(file_id)
        return self.root / chat_id / file_id

    async def save(self, chat_id: str, data: bytes) -> str:
        file_id = secrets.token_urlsafe(16)
        path = self._path(chat_id, file_id)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise

        await asyncio.to_thread(write)
        return file_id

    async def open(self, chat_id: str, file_id: str) -> StoredFile | None:
        try:
            path = self._path(chat_id, file_id)
            size = (await asyncio.to_thread(path.stat)).st_size
        except OSError:  # not there, or not ids, or the shared directory is not mounted
            return None
        return _DirectoryFile(path, size)

    async def remove(self, chat_id: str, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(chat_id, file_id).unlink(missing_ok=True)

    async def remove_chat(self, chat_id: str) -> None:
        if CHAT_ID.fullmatch(chat_id):
            await asyncio.to_thread(shutil.rmtree, self.root / chat_id, ignore_errors=True)


def open_files(store: object, data_dir: Path, shared_dir: Path | None) -> FileStore:
    """Where attachments live: ``attachments_dir`` if the operator named one; else the store's database
    if it keeps files (PostgreSQL: every host reads them); else the data dir."""
    if shared_dir is not None:
        return DirectoryFiles(shared_dir)
    kept: FileStore | None = getattr(store, "files", None)
    return kept if kept is not None else DirectoryFiles(data_dir / "attachments")
