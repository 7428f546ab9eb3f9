"""A real cluster for the tests: several `widget-server serve` processes on loopback ports, sharing one
PostgreSQL database and one Redis prefix, as an operator runs them behind a load balancer.

Each node is a separate process with a data dir of its own (as separate hosts would have), the shared
secret key and admin password in its environment, and its log in a file that a failing test prints.
Nodes can be killed (SIGKILL, as a crash) and started again on the same port. Nothing is mocked: the
tests talk to the nodes over real sockets, the nodes to real PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ADMIN_PASSWORD = "cluster admin password"
STARTUP_TIMEOUT = 30.0
CHECKOUT = str(Path(__file__).resolve().parents[2])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(mapping: Mapping[str, Any], table: str = "") -> str:
    """Just enough TOML for a test's configuration (the standard library reads TOML but cannot write it)."""
    scalars = [f"{k} = {toml_value(v)}" for k, v in mapping.items() if not isinstance(v, Mapping)]
    tables = [
        to_toml(v, f"{table}.{k}" if table else k) for k, v in mapping.items() if isinstance(v, Mapping)
    ]
    head = [f"[{table}]"] if table and scalars else []
    return "\n".join([*head, *scalars, "", *tables])


@dataclass
class Node:
    """One server process; quacks like tests.support.clients.Server for the visitor and agent clients."""

    index: int
    port: int
    config_path: Path
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def admin_password(self) -> str:
        return ADMIN_PASSWORD

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "widget_server", "serve", "--config", str(self.config_path)),
                *("--port", str(self.port), "--log-level", "info", "--workers", str(self.workers)),
            ],
            cwd=self.data_dir.parent,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    status = self.process.returncode
                    raise AssertionError(f"node {self.index} exited with {status}:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"node {self.index} did not answer within {timeout} s:\n{self.log()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(20)
        self._close_log()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    nodes: list[Node] = field(default_factory=list)

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def logs(self) -> str:
        return "\n".join(f"--- node {n.index} ---\n{n.log()[-6000:]}" for n in self.nodes)


@contextlib.asynccontextmanager
async def running_cluster(
    tmp_path: Path,
    *,
    size: int,
    store: str,
    bus: str,
    config: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> AsyncIterator[Cluster]:
    """``size`` nodes (each ``widget-server serve --workers WORKERS``) on one store and bus, each with its
    own data dir; stopped (SIGTERM, then the log is kept in tmp_path) when the block ends."""
    env = {
        **os.environ,
        "WIDGET_SERVER_STORE": store,
        "WIDGET_SERVER_BUS": bus,
        "WIDGET_SERVER_SECRET_KEY": secrets.token_urlsafe(48),
        "WIDGET_SERVER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PYTHONUNBUFFERED": "1",
        # The nodes run this checkout's code, not whichever one is installed (an editable install of
        # another worktree, say), like the test process itself.
        "PYTHONPATH": os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")])),
    }
    env.pop("WIDGET_SERVER_CONFIG", None)
    cluster = Cluster()
    for index in range(size):
        host = tmp_path / f"node{index}"
        host.mkdir()
        # The same configuration on every "host"; it names no data dir, so each node has its own ./data.
        config_path = host / "widget.toml"
        config_path.write_text(to_toml(dict(config or {})), encoding="utf-8")
        log_path = tmp_path / f"node{index}.log"
        node = Node(index, free_port(), config_path, host / "data", env, log_path, workers)
        cluster.nodes.append(node)
    try:
        for node in cluster.nodes:
            node.start()
        await asyncio.gather(*(node.ready() for node in cluster.nodes))
        yield cluster
    except BaseException:
        sys.stderr.write(cluster.logs())
        raise
    finally:
        for node in cluster.nodes:
            node.stop()
