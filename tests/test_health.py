"""/healthz and /readyz (widget_server/web/health.py): ready answers 503 naming what fails whenever
pages or chats would fail, and 200 again once it is mended."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from jinja2 import FileSystemLoader

from tests.support.clients import Server, make_config, running
from tests.support.contact_centers import eventually
from tests.support.redis_server import RedisServer
from widget_server.assets import TEMPLATES
from widget_server.web import health
from widget_server.web.pages import templates


async def get(server: Server, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def store_locked(server: Server) -> AsyncIterator[None]:
    """Another client holds the store's write lock: the server's writes wait."""
    url = server.runtime.config.store
    if url.startswith("postgresql"):
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE")
                yield
        finally:
            await connection.close()
    else:
        blocker = sqlite3.connect(server.runtime.config.data_dir / "widget.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()


async def test_ready_when_everything_answers_and_not_while_the_store_takes_no_write(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = await get(server, "/readyz")
    assert status == 200 and body["status"] == "ready", body
    assert body["checks"] == {name: "ok" for name in ("store", "bus", "templates", "static", "process")}
    assert (await get(server, "/healthz")) == (200, {"status": "ok"})

    monkeypatch.setattr(health, "PROBE_TIMEOUT", 0.5)
    async with store_locked(server):
        status, body = await get(server, "/readyz")
        assert status == 503 and body["status"] == "not_ready"
        assert body["checks"]["store"] == "a write did not finish within 0.5 s"
        assert (await get(server, "/healthz"))[0] == 200  # alive all the same
    assert (await get(server, "/readyz"))[0] == 200


@pytest.fixture
def templates_copy(tmp_path: Path) -> Iterator[Path]:
    """The pages' templates served from a copy that the test may damage."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    original = templates.env.loader
    templates.env.loader = FileSystemLoader(copy)
    templates.env.cache.clear()  # type: ignore[union-attr]
    try:
        yield copy
    finally:
        templates.env.loader = original
        templates.env.cache.clear()  # type: ignore[union-attr]


async def test_not_ready_when_a_page_would_fail(server: Server, templates_copy: Path) -> None:
    assert (await get(server, "/readyz"))[0] == 200
    (templates_copy / "login.html").unlink()
    async with aiohttp.ClientSession() as http, http.get(server.url + "/agent/login") as page:
        assert page.status == 500  # the page fails...
    status, body = await get(server, "/readyz")  # ...and readiness says so
    assert status == 503 and body["checks"]["templates"] == "login.html cannot be loaded (TemplateNotFound)"


async def test_not_ready_while_redis_is_away(data_dir: Path, own_redis: RedisServer) -> None:
    async with running(make_config(data_dir, {"bus": own_redis.url})) as server:
        assert (await get(server, "/readyz"))[0] == 200
        await own_redis.stop()
        _, body = await eventually(lambda: _not_ready(server))
        why = body["checks"]["bus"]
        assert why.startswith(("the subscription to Redis is down", "Redis does not answer")), why
        await own_redis.start()
        await eventually(lambda: _ready(server), timeout=20)


async def _not_ready(server: Server) -> tuple[int, Any] | None:
    answer = await get(server, "/readyz")
    return answer if answer[0] == 503 else None


async def _ready(server: Server) -> bool:
    return (await get(server, "/readyz"))[0] == 200
