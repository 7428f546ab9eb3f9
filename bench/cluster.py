"""widget_server as a cluster for ``python -m bench --cluster N``: N processes on PostgreSQL and Redis.

Each process listens on a port of its own, as the hosts behind a load balancer do; the load generator
spreads the visitors over them (load-generator worker i talks to process i mod N) and the scripted agent
signs in on the first, so that the messages of visitors on the other processes cross the Redis bus to
reach the agent. Every run gets a fresh database and a Redis key prefix of its own, dropped at the end.

CPU is what the deployment spends: the N server processes, the PostgreSQL backends that serve this run's
database (found in pg_stat_activity) and redis-server. PostgreSQL's background processes (WAL writer,
checkpointer) are not counted: they serve every database on the machine. Redis is shared with whatever
else uses it on this machine, so its share is an upper bound.

PostgreSQL and Redis are the ones named by WIDGET_SERVER_TEST_POSTGRES and WIDGET_SERVER_TEST_REDIS
(scripts/test-services prints them), else the machine's on their standard ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import gclog
from bench.servers import ServerProcess, WidgetServer, cpu_seconds, free_port, rss_bytes

POSTGRES = os.environ.get("WIDGET_SERVER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("WIDGET_SERVER_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def _execute(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _fetch(url: str, query: str, *args: Any) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def _redis_pid() -> int | None:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        return int(client.info("server")["process_id"])
    except Exception:
        return None  # not readable (a Redis elsewhere): its CPU is left out, and the report says so
    finally:
        client.close()


class Node(WidgetServer):
    """One process of the cluster: widget_server on a port of its own, sharing the cluster's directory,
    configuration, environment (store, bus, secret key) and admin token."""

    def __init__(self, cluster: ClusterServer, index: int) -> None:
        # Not WidgetServer.__init__: the cluster owns the directory and the configuration.
        self.cluster = cluster
        self.cores = cluster.cores
        self.work = cluster.work
        self.config = cluster.config
        self.port = free_port()
        self.gc_file = cluster.work / f"gc-{index}.log"
        self.log_file = cluster.work / f"server-{index}.log"
        self.process = None

    def env(self) -> dict[str, str]:
        return self.cluster.env()

    def start(self) -> None:
        ServerProcess.start(self)  # the cluster ran the CLI steps once for all


class ClusterServer(WidgetServer):
    label = "cluster"

    def __init__(self, cores: set[int] | None, size: int = 2) -> None:
        super().__init__(cores)
        self.name = f"cluster of {size}"
        self.db_name = f"bench_{uuid.uuid4().hex[:12]}"
        self.store_url = urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{self.db_name}"))
        self.prefix = f"bench-{uuid.uuid4().hex[:12]}:"
        self.bus_url = f"{REDIS}{'&' if '?' in REDIS else '?'}prefix={self.prefix}"
        self.secret_key = secrets.token_urlsafe(48)
        self.nodes = [Node(self, i) for i in range(size)]
        self.port = self.nodes[0].port  # the agent signs in and the admin API is read here
        self.redis_pid = _redis_pid()
        self._backend_cpu: dict[int, float] = {}  # every backend seen, with its last reading

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            WIDGET_SERVER_STORE=self.store_url,
            WIDGET_SERVER_BUS=self.bus_url,
            WIDGET_SERVER_SECRET_KEY=self.secret_key,
        )
        return env

    def start(self) -> None:
        asyncio.run(_execute(POSTGRES, f'CREATE DATABASE "{self.db_name}"'))
        self.prepare()  # also migrates the new database, before the processes start
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        with contextlib.suppress(Exception):
            asyncio.run(_execute(POSTGRES, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(REDIS)
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()

    @property
    def pid(self) -> int:
        return self.nodes[0].pid

    @property
    def visitor_urls(self) -> list[str]:
        return [node.visitor_url for node in self.nodes]

    # --- what the deployment spends ------------------------------------------------------------------

    def cpu_parts(self) -> dict[str, float]:
        """CPU seconds so far of the server processes, this database's PostgreSQL backends (each backend
        ever seen, at its last reading: one that exits keeps what it spent) and redis-server."""
        rows = asyncio.run(
            _fetch(POSTGRES, "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.db_name)
        )
        for row in rows:
            with contextlib.suppress(OSError, IndexError):
                self._backend_cpu[int(row["pid"])] = cpu_seconds(int(row["pid"]))
        redis_cpu = 0.0
        if self.redis_pid is not None:
            with contextlib.suppress(OSError, IndexError):
                redis_cpu = cpu_seconds(self.redis_pid)
        return {
            "servers": sum(cpu_seconds(node.pid) for node in self.nodes),
            "postgres": sum(self._backend_cpu.values()),
            "redis": redis_cpu,
        }

    def rss(self) -> int:
        return sum(rss_bytes(node.pid) for node in self.nodes)

    def gc_pauses(self) -> list[gclog.Pause]:
        return [pause for node in self.nodes for pause in node.gc_pauses()]

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"--- process {i}\n{node.log_tail(lines)}" for i, node in enumerate(self.nodes))

    # --- what the database holds ---------------------------------------------------------------------

    def stored_messages(self, chats: list[str]) -> int | None:
        rows = asyncio.run(
            _fetch(
                self.store_url,
                "SELECT COUNT(*) AS n FROM events WHERE chat_id = ANY($1::text[])"
                " AND kind = 'message' AND data::jsonb->>'from' = 'visitor'",
                chats,
            )
        )
        return int(rows[0]["n"])

    def last_seqs(self, chats: list[str]) -> dict[str, int]:
        rows = asyncio.run(
            _fetch(self.store_url, "SELECT id, last_seq FROM chats WHERE id = ANY($1::text[])", chats)
        )
        return {row["id"]: int(row["last_seq"]) for row in rows}

    def stored_twice(self) -> int:
        rows = asyncio.run(
            _fetch(
                self.store_url,
                "SELECT COUNT(*) AS n FROM (SELECT chat_id, client_id FROM events"
                " WHERE client_id IS NOT NULL GROUP BY chat_id, client_id HAVING COUNT(*) > 1) AS twice",
            )
        )
        return int(rows[0]["n"])
