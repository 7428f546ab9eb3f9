"""Changes apply at once: to the next handshake, and to sockets already open, in every server process
that shares the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.clients import Server, Visitor, make_config, running
from widget_server.model import Actor

OPERATOR = Actor("test", "api", "127.0.0.1")
ACME = {
    "name": "ACME",
    "allowed_origins": ["https://acme.example", "https://shop.example"],
    "blocked_ips": [],
}


async def closed_with(visitor: Visitor, timeout: float = 5.0) -> int | None:
    """Wait for the server to close the socket; return its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await visitor.ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


async def refused(server: Server, origin: str = "https://acme.example", **options: Any) -> bool:
    try:
        async with connect(server.ws_url("/ws/acme"), origin=origin, **options) as ws:  # type: ignore[arg-type]
            await ws.recv()
    except InvalidStatus as error:
        return error.response.status_code == 403
    return False


async def test_blocking_an_address_closes_its_sockets(server: Server) -> None:
    admin = server.app.state.site_admin
    await admin.create(OPERATOR, "acme", ACME)
    async with (
        Visitor.connected(
            server, site="acme", origin="https://acme.example", local_addr=("127.0.0.9", 0)
        ) as blocked,
        Visitor.connected(server, site="acme", origin="https://acme.example") as other,
    ):
        await blocked.start()
        await admin.block_ip(OPERATOR, "acme", "127.0.0.8/30")
        assert await closed_with(blocked) == 1008
        await other.send({"type": "ping"})
        assert await other.recv() == {"type": "pong"}  # the neighbour keeps chatting
    assert await refused(server, local_addr=("127.0.0.9", 0))
    assert not await refused(server)


async def test_removing_an_origin_closes_the_sockets_it_admitted(server: Server) -> None:
    admin = server.app.state.site_admin
    await admin.create(OPERATOR, "acme", ACME)
    async with (
        Visitor.connected(server, site="acme", origin="https://shop.example") as shop,
        Visitor.connected(server, site="acme", origin="https://acme.example") as acme,
    ):
        await admin.disallow_origin(OPERATOR, "acme", "https://shop.example")
        assert await closed_with(shop) == 1008
        await acme.send({"type": "ping"})
        assert await acme.recv() == {"type": "pong"}
        await admin.remove(OPERATOR, "acme")
        assert await closed_with(acme) == 1008
    assert await refused(server)


def cli(data_dir: Path, *args: str, store: str = "sqlite:") -> subprocess.CompletedProcess[str]:
    """The administration command, on the server's store."""
    config = data_dir.parent / "cli.toml"
    config.write_text(f'data_dir = "{data_dir}"\nstore = "{store}"\n')
    return subprocess.run(
        [sys.executable, "-m", "widget_server", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_a_change_from_the_cli_applies_to_the_next_connect_and_to_open_sockets(
    data_dir: Path, server: Server
) -> None:
    await server.app.state.site_admin.create(OPERATOR, "acme", ACME)
    async with Visitor.connected(
        server, site="acme", origin="https://acme.example", local_addr=("127.0.0.9", 0)
    ) as v:
        result = await asyncio.to_thread(
            cli, data_dir, "sites", "block-ip", "acme", "127.0.0.9", store=server.runtime.config.store
        )
        assert result.returncode == 0, result.stderr
        # The next handshake, at once, with no wait.
        assert await refused(server, local_addr=("127.0.0.9", 0))
        # The open socket, within a few seconds.
        assert await closed_with(v, timeout=3) == 1008
    entry = (await server.runtime.store.list_audit(1))[0]
    assert (entry.action, entry.via, entry.detail) == ("site.block_ip", "cli", {"ip": "127.0.0.9"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def second_server(config_file: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "widget_server",
                "serve",
                "--config",
                str(config_file),
                "--port",
                str(port),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WIDGET_SERVER_ADMIN_PASSWORD": "a second process"},
        )
    try:
        deadline = time.monotonic() + 30  # a loaded machine starts Python slowly
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the second server exited:\n{log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the second server did not listen within 30 s:\n{log.read_text()}")
        yield process
    finally:
        process.terminate()
        process.wait(10)


async def test_a_second_server_process_on_the_same_database_sees_a_change(data_dir: Path) -> None:
    config_file = data_dir.parent / "widget.toml"
    config_file.write_text(f'data_dir = "{data_dir}"\n')
    async with running(make_config(data_dir)) as first:
        await first.app.state.site_admin.create(OPERATOR, "acme", ACME)
        port = free_port()
        with second_server(config_file, port, data_dir.parent / "second.log"):
            second = Server(f"http://127.0.0.1:{port}", None)
            async with Visitor.connected(second, site="acme", origin="https://shop.example") as visitor:
                await visitor.start()
                await first.app.state.site_admin.disallow_origin(OPERATOR, "acme", "https://shop.example")
                assert await refused(second, origin="https://shop.example")
                assert await closed_with(visitor, timeout=3) == 1008
            assert not await refused(second, origin="https://acme.example")
