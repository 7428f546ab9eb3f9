"""The file store contract: where attachments' bytes live, a directory or the PostgreSQL database; every
implementation passes this suite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from widget_server.file_store import CHUNK, DirectoryFiles, FileStore, open_files, read_all
from widget_server.store import Store, open_store

# Opens a file store on the shared place; a second call is "another process" on the same place.
Opener = Callable[[], Awaitable[FileStore]]


@pytest.fixture(params=["directory", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL database the files are kept in, or None for a directory."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


@pytest.fixture
async def open_file_store(database_url: str | None, tmp_path: Path) -> AsyncIterator[Opener]:
    stores: list[Store] = []

    async def open_() -> FileStore:
        if database_url is None:
            return open_files(object(), tmp_path / "data", tmp_path / "shared")
        store = await open_store(database_url, tmp_path)
        stores.append(store)
        return open_files(store, tmp_path / "data", None)

    yield open_
    for store in stores:
        await store.close()


@pytest.fixture
async def files(open_file_store: Opener) -> FileStore:
    return await open_file_store()


async def test_a_saved_file_reads_back_whole(files: FileStore) -> None:
    data = os.urandom(3 * CHUNK + 17)  # more than one chunk, and a ragged end
    file_id = await files.save("c-1", data)
    stored = await files.open("c-1", file_id)
    assert stored is not None and stored.size == len(data)
    chunks = [chunk async for chunk in stored.chunks()]
    assert len(chunks) == 4 and all(len(c) <= CHUNK for c in chunks)
    assert b"".join(chunks) == data


async def test_ids_are_new_each_time_and_files_are_per_chat(files: FileStore) -> None:
    first, second = await files.save("c-1", b"one"), await files.save("c-1", b"two")
    assert first != second
    assert await files.open("c-2", first) is None  # another chat's id names nothing here
    stored = await files.open("c-1", second)
    assert stored is not None and await read_all(stored) == b"two"


async def test_another_process_reads_what_one_saved(open_file_store: Opener) -> None:
    one, other = await open_file_store(), await open_file_store()
    file_id = await one.save("c-1", b"shared bytes")
    stored = await other.open("c-1", file_id)
    assert stored is not None and await read_all(stored) == b"shared bytes"


async def test_removed_and_unknown_files_are_absent(files: FileStore) -> None:
    file_id = await files.save("c-1", b"gone soon")
    await files.remove("c-1", file_id)
    assert await files.open("c-1", file_id) is None
    await files.remove("c-1", file_id)  # again: nothing to do, no error
    assert await files.open("c-1", "no-such-file") is None


async def test_removing_a_chat_removes_its_files_only(files: FileStore) -> None:
    mine = [await files.save("c-1", b"one"), await files.save("c-1", b"two")]
    other = await files.save("c-2", b"kept")
    await files.remove_chat("c-1")
    assert [await files.open("c-1", file_id) for file_id in mine] == [None, None]
    assert await files.open("c-2", other) is not None
    await files.remove_chat("c-1")  # again: nothing to do, no error
    await files.remove_chat("../c-2")  # not an id: names nothing
    assert await files.open("c-2", other) is not None


@pytest.mark.parametrize(
    ("chat_id", "file_id"), [("..", "passwd"), ("c-1", "../../etc/passwd"), ("c-1", ""), ("c/1", "x")]
)
async def test_names_that_are_not_ids_name_nothing(files: FileStore, chat_id: str, file_id: str) -> None:
    assert await files.open(chat_id, file_id) is None


async def test_many_saves_at_once_are_each_whole(files: FileStore) -> None:
    blobs = [os.urandom(CHUNK + n) for n in range(20)]
    ids = await asyncio.gather(*(files.save("c-1", blob) for blob in blobs))
    for file_id, blob in zip(ids, blobs, strict=True):
        stored = await files.open("c-1", file_id)
        assert stored is not None and await read_all(stored) == blob


def test_the_configured_directory_comes_first(tmp_path: Path) -> None:
    class KeepsFiles:
        files = DirectoryFiles(tmp_path / "database")

    chosen = open_files(KeepsFiles(), tmp_path / "data", tmp_path / "shared")
    assert isinstance(chosen, DirectoryFiles) and chosen.root == tmp_path / "shared"
    assert open_files(KeepsFiles(), tmp_path / "data", None) is KeepsFiles.files
    default = open_files(object(), tmp_path / "data", None)
    assert isinstance(default, DirectoryFiles) and default.root == tmp_path / "data" / "attachments"
