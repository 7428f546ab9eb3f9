from __future__ import annotations

import contextlib
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
    # Nor does the environment the suite runs in choose its store, bus or configuration.
    for name in ("WIDGET_SERVER_STORE", "WIDGET_SERVER_BUS", "WIDGET_SERVER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["embedded", "shared"], ids=["sqlite+memory", "postgresql+redis"])
async def server(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Server]:
    """The server as `widget-server` runs it with no configuration (the demo site, built-in backend),
    once on the embedded store and bus, and once on those that several processes share: PostgreSQL (a
    database of the test's own) and Redis (a prefix of its own)."""
    async with contextlib.AsyncExitStack() as stack:
        engines = {}
        if request.param == "shared":
            engines["store"] = await stack.enter_async_context(fresh_database())
            engines["bus"] = await stack.enter_async_context(fresh_redis_prefix())
        server = await stack.enter_async_context(running(make_config(data_dir, engines)))
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
