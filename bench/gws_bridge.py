"""The GWS bridge under load: what it costs the contact center and what the visitor waits.

    python -m bench.gws_bridge [--chats 100] [--idle 60] [--active 120] [--quick]

It is also workload 5 of the whole benchmark (``python -m bench``, bench/run.py), which calls ``run``.

The fake GWS (tests/fakes/gws.py, with its scripted agent) and widget_server run as separate processes
on loopback; this process is the visitors. Each visitor starts a chat and stays connected. For the first
``--idle`` seconds no agent has joined (the chats wait in the queue: "idle"); then the agent joins every
chat and replies every 5 to 30 s, typing for 2 to 6 s before each reply ("active").

Reported: backend requests per chat per minute in each phase (from the fake's counters), the delay from
the moment the agent's text was written at the fake to its arrival at the visitor (p50, p90, p99, max),
and the server's CPU time per minute. JSON goes to bench-results/gws_bridge.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.gclog import read_file as gc_read
from bench.gclog import summary as gc_summary

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Visitor:
    def __init__(self) -> None:
        self.chat: str | None = None
        self.received: list[tuple[str, float]] = []  # (text, wall time)


async def visitor(url: str, me: Visitor, stop: asyncio.Event) -> None:
    async with connect(url, origin="http://localhost:3000", max_queue=None, ping_interval=None) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "start", "nickname": "Bench", "subject": "Load"}))
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
            except TimeoutError:
                continue
            if frame["type"] == "welcome":
                me.chat = frame["chat"]
            elif frame["type"] == "event" and frame["kind"] == "message" and frame["from"] == "agent":
                me.received.append((frame["text"], time.time()))


def requests_per_chat(stats: dict[str, Any]) -> dict[str, int]:
    return {chat: sum(ops.values()) for chat, ops in stats["requests"]["by_chat"].items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settle = getattr(args, "settle", 3.0)  # seconds for the agent's joining, and for the last replies
    # The agent's script: a reply every 5 to 30 s, typing 2 to 6 s before each (shorter in a quick run).
    reply_every = getattr(args, "reply", (5.0, 30.0))
    typing_for = getattr(args, "typing", (2.0, 6.0))
    work = Path(tempfile.mkdtemp(prefix="bench-gws-"))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    gws_port, port = free_port(), free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gws", "--port", str(gws_port), "--agent-script",
         "--join-after", str(args.idle), "--seed", "1", "--reply-min", str(reply_every[0]),
         "--reply-max", str(reply_every[1]), "--typing-min", str(typing_for[0]),
         "--typing-max", str(typing_for[1])],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = work / "widget.toml"
    config.write_text(
        f'data_dir = "{work / "data"}"\nhttp_connections_per_ip = 1000000\n'
        '[sites.bench]\nname = "Bench"\nallowed_origins = ["http://localhost:*"]\nbackend = "gws"\n'
        "[sites.bench.limits]\nsockets_per_ip = 100000\nchats_per_ip_per_hour = 100000\n"
        f'[sites.bench.gws]\nbase_url = "http://127.0.0.1:{gws_port}"\n'
        'contact_center_id = "cfe5ad67-ba6d-4340-81f9-bb680ef5d498"\n'
    )
    token = subprocess.run(
        [sys.executable, "-m", "widget_server", "tokens", "create", "bench", "--config", str(config)],
        cwd=work, capture_output=True, text=True, check=True,
    ).stdout.splitlines()[-1]  # fmt: skip
    server = subprocess.Popen(  # under bench.gclog: the server's garbage-collection pauses go to gc.log
        [sys.executable, "-m", "bench.gclog", str(work / "gc.log"), "-m", "widget_server", "serve",
         "--config", str(config), "--port", str(port), "--log-level", "warning"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{gws_port}/_fake/stats")
        wait_http(f"http://127.0.0.1:{port}/healthz")
        with contextlib.suppress(OSError):  # keep the load generator off the server's core
            os.sched_setaffinity(server.pid, {0})
            os.sched_setaffinity(fake.pid, {1})
            os.sched_setaffinity(0, {1})
        stop = asyncio.Event()
        visitors = [Visitor() for _ in range(args.chats)]
        url = f"ws://127.0.0.1:{port}/ws/bench"
        t0 = time.monotonic()
        tasks = [asyncio.ensure_future(visitor(url, v, stop)) for v in visitors]
        # Idle phase: measure over its middle, past the starts and before the agent joins.
        await asyncio.sleep(min(10.0, args.idle / 4))
        fake_stats = f"http://127.0.0.1:{gws_port}/_fake/stats"
        idle_from, cpu_idle_from = requests_per_chat(get_json(fake_stats)), cpu_seconds(server.pid)
        idle_t = time.monotonic()
        await asyncio.sleep(max(1.0, t0 + args.idle - 1.0 - time.monotonic()))
        idle_to, cpu_idle_to = requests_per_chat(get_json(fake_stats)), cpu_seconds(server.pid)
        idle_minutes = (time.monotonic() - idle_t) / 60
        # Active phase: from a few seconds after the agent joined.
        await asyncio.sleep(max(0.0, t0 + args.idle + settle - time.monotonic()))
        active_from, cpu_active_from = requests_per_chat(get_json(fake_stats)), cpu_seconds(server.pid)
        fake_cpu_from, me_cpu_from = cpu_seconds(fake.pid), time.process_time()
        active_t = time.monotonic()
        await asyncio.sleep(args.active)
        stats = get_json(fake_stats)
        server_stats = get_json(f"http://127.0.0.1:{port}/api/admin/stats", token)
        active_to, cpu_active_to = requests_per_chat(stats), cpu_seconds(server.pid)
        fake_cpu, me_cpu = cpu_seconds(fake.pid) - fake_cpu_from, time.process_time() - me_cpu_from
        active_end = time.monotonic()
        active_minutes = (active_end - active_t) / 60
        await asyncio.sleep(settle)  # replies written in the last moments still arrive
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for process in (server, fake):
            process.send_signal(signal.SIGINT)
        for process in (server, fake):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    # Map our chat ids to GWS chat ids through the server's database.
    with sqlite3.connect(work / "data" / "widget.db") as db:
        gws_of = dict(db.execute("SELECT id, backend_ref FROM chats").fetchall())
    received: dict[tuple[str, str], float] = {}
    for v in visitors:
        for text, at in v.received:
            received.setdefault((gws_of.get(v.chat or "", ""), text), at)
    delays, missing = [], 0
    for reply in stats["agent_replies"]:
        if reply["written_at"] > stats["clock"]["monotonic"] - settle:
            continue  # written too late to be expected
        at = received.get((reply["chat_id"], reply["text"]))
        if at is None:
            missing += 1
        else:
            delays.append(at - reply["written_at_wall"])

    def rate(before: dict[str, int], after: dict[str, int], minutes: float) -> float:
        chats = [c for c in after if c in before]
        return statistics.fmean(after[c] - before[c] for c in chats) / minutes if chats else float("nan")

    return {
        "chats": args.chats,
        "agent_script": {"reply_every_s": list(reply_every), "typing_s": list(typing_for)},
        "idle_window_s": round(idle_minutes * 60, 1),
        "requests_per_chat_per_minute": {
            "idle": round(rate(idle_from, idle_to, idle_minutes), 2),
            "active": round(rate(active_from, active_to, active_minutes), 2),
        },
        "delivery_delay_s": {
            "replies": len(delays),
            "missing": missing,
            "p50": round(percentile(delays, 50), 3),
            "p90": round(percentile(delays, 90), 3),
            "p99": round(percentile(delays, 99), 3),
            "max": round(max(delays), 3) if delays else None,
        },
        "server_cpu_s_per_minute": {
            "idle": round((cpu_idle_to - cpu_idle_from) / idle_minutes, 2),
            "active": round((cpu_active_to - cpu_active_from) / active_minutes, 2),
        },
        "server_pollers": server_stats["pollers"],
        # The fake and the visitors share the other core: if these approach 60 s a minute together, the
        # measurement is limited by them, not by the server.
        "server_gc_active": gc_summary(
            [p for p in gc_read(work / "gc.log") if active_t <= p.start < active_end]
        ),
        "fake_gws_cpu_s_per_minute_active": round(fake_cpu / active_minutes, 2),
        "visitors_cpu_s_per_minute_active": round(me_cpu / active_minutes, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds before the agent joins")
    parser.add_argument("--active", type=float, default=120.0, help="seconds of agent activity measured")
    parser.add_argument("--quick", action="store_true", help="20 s idle, 40 s active")
    args = parser.parse_args()
    if args.quick:
        args.idle, args.active = 20.0, 40.0
    result = asyncio.run(run(args))
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "gws_bridge.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
