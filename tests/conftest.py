from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clients import Server, make_config, running
from tests.support.redis_server import RedisServer, redis_server
from tests.support.services import fresh_database, fresh_redis_prefix


@pytest.fixture(autouse=True)
def _test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test gets its own generated secrets and passwords in its own data dir.
    monkeypatch.delenv("WIDGET_SERVER_SECRET_KEY", raising=False)
    monkeypatch.delenv("WIDGET_SERVER_ADMIN_PASSWORD", raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[Server]:
    """The server as `widget-server` runs it with no configuration: the demo site, built-in backend."""
    async with running(make_config(data_dir)) as server:
        yield server


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="widget_server")
    return caplog


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of this test's own (tests/support/services.py)."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis URL with a key and channel prefix of this test's own (tests/support/services.py)."""
    async with fresh_redis_prefix() as url:
        yield url


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own, which it may restart (tests/support/redis_server.py)."""
    async with redis_server(tmp_path / "redis") as server:
        yield server
