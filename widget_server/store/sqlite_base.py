"""What every part of the SQLite store shares: its two connections and the two doors through which all
work goes (reads on one thread; writes batched into group commits on another, see sqlite.py). Rows are
decoded in rows.py, which the PostgreSQL store shares.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from widget_server import metrics
from widget_server.model import AuditEntry
from widget_server.store.rows import dumps

T = TypeVar("T")


def insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, via, address, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (entry.at, entry.actor, entry.via, entry.address, entry.action, entry.target, dumps(entry.detail)),
    )


_REWRITE_A_ROW = "UPDATE counters SET value = value WHERE name = 'sites_version'"


class Doors:
    def __init__(self, path: Path, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # --- the two doors: reads and (batched) writes ----------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, fn, self._reader)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def check_writable(self) -> None:
        # A real write (SQLite rewrites the row), through the batch every write takes.
        await self._write(lambda conn: conn.execute(_REWRITE_A_ROW))

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                started = time.perf_counter()
                try:
                    outcomes = await loop.run_in_executor(self._write_thread, self._run_batch, batch)
                except BaseException as error:  # the commit itself failed: every write in it did
                    outcomes = [error] * len(batch)
                metrics.STORE_COMMIT_SECONDS.observe(time.perf_counter() - started)
                metrics.STORE_BATCH_SIZE.observe(len(batch))
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._flusher = None

    def _run_batch(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> list[Any]:
        conn = self._writer
        outcomes: list[Any] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append(fn(conn))
                except Exception as error:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append(error)
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes
