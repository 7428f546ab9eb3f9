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

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Protocol

import filetype

from widget_server import model
from widget_server.config import AttachmentRules
from widget_server.file_store import FileStore, StoredFile
from widget_server.model import Event, NewEvent
from widget_server.store import Appended, LimitReached


class ChatLog(Protocol):
    """What ``ChatFiles`` needs of the chat service: appending to a chat's log (stored, then published)
    and reading it. A Protocol, so that this module does not depend on the service that uses it."""

    async def append(
        self,
        chat_id: str,
        events: Sequence[NewEvent],
        *,
        require_states: Sequence[str] | None = None,
        at_most: tuple[str, int] | None = None,
    ) -> Appended: ...

    async def events_after(self, chat_id: str, after: int) -> list[Event]: ...


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


class ChatFiles:
    """A chat's files: the bytes in the ``FileStore``, each with its ``attachment`` event in the chat's
    log, written through the chat service like every event."""

    def __init__(self, files: FileStore, log: ChatLog) -> None:
        self.files = files
        self.log = log

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
        max_files: int | None = None,
    ) -> dict[str, Any]:
        """Store a file (already ``check``ed against the site's rules) and its event; the file is written
        first, and removed again if the event cannot be stored (``WrongState``: the chat has ended;
        ``Refused``: the chat already holds ``max_files``, counted by the store as it appends, so that
        uploads racing on one chat cannot pass the limit together). Idempotent by ``client_id``."""
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
        limit = (model.ATTACHMENT, max_files) if max_files is not None else None
        try:
            appended = await self.log.append(
                chat_id, [event], require_states=model.OPEN_STATES, at_most=limit
            )
        except LimitReached:
            await self.files.remove(chat_id, file_id)
            raise Refused("too_many_files", f"A chat may have at most {max_files} files.") from None
        except BaseException:  # WrongState (the chat ended) included: the caller says so
            await self.files.remove(chat_id, file_id)
            raise
        if not appended.new:
            await self.files.remove(chat_id, file_id)  # the same upload again: keep the first
        stored = appended.events[0]
        # Numbered as the uploader sees the log: a visitor's view leaves agents' notes out (model.py).
        seq = stored.visitor_seq if sender == model.VISITOR else stored.seq
        return {**stored.data["file"], "seq": seq}

    async def remove_all(self, chat_id: str) -> None:
        """The chat was deleted: its files go with it (its events stay, for the audit, unreadable)."""
        await self.files.remove_chat(chat_id)

    async def count(self, chat_id: str) -> int:
        events = await self.log.events_after(chat_id, 0)
        return sum(1 for event in events if event.kind == model.ATTACHMENT)

    async def find(self, chat_id: str, file_id: str) -> tuple[StoredFile, dict[str, Any]] | None:
        """The file and its description from the log, if the chat has it and its bytes are there."""
        for event in await self.log.events_after(chat_id, 0):
            if event.kind == model.ATTACHMENT and event.data["file"]["id"] == file_id:
                stored = await self.files.open(chat_id, file_id)
                return None if stored is None else (stored, event.data["file"])
        return None
