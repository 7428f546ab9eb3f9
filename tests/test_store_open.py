"""open_store: the implementation chosen by the URL's scheme, and a clear sentence when it cannot be."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.support.services import postgres_admin_url, with_database
from widget_server import model
from widget_server.store import StoreError, open_store


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unknown_scheme_names_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=r"unknown store URL scheme 'mysql': use sqlite: .* or postgresql://"
    ):
        await open_store("mysql://db/widget", tmp_path)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_both_postgresql_schemes_open_the_postgresql_store(
    scheme: str, postgres_url: str, tmp_path: Path
) -> None:
    store = await open_store(postgres_url.replace("postgresql://", f"{scheme}://", 1), tmp_path)
    try:
        assert await store.sites_version() == 0
    finally:
        await store.close()


async def test_an_unreachable_postgresql_is_one_sentence_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://widget:s3cret@127.0.0.1:{closed_port()}/widget"
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store at") as error:
        await open_store(url, tmp_path)
    assert "s3cret" not in str(error.value) and "widget:***@127.0.0.1" in str(error.value)


async def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    url = with_database(postgres_admin_url(), "ws_test_no_such_database")
    with pytest.raises(
        StoreError, match=r'cannot connect .*database "ws_test_no_such_database" does not exist'
    ):
        await open_store(url, tmp_path)


@pytest.mark.parametrize("value", ["0", "many", ""])
async def test_a_bad_pool_size_is_refused(value: str, postgres_url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="pool_max must be a whole number of at least 1"):
        await open_store(f"{postgres_url}?pool_max={value}", tmp_path)


async def test_the_pool_size_comes_from_the_url(postgres_url: str, tmp_path: Path) -> None:
    store = await open_store(f"{postgres_url}?pool_max=2", tmp_path)
    try:
        await store.create_chat(model.Chat("c1", "acme", "local", model.QUEUED, model.Visitor("C"), 1), [])
        await asyncio.gather(*(store.append("c1", [model.visit(f"/{n}")]) for n in range(50)))
        admin = await asyncpg.connect(postgres_admin_url())
        try:
            connections = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", urlsplit(postgres_url).path[1:]
            )
        finally:
            await admin.close()
        assert connections == 2
    finally:
        await store.close()
