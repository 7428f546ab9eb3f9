"""``python -m bench --soak``: visitors coming and going for half an hour, to find what leaks.

A run of the other workloads lasts seconds per phase; a leak shows only over time: memory that grows
with every socket opened and closed, a file descriptor or a task left behind per chat, acks that slow as
the database fills. Here ``--soak-visitors`` visitors (5,000) each live as a browser tab does, in worker
processes of their own (``websockets`` clients, ~250 visitors a process's loop can keep on time):

    connect -> start a chat, or resume theirs -> say something every 15 to 45 s, two to six times
    -> close the socket -> away for 5 to 30 s -> come back and resume; every third visit ends the chat
    (the next starts a new one), so at most one open chat per visitor, as on a real site. With 5,000
    visitors: about 150 messages and 35 visits a second, all day long.

The server has a core of its own and the visitors the others (where there are two or more).

Every ``SAMPLE`` seconds the orchestrator reads the server's resident memory (/proc), its open file
descriptors (/proc/PID/fd), its asyncio tasks and visitor sockets (its /metrics) and the acks' latency
in that window (measured in the workers, from a message sent to its ack). Before the load and after it
(every visitor gone, a settling pause) it reads the same: descriptors and tasks must come back to where
they were. The memory drift is taken after the warm-up (``--soak-warmup`` minutes: the database's cache,
the allocator's arenas and the sockets' buffers fill first), from the first sample after it to the last
one under load; the target is under 5 %.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.servers import VISITOR_ORIGIN, WidgetServer, raise_open_files

SAMPLE = 30.0  # seconds between samples
PER_WORKER = 250  # visitors per load process
SOURCE_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 250)]  # no address runs out of ephemeral ports


# --- the visitors (in the worker processes) -----------------------------------------------------------


class Tab:
    """One visitor: the chat it has (token, last seq), and its acks' latencies for the orchestrator."""

    def __init__(self, index: int, url: str, acks: list[float], errors: list[str]) -> None:
        self.index = index
        self.url = url
        self.acks = acks
        self.errors = errors
        self.token = ""
        self.last_seq = 0
        self.visits = 0
        self.said = 0

    async def live(self, until: float) -> None:
        await asyncio.sleep(random.uniform(0, 20))  # arrivals spread over the first 20 s
        while time.monotonic() < until:
            try:
                await self._visit(until)
            except (OSError, WebSocketException, TimeoutError, KeyError) as error:
                # A close says who closed and why: 1013 is the server closing a client that fell behind.
                received = getattr(error, "rcvd", None)
                code = f" {received.code}" if received is not None else ""
                self.errors.append(type(error).__name__ + code)
            await asyncio.sleep(random.uniform(5, 30))  # away

    async def _visit(self, until: float) -> None:
        source = SOURCE_ADDRESSES[self.index % len(SOURCE_ADDRESSES)]
        async with connect(
            self.url,
            origin=VISITOR_ORIGIN,
            local_addr=(source, 0),
            open_timeout=30,
            ping_interval=None,
            # Read the socket all the time, as a browser does: with the default bound (16 unread frames)
            # a tab sleeping between its messages stopped reading its queue places, and so the server's
            # pings, and the server closed it (1011, keepalive ping timeout).
            max_queue=None,
        ) as ws:  # type: ignore[arg-type]
            await self._answer(ws, "hello")
            self.visits += 1
            if self.token:
                await ws.send(json.dumps({"type": "resume", "token": self.token, "after": self.last_seq}))
            else:
                await ws.send(json.dumps({"type": "start", "nickname": f"Soak {self.index}"}))
            self.token = (await self._answer(ws, "welcome"))["token"]
            for _ in range(random.randint(2, 6)):
                await asyncio.sleep(random.uniform(15, 45))
                if time.monotonic() >= until:
                    return
                self.said += 1
                message_id = f"m{self.said}"
                sent = time.monotonic()
                await ws.send(json.dumps({"type": "say", "id": message_id, "text": f"message {self.said}"}))
                await self._answer(ws, "ack", message_id)
                self.acks.append(time.monotonic() - sent)
            if self.visits % 3 == 0:  # this chat is over; the next visit starts another
                await ws.send(json.dumps({"type": "end"}))
                self.token, self.last_seq = "", 0

    async def _answer(self, ws: Any, kind: str, message_id: str | None = None) -> dict[str, Any]:
        async with asyncio.timeout(30):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "event":
                    self.last_seq = max(self.last_seq, frame["seq"])
                elif frame["type"] == kind and (message_id is None or frame.get("id") == message_id):
                    return frame  # type: ignore[no-any-return]
                elif frame["type"] == "error":
                    raise KeyError(frame["code"])


def worker_main(
    first: int, count: int, url: str, seconds: float, pipe: Connection, cores: list[int] | None
) -> None:
    """A load process: ``count`` tabs until ``seconds`` have passed; sends the acks' latencies of each
    sampling window when asked ("acks"), and at the end ("done") its errors."""
    if cores:
        os.sched_setaffinity(0, cores)
    raise_open_files()
    asyncio.run(_worker(first, count, url, seconds, pipe))


async def _worker(first: int, count: int, url: str, seconds: float, pipe: Connection) -> None:
    acks: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    tabs = [Tab(first + n, url, acks, errors) for n in range(count)]
    lives = asyncio.gather(*(tab.live(until) for tab in tabs))
    loop = asyncio.get_running_loop()
    while True:  # "acks": this window's; "done": the load is over
        if not await loop.run_in_executor(None, pipe.poll, 1.0):
            continue
        if pipe.recv() != "acks":
            break
        pipe.send(list(acks))
        acks.clear()
    await lives  # each tab stops at its next step after ``until``
    pipe.send({"acks": list(acks), "errors": errors})


# --- the orchestrator ---------------------------------------------------------------------------------


def _scrape(port: int) -> dict[str, float]:
    """The server's tasks and sockets; nothing when it does not answer in time (an overloaded server is
    a finding of the soak, not the end of it)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
    except OSError:
        return {}
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("widget_asyncio_tasks ", "widget_visitor_sockets ")):
            name, value = line.split()
            figures[name] = float(value)
    return figures


def _sample(server: WidgetServer, started: float, acks: list[float] | None = None) -> dict[str, Any]:
    figures = _scrape(server.port)
    sample: dict[str, Any] = {
        "minute": round((time.monotonic() - started) / 60, 2),
        "rss_mib": round(server.rss() / 2**20, 1),
        "fds": len(os.listdir(f"/proc/{server.pid}/fd")),
        "tasks": int(figures.get("widget_asyncio_tasks", -1)),
        "sockets": int(figures.get("widget_visitor_sockets", -1)),
    }
    if acks is not None:
        ordered = sorted(acks)
        sample["acks"] = len(ordered)
        sample["ack_p50_ms"] = round(statistics.median(ordered) * 1000, 2) if ordered else None
        sample["ack_p99_ms"] = round(ordered[int(len(ordered) * 0.99)] * 1000, 2) if ordered else None
    return sample


def run(visitors: int, minutes: float, warmup: float, out: Path, log: Any = print) -> dict[str, Any]:
    raise_open_files()
    cores = sorted(os.sched_getaffinity(0))
    server_cores, client_cores = ({cores[0]}, cores[1:]) if len(cores) >= 2 else (None, None)
    server = WidgetServer(server_cores)
    server.start()
    pipes: list[Connection] = []
    processes: list[multiprocessing.Process] = []
    try:
        started = time.monotonic()
        time.sleep(5)
        before = _sample(server, started)
        log(f"soak: before the load {before}")
        seconds = minutes * 60
        for first in range(0, visitors, PER_WORKER):
            parent, child = multiprocessing.Pipe()
            count = min(PER_WORKER, visitors - first)
            process = multiprocessing.Process(
                target=worker_main,
                args=(first, count, server.visitor_url, seconds, child, client_cores),
                daemon=True,
            )
            process.start()
            pipes.append(parent)
            processes.append(process)
        load_started = time.monotonic()
        samples = []
        while time.monotonic() - load_started < seconds:
            time.sleep(min(SAMPLE, max(0.0, seconds - (time.monotonic() - load_started))))
            acks: list[float] = []
            for pipe in pipes:
                pipe.send("acks")
            for pipe in pipes:
                acks.extend(pipe.recv())
            sample = _sample(server, load_started, acks)
            samples.append(sample)
            log(f"soak: {sample}")
        errors: dict[str, int] = {}
        for pipe in pipes:
            pipe.send("done")
        for pipe in pipes:
            final = pipe.recv()
            for name in final["errors"]:
                errors[name] = errors.get(name, 0) + 1
        for process in processes:
            process.join(60)
        time.sleep(15)  # the last sockets closed, their tasks done
        after = _sample(server, started)
        log(f"soak: after the load {after}")
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        server.stop()
    warm = [s for s in samples if s["minute"] >= warmup] or samples
    drift = (warm[-1]["rss_mib"] - warm[0]["rss_mib"]) / warm[0]["rss_mib"] if warm else 0.0
    result = {
        "visitors": visitors,
        "minutes": minutes,
        "warmup_minutes": warmup,
        "before": before,
        "after": after,
        "samples": samples,
        "rss_drift_after_warmup": round(drift, 4),
        "acks": sum(s["acks"] for s in samples),
        "errors": errors,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    (out / "soak.md").write_text(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    before, after = result["before"], result["after"]
    lines = [
        f"{result['visitors']} visitors for {result['minutes']:g} minutes: {result['acks']:,} messages acked,"
        f" errors {result['errors'] or 'none'}.",
        "",
        f"RSS drift after the {result['warmup_minutes']:g}-minute warm-up:"
        f" {result['rss_drift_after_warmup']:+.1%}"
        f" (target under 5 %). Before the load / after it: RSS {before['rss_mib']} / {after['rss_mib']} MiB,"
        f" file descriptors {before['fds']} / {after['fds']}, asyncio tasks {before['tasks']} /"
        f" {after['tasks']}, visitor sockets {before['sockets']} / {after['sockets']}.",
        "",
        "| minute | sockets | acks | ack p50 ms | ack p99 ms | RSS MiB | fds | tasks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in result["samples"]:
        lines.append(
            f"| {s['minute']:g} | {s['sockets']} | {s['acks']} | {s['ack_p50_ms']} | {s['ack_p99_ms']} |"
            f" {s['rss_mib']} | {s['fds']} | {s['tasks']} |"
        )
    return "\n".join(lines) + "\n"
