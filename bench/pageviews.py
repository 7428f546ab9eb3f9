"""Page views that do not chat: what a visit to a page with the widget costs the server.

    python -m bench.pageviews [--seconds 10] [--concurrency 64] [--workers 2]
    python -m bench --only pageviews    # the same, as a workload of the full run

Most page views of a site with the widget never chat. Until the widget asked for its ``hello`` over HTTP,
each of them opened a websocket (a handshake, the hello, a socket held for the page's life). This runs, in
the same run and with the same load, as many page views as the server answers, each on a fresh
connection as a new visitor's browser makes it:

- ``ws``: the page view as it was, the handshake of ``/ws/bench`` and its hello, then a close;
- ``http``: the page view as it is, ``GET /hello/bench`` (the widget opens its socket only when the visitor
  opens it or has a chat);
- the ceiling (bench/ceiling.py): its handshake and hello, then a close, the cheapest a socket can be.

It prints page views per second and the server's CPU per page view for each, and the ratios to the
ceiling's handshakes (issue target: at least 0.5x, or no socket at all). The server has core 0; the load
(raw asyncio sockets in ``--workers`` processes: no client library between us and the figure) core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import time
from typing import Any

from bench.servers import CeilingServer, ServerProcess, WidgetServer

ORIGIN = "http://localhost:3000"
CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe9"  # masked (with a zero mask) close, 1001 "going away"


def _request(kind: str, port: int) -> bytes:
    if kind == "http":
        return (
            f"GET /hello/bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _page_view(kind: str, port: int) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request(kind, port))
        head = await reader.readuntil(b"\r\n\r\n")
        if kind == "http":
            await reader.read()  # to the end: Connection: close
            return head.startswith(b"HTTP/1.1 200")
        if not head.startswith(b"HTTP/1.1 101"):
            return False
        first = await reader.readexactly(2)  # the hello: an unmasked text frame from the server
        length = first[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        hello = await reader.readexactly(length)
        writer.write(CLOSE_FRAME)
        return b'"hello"' in hello
    finally:
        writer.close()


def _worker(kind: str, port: int, concurrency: int, until: float, queue: Any) -> None:
    os.sched_setaffinity(0, {1} if os.cpu_count() and os.cpu_count() > 1 else {0})  # type: ignore[operator]

    async def main() -> tuple[int, int]:
        done = failed = 0

        async def loop() -> None:
            nonlocal done, failed
            while time.time() < until:
                try:
                    ok = await _page_view(kind, port)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    ok = False
                if ok:
                    done += 1
                else:
                    failed += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done, failed

    queue.put(asyncio.run(main()))


def measure(server: ServerProcess, kind: str, args: argparse.Namespace) -> dict[str, float]:
    # A short warm-up, then the measured run.
    results = []
    for seconds in (1.0, args.seconds):
        queue: Any = multiprocessing.Queue()
        until = time.time() + seconds
        cpu = server.cpu()
        started = time.time()
        workers = [
            multiprocessing.Process(target=_worker, args=(kind, server.port, args.concurrency, until, queue))
            for _ in range(args.workers)
        ]
        for worker in workers:
            worker.start()
        counts = [queue.get() for _ in workers]
        for worker in workers:
            worker.join()
        elapsed, cpu = time.time() - started, server.cpu() - cpu
        done, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
        results.append(
            {
                "per_second": done / elapsed,
                "failed": failed,
                "cpu_ms_each": 1000 * cpu / done if done else float("nan"),
            }
        )
        time.sleep(1.0)  # closed sockets go
    return results[-1]


def run(seconds: float, concurrency: int, workers: int, log: Any = print) -> dict[str, dict[str, float]]:
    """Page views against widget_server (as a socket, as it was, and over HTTP, as it is) and the ceiling's
    handshakes, each on a fresh server on core 0. Returns ``{"widget_server ws": {...}, ...}``."""
    args = argparse.Namespace(seconds=seconds, concurrency=concurrency, workers=workers)
    server_cores = {0} if (os.cpu_count() or 1) > 1 else None
    figures: dict[str, dict[str, float]] = {}
    for label, make, kinds in (
        ("widget_server", WidgetServer, ("ws", "http")),
        ("ceiling", CeilingServer, ("ws",)),
    ):
        server = make(server_cores)
        server.start()
        try:
            for kind in kinds:
                figures[f"{label} {kind}"] = measure(server, kind, args)
                log(f"page views, {label} {kind}: {figures[f'{label} {kind}']}")
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64, help="page views in flight per worker")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    figures = run(args.seconds, args.concurrency, args.workers)
    ceiling = figures["ceiling ws"]["per_second"]
    print()
    print("| page view | per second | server CPU each (ms) | failed | vs the ceiling's handshakes |")
    print("|---|--:|--:|--:|--:|")
    for name, figure in figures.items():
        print(
            f"| {name} | {figure['per_second']:,.0f} | {figure['cpu_ms_each']:.3g} | {figure['failed']:,.0f}"
            f" | {figure['per_second'] / ceiling:.2f}x |"
        )


if __name__ == "__main__":
    main()
