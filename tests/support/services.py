"""PostgreSQL and Redis for the tests, each test with its own database and its own Redis key prefix.

scripts/test-services makes sure both answer (starting throwaway instances where the machine has none)
and names them in WIDGET_SERVER_TEST_POSTGRES (a URL whose user may create databases) and
WIDGET_SERVER_TEST_REDIS. A test that needs them and finds them unreachable fails: it is never skipped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as redis

POSTGRES_ENV = "WIDGET_SERVER_TEST_POSTGRES"
REDIS_ENV = "WIDGET_SERVER_TEST_REDIS"


def postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/postgres")


def redis_base_url() -> str:
    return os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database for one test; yields its URL and drops it afterwards."""
    admin_url = postgres_admin_url()
    name = f"ws_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def fresh_redis_prefix() -> AsyncIterator[str]:
    """A bus URL with a key and channel prefix of one test's own; yields it and deletes the test's keys
    afterwards."""
    base = redis_base_url()
    prefix = f"ws-test-{uuid.uuid4().hex[:16]}:"
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}prefix={prefix}"
    finally:
        client = redis.Redis.from_url(base)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
