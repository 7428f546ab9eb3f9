"""Slow and piled-up HTTP connections (widget_server/web/http_protocol.py): a request that does not
arrive in time is dropped, a body that moves goes on, and one address holds a bounded number of
connections (issue: 300 connections sending partial headers, partial upgrades or slow bodies were all
held open indefinitely)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clients import Server, Visitor, make_config, running
from widget_server.web import http_protocol

DEADLINE = 0.5  # the tests' HEADER_TIMEOUT and BODY_IDLE_TIMEOUT
# The login form reads its whole body before it judges anything.
LOGIN_POST = (
    b"POST /agent/login HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
)


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_protocol, "HEADER_TIMEOUT", DEADLINE)
    monkeypatch.setattr(http_protocol, "BODY_IDLE_TIMEOUT", DEADLINE)


@contextlib.asynccontextmanager
async def tcp(server: Server) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before it closed the connection, which it must do within ``seconds``."""
    return await asyncio.wait_for(reader.read(), seconds)


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n",  # headers that never end
        b"GET /ws/demo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        LOGIN_POST % 100 + b"name=ad",  # a body that stops
    ],
    ids=["headers", "upgrade", "body"],
)
async def test_a_request_that_stops_arriving_is_dropped(server: Server, partial: bytes) -> None:
    async with tcp(server) as (reader, writer):
        writer.write(partial)
        assert await closed_within(reader, DEADLINE + 5) == b""


async def test_a_body_that_keeps_moving_goes_on(server: Server) -> None:
    body = b"name=admin&password=" + b"x" * 30
    async with tcp(server) as (reader, writer):
        writer.write(LOGIN_POST % len(body))
        for n in range(0, len(body), 10):  # 5 pieces over twice the deadline
            writer.write(body[n : n + 10])
            await asyncio.sleep(DEADLINE * 0.4)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
        assert answer.startswith(b"HTTP/1.1 400"), answer  # read in full, then judged: no CSRF token


async def test_the_next_request_on_a_kept_alive_connection_has_its_deadline_too(server: Server) -> None:
    async with tcp(server) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(reader.readuntil(b'"}'), 5)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        assert await closed_within(reader, DEADLINE + 5) == b""


async def test_one_address_holds_a_bounded_number_of_connections(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"http_connections_per_ip": 3})) as server:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(3):
                _, writer = await held.enter_async_context(tcp(server))
                writer.write(b"GET / HTTP/1.1\r\n")  # each held open, as a slow client does
            await asyncio.sleep(0.1)
            async with tcp(server) as (reader, _):
                assert (await closed_within(reader, 5)).startswith(b"HTTP/1.1 503")
        # Released when they close; and a websocket leaves the count once upgraded.
        await asyncio.sleep(0.1)
        async with contextlib.AsyncExitStack() as held:
            for _ in range(5):
                await held.enter_async_context(Visitor.connected(server))
            async with tcp(server) as (reader, writer):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).startswith(b"HTTP/1.1 200")


async def test_trusted_proxies_are_not_capped(data_dir: Path) -> None:
    config = {"http_connections_per_ip": 1, "trusted_proxies": ["127.0.0.1"]}
    async with (
        running(make_config(data_dir, config)) as server,
        tcp(server) as (_, first),
        tcp(server) as (reader, writer),
    ):
        first.write(b"GET / HTTP/1.1\r\n")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).startswith(b"HTTP/1.1 200")
