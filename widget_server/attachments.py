"""Files visitors and agents attach to a chat: what is accepted, and where the bytes live.

A file's type is decided by its content (magic bytes, via the ``filetype`` library), never by its name
or the browser's claim; a site accepts the types its ``[sites.ID.attachments]`` table lists (a few
images, PDF and plain text by default), up to ``max_bytes`` each and ``max_files`` per chat. The bytes
live in a ``FileStore`` (the data dir's ``attachments/CHAT/FILE``, a directory every host shares, or
the PostgreSQL store's database); the chat log holds an ``attachment`` event naming
the file, so everything else (order, resume, fan-out, delivery to a contact center) works as for
messages. Files are served only to the chat's visitor (through a short-lived signed link) and to agents,
always as downloads (``Content-Disposition: attachment``), so an uploaded HTML or SVG never runs in our
origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import filetype

from widget_server import model
from widget_server.config import AttachmentRules
from widget_server.model import NewEvent

if TYPE_CHECKING:
    from widget_server.chat_service import ChatService


class Refused(Exception):
    """A file that is not accepted; ``code`` for machines, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sniff(data: bytes) -> str | None:
    """The content type the bytes really have, or None if unknown. Plain text is UTF-8 without NUL or
    other control characters (bar tab, newline, carriage return, form feed)."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return str(kind.mime)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(char) < 32 and char not in "\t\n\r\f" for char in text):
        return None
    return "text/plain"


def check(rules: AttachmentRules, data: bytes, already: int) -> str:
    """The file's type if the site accepts it, else ``Refused``."""
    if already >= rules.max_files:
        raise Refused("too_many_files", f"A chat may have at most {rules.max_files} files.")
    if len(data) > rules.max_bytes:
        raise Refused("too_large", f"A file may be at most {size_text(rules.max_bytes)}.")
    if not data:
        raise Refused("empty", "The file is empty.")
    content_type = sniff(data)
    if content_type is None or content_type not in rules.types:
        raise Refused("type_not_allowed", "This type of file is not accepted here.")
    return content_type


def size_text(size: int) -> str:
    """2097152 -> "2 MB", 500000 -> "488 KB": for people."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{max(1, size // 1024)} KB"


def safe_name(name: str | None, content_type: str) -> str:
    """A file name fit to show and to offer as the download's name: no path, no control characters,
    at most 100 characters, and an extension that matches the real type."""
    # Browsers send the name as it is, escaping only '"', CR and LF (HTML's multipart/form-data rules).
    name = (name or "").replace("%22", '"').replace("%0D", "").replace("%0A", "")
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = re.sub(r"[\x00-\x1f\x7f\"<>:|?*]", "", base).strip(" .") or "file"
    stem = base.rsplit(".", 1)[0][:90] or "file"
    extension = {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/gif": "gif",
        "image/webp": "webp",
        "application/pdf": "pdf",
        "text/plain": "txt",
    }.get(content_type) or (
        filetype.get_type(mime=content_type).extension if filetype.get_type(mime=content_type) else "bin"
    )
    return f"{stem}.{extension}"


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


def open_files(store: object, data_dir: Path, shared_dir: Path | None) -> FileStore:
    """Where attachments live: ``attachments_dir`` if the operator named one; else the store's database
    if it keeps files (PostgreSQL: every host reads them); else the data dir."""
    if shared_dir is not None:
        return DirectoryFiles(shared_dir)
    kept: FileStore | None = getattr(store, "files", None)
    return kept if kept is not None else DirectoryFiles(data_dir / "attachments")


class ChatFiles:
    """A chat's files: the bytes in the ``FileStore``, each with its ``attachment`` event in the chat's
    log, written through the chat service like every event."""

    def __init__(self, files: FileStore, service: ChatService) -> None:
        self.files = files
        self.service = service

    async def attach(
        self,
        chat_id: str,
        sender: str,
        name: str,
        filename: str | None,
        content_type: str,
        data: bytes,
        *,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a file (already ``check``ed against the site's rules) and its event; the file is written
        first, and removed again if the event cannot be stored (``WrongState``: the chat has ended).
        Idempotent by ``client_id``."""
        file_id = await self.files.save(chat_id, data)
        file = {
            "id": file_id,
            "name": safe_name(filename, content_type),
            "type": content_type,
            "size": len(data),
        }
        event = NewEvent(
            model.ATTACHMENT,
            {"from": sender, "name": name, "file": file},
            client_id=f"file:{sender}:{client_id}" if client_id else None,
        )
        try:
            appended = await self.service.append(chat_id, [event], require_states=model.OPEN_STATES)
        except BaseException:  # WrongState (the chat ended) included: the caller says so
            await self.files.remove(chat_id, file_id)
            raise
        if not appended.new:
            await self.files.remove(chat_id, file_id)  # the same upload again: keep the first
        stored = appended.events[0]
        return {**stored.data["file"], "seq": stored.seq}

    async def count(self, chat_id: str) -> int:
        events = await self.service.store.events_after(chat_id, 0)
        return sum(1 for event in events if event.kind == model.ATTACHMENT)

    async def find(self, chat_id: str, file_id: str) -> tuple[StoredFile, dict[str, Any]] | None:
        """The file and its description from the log, if the chat has it and its bytes are there."""
        for event in await self.service.store.events_after(chat_id, 0):
            if event.kind == model.ATTACHMENT and event.data["file"]["id"] == file_id:
                stored = await self.files.open(chat_id, file_id)
                return None if stored is None else (stored, event.data["file"])
        return None
