"""Which PostgreSQL driver costs the server less CPU per append: asyncpg or psycopg 3 (async)?

The PostgreSQL store's hot path is one transaction per visitor message: move the chat's ``last_seq``
under its row lock and insert the event. This runs that transaction ``--count`` times from ``--chats``
concurrent chats through each driver's pool (10 connections), a few rounds alternating, and prints the
transactions per second and the client's CPU (``resource.getrusage``) per transaction. The database's
own CPU is the same for both and is not counted.

Usage::

    python -m bench.pg_drivers [--url postgresql://postgres@127.0.0.1:5432/postgres] [--rounds 2]

It creates and drops two tables of its own (``bench_drivers_chats``, ``bench_drivers_events``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg_pool

CHATS = "bench_drivers_chats"
EVENTS = "bench_drivers_events"
SETUP = [
    f"DROP TABLE IF EXISTS {EVENTS}",
    f"DROP TABLE IF EXISTS {CHATS}",
    f"CREATE TABLE {CHATS} (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0, preview TEXT)",
    f"CREATE TABLE {EVENTS} (chat_id TEXT, seq INTEGER, at BIGINT, kind TEXT, data TEXT, client_id TEXT,"
    " PRIMARY KEY (chat_id, seq))",
]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(name: str, append: Callable[[int], Awaitable[None]], count: int, chats: int) -> None:
    gate = asyncio.Semaphore(chats)

    async def one(n: int) -> None:
        async with gate:
            await append(n)

    started, cpu_before = time.perf_counter(), cpu()
    await asyncio.gather(*(one(n) for n in range(count)))
    elapsed, spent = time.perf_counter() - started, cpu() - cpu_before
    print(f"{name:8} {count / elapsed:8.0f} tx/s  {spent / count * 1e6:6.0f} µs client CPU/tx")


async def with_asyncpg(url: str, count: int, chats: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=10, max_size=10)
    try:
        async with pool.acquire() as conn:
            for statement in SETUP:
                await conn.execute(statement)
            await conn.executemany(
                f"INSERT INTO {CHATS} (id) VALUES ($1)", [(f"c{i}",) for i in range(chats)]
            )

        async def append(n: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                seq = await conn.fetchval(
                    f"UPDATE {CHATS} SET last_seq = last_seq + 1, preview = $2 WHERE id = $1"
                    " RETURNING last_seq",
                    f"c{n % chats}",
                    "p",
                )
                await conn.execute(
                    f"INSERT INTO {EVENTS} VALUES ($1, $2, $3, $4, $5, $6)",
                    f"c{n % chats}",
                    seq,
                    1,
                    "message",
                    json.dumps({"text": "x"}),
                    f"m{n}",
                )

        await measure("asyncpg", append, count, chats)
    finally:
        await pool.close()


async def with_psycopg(url: str, count: int, chats: int) -> None:
    pool = psycopg_pool.AsyncConnectionPool(url, min_size=10, max_size=10, open=False)
    await pool.open()
    try:
        async with pool.connection() as conn:
            for statement in SETUP:
                await conn.execute(statement)
            for i in range(chats):
                await conn.execute(f"INSERT INTO {CHATS} (id) VALUES (%s)", (f"c{i}",))

        async def append(n: int) -> None:
            async with pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(
                    f"UPDATE {CHATS} SET last_seq = last_seq + 1, preview = %s WHERE id = %s"
                    " RETURNING last_seq",
                    ("p", f"c{n % chats}"),
                )
                row = await cursor.fetchone()
                assert row is not None
                await conn.execute(
                    f"INSERT INTO {EVENTS} VALUES (%s, %s, %s, %s, %s, %s)",
                    (f"c{n % chats}", row[0], 1, "message", json.dumps({"text": "x"}), f"m{n}"),
                )

        await measure("psycopg", append, count, chats)
        async with pool.connection() as conn:
            for statement in SETUP[:2]:
                await conn.execute(statement)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.rounds):
        asyncio.run(with_asyncpg(args.url, args.count, args.chats))
        asyncio.run(with_psycopg(args.url, args.count, args.chats))


if __name__ == "__main__":
    main()
