"""widget_server under load, against the protocol's ceiling, in one run.

    python -m bench            # the full run (< 10 minutes on 2 cores)
    python -m bench --quick    # the same workloads, small, for development (< 1 minute)
    python -m bench --only idle,chat --workers 3

Every workload runs against widget_server (a separate process, as an operator runs it) and, in the same
run and with the same load generator, against the bare websockets server of bench/ceiling.py, so that
each figure comes with a ratio that holds on a noisy machine. The server runs on core 0, the load generator
(picows clients in ``--workers`` processes, bench/loadgen.py) and everything else on the other cores.

Workloads (issue 6), in the order they run:

1. ``idle``: visitors connect (from 240 loopback addresses) and start a chat, N = 1,000, 5,000, 10,000,
   then 100,000 or as many as the open-file limit allows (``ulimit -Hn`` less 1,000), pinging every 30 s:
   server RSS per connection, CPU while idle and ping latency at each N.
2./3. ``chat``: first the burst (200 chats sending as fast as their acks return, 10 s: messages per second
   stored, acked and delivered to the agent's console), then steady chat (1,000, 2,500, then 5,000
   visitors each sending one message a second: ack latency p50/p99/max, server CPU per message), then
6. the reconnect storm (widget_server only: the ceiling keeps no log to resume from): the 5,000 visitors
   drop at once and come back within 5 s: time until every one has resumed, events lost or duplicated,
   peak RSS and p99 resume latency.
4. ``roundtrip``: 1,000 chats accepted by a scripted agent who answers every visitor message at once:
   visitor -> agent -> visitor latency.
5. ``gws``: the GWS bridge (bench/gws_bridge.py) with 100 and 1,000 chats against the fake GWS in its own
   process: delivery delay, backend requests per chat per minute while idle and active, poller CPU.
7. the ceiling: the same workloads 1 to 4 against bench/ceiling.py; each figure's ratio is ours / ceiling.
8. ``pageviews``: page views that do not chat (bench/pageviews.py): the widget's ``GET /hello/SITE`` and,
   as it was before, a socket's handshake and hello, against the ceiling's handshakes.

Garbage-collection pauses are logged (``gc.callbacks``) in every client process and in both servers
(bench/gclog.py wraps the server's ``python -m``), and reported next to the latencies of the same window.
Output: a table on stdout, bench-results/bench.json, bench-results/bench.md (the table as markdown) and PNG
plots in bench-results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import gclog, loadgen, pageviews, profiles, report
from bench.cluster import ClusterServer
from bench.servers import (
    ROOT,
    CeilingServer,
    ServerProcess,
    WidgetServer,
    core_busy,
    cpu_seconds,
    open_files_limit,
    raise_open_files,
)

RESULTS = ROOT / "bench-results"
# The cores this process may use when it starts; the server gets the first, the load the others.
CORES = sorted(os.sched_getaffinity(0))
WORKLOADS = ("idle", "chat", "roundtrip", "storm", "gws", "pageviews")


@dataclass
class Plan:
    """The sizes and durations of one run."""

    idle_levels: tuple[int, ...]
    idle_most: int  # the target's sockets: one level more, as many as the open-file limit allows
    idle_window: float
    ping_interval: float
    burst_chats: int
    burst_seconds: float
    steady_levels: tuple[int, ...]
    steady_seconds: tuple[float, ...]
    storm_spread: float
    roundtrip_chats: int
    roundtrip_seconds: float
    roundtrip_every: tuple[float, float]
    gws_runs: tuple[tuple[int, float, float], ...]  # (chats, idle s, active s)
    gws_settle: float
    pageview_seconds: float
    gws_script: tuple[tuple[float, float], tuple[float, float]]  # the fake agent's reply gaps and typing, s
    drain: float  # seconds a phase waits for the acks still owed after its window
    quiesce: float  # at most this long for the server to work off a backlog before the next phase
    pause: float  # a breath between connecting and measuring
    quiet: float  # how long the server must stay under 10 % of a core to count as having no backlog
    concurrency: int = 25  # visitors connecting at once, per load generator


FULL = Plan(
    idle_levels=(1000, 5000, 10000),
    idle_most=100_000,
    idle_window=10.0,
    ping_interval=30.0,
    burst_chats=200,
    burst_seconds=10.0,
    steady_levels=(1000, 2500, 5000),
    steady_seconds=(8.0, 8.0, 20.0),
    storm_spread=5.0,
    roundtrip_chats=1000,
    roundtrip_seconds=25.0,
    roundtrip_every=(20.0, 40.0),
    gws_runs=((100, 20.0, 35.0), (1000, 20.0, 35.0)),
    gws_settle=3.0,
    pageview_seconds=5.0,
    gws_script=((5.0, 30.0), (2.0, 6.0)),
    drain=10.0,
    quiesce=45.0,
    pause=1.0,
    quiet=1.0,
)
QUICK = Plan(
    idle_levels=(200, 500),
    idle_most=0,
    idle_window=1.5,
    ping_interval=30.0,
    burst_chats=50,
    burst_seconds=1.5,
    steady_levels=(250, 500),
    steady_seconds=(1.5, 2.5),
    storm_spread=1.0,
    roundtrip_chats=100,
    roundtrip_seconds=2.5,
    roundtrip_every=(1.0, 2.0),
    gws_runs=((40, 4.0, 5.0),),
    gws_settle=1.0,
    pageview_seconds=1.0,
    gws_script=((1.0, 3.0), (0.5, 1.0)),  # quicker than a person, to see replies within seconds
    drain=5.0,
    quiesce=20.0,
    pause=0.2,
    quiet=0.5,
)


# --- the load generator's processes ---------------------------------------------------------------------


class Clients:
    """The worker processes of bench/loadgen.py, pinned to the client cores."""

    def __init__(self, count: int, cores: set[int] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        for i in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=loadgen.worker_main, args=(i, child, sorted(cores) if cores else None), daemon=True
            )
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def __len__(self) -> int:
        return len(self.pipes)

    def send(self, i: int, name: str, **kwargs: Any) -> None:
        self.pipes[i].send((name, kwargs))

    def recv(self, i: int) -> dict[str, Any]:
        result: dict[str, Any] = self.pipes[i].recv()
        if not result.get("ok"):
            raise RuntimeError(f"load generator {i}: {result.get('error')}\n{result.get('trace', '')}")
        return result

    def all(self, name: str, each: list[dict[str, Any]] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        for i in range(len(self)):
            self.send(i, name, **kwargs, **(each[i] if each else {}))
        return [self.recv(i) for i in range(len(self))]

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.pid is not None)

    def close(self) -> None:
        for i in range(len(self)):
            with contextlib.suppress(Exception):
                self.send(i, "exit")
                if self.pipes[i].poll(10):
                    self.pipes[i].recv()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()


def visitor_url(server: ServerProcess, worker: int) -> str:
    """The URL load-generator worker ``worker`` sends its visitors to: one process of a cluster each
    (worker 0 is the agent's), the only one otherwise."""
    urls = server.visitor_urls
    return urls[(worker - 1) % len(urls)]


def split(indices: range, clients: Clients) -> list[list[int]]:
    """Visitor indices per worker: none for worker 0 (the scripted agent's own process), the rest in
    turn."""
    parts = len(clients) - 1
    return [[], *(list(indices[i::parts]) for i in range(parts))]


# --- measuring a window ---------------------------------------------------------------------------------


class Window:
    """Server CPU, client CPU and the noise on both cores between two instants, sampled by this process."""

    def __init__(self, server: ServerProcess, clients: Clients, server_core: int | None) -> None:
        self.server, self.clients, self.core = server, clients, server_core

    def __enter__(self) -> Window:
        self.t0 = time.monotonic()
        self.parts0 = self.server.cpu_parts()
        self.cpu0 = sum(self.parts0.values())
        self.client0 = self.clients.cpu()
        self.core0 = core_busy(self.core) if self.core is not None else (0.0, 0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.monotonic()
        self.parts1 = self.server.cpu_parts()
        self.cpu1 = sum(self.parts1.values())
        self.client1 = self.clients.cpu()
        self.core1 = core_busy(self.core) if self.core is not None else (0.0, 0.0)

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    @property
    def server_cpu(self) -> float:
        return self.cpu1 - self.cpu0

    def summary(self) -> dict[str, Any]:
        tick = os.sysconf("SC_CLK_TCK")
        busy = (self.core1[0] - self.core0[0]) / tick
        # CPU that other processes took on the server's core: the machine is shared.
        other = max(0.0, busy - self.server_cpu) if self.core is not None else None
        gc = gclog.summary([p for p in self.server.gc_pauses() if self.t0 <= p.start < self.t1])
        return {
            "seconds": round(self.seconds, 3),
            "server_cpu_s": round(self.server_cpu, 3),
            "server_cpu_share": round(self.server_cpu / self.seconds, 4),
            "server_cpu_parts_s": {
                part: round(self.parts1[part] - self.parts0.get(part, 0.0), 3) for part in self.parts1
            },
            "client_cpu_share": round((self.client1 - self.client0) / self.seconds, 4),
            "other_on_server_core": round(other / self.seconds, 4) if other is not None else None,
            "server_gc": gc,
            # The collector's share of the server's own CPU: unlike pause times, noise does not inflate it.
            "server_gc_cpu_share": round(gc["cpu_ms"] / 1000 / self.server_cpu, 4)
            if self.server_cpu
            else None,
        }


def sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def merge(results: list[dict[str, Any]], key: str) -> list[float]:
    return [x for r in results for x in r.get(key, [])]


def client_gc(results: list[dict[str, Any]]) -> dict[str, Any]:
    pauses = [gclog.Pause(s, d, g, 0, c) for r in results for (s, d, g, c) in r.get("gc", [])]
    return gclog.summary(pauses)


def errors(results: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in results:
        for code, n in r.get("errors", {}).items():
            total[code] = total.get(code, 0) + n
    return total


def latency(values: list[float], waited: list[float] | None = None) -> dict[str, Any]:
    """Percentiles of the completed ones plus those still owed after the drain, counted with the time they
    had waited (then every percentile they reach is a lower bound, flagged ``lower_bound``)."""
    result = report.percentiles(values + (waited or []))
    result["lower_bound"] = bool(waited)
    result["unfinished"] = len(waited or [])
    return result


def with_most_idle(plan: Plan, open_files: int) -> Plan:
    """The plan with its last idle level: ``plan.idle_most`` sockets, or as many as one process may open
    here (every socket is a file of the server's; a thousand are left for its database, logs and the
    rest), when that is more than the planned levels."""
    most = min(plan.idle_most, open_files - 1000)
    if most <= max(plan.idle_levels):
        return plan
    return dataclasses.replace(plan, idle_levels=(*plan.idle_levels, most))


# --- the sessions ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = QUICK if args.quick else FULL
        cores = CORES
        if len(cores) >= 2 and not args.no_pin:
            self.server_cores: set[int] | None = {cores[0]}
            self.client_cores: set[int] | None = set(cores[1:])
            self.server_core: int | None = cores[0]
        else:
            self.server_cores = self.client_cores = None
            self.server_core = None
        if self.client_cores:
            os.sched_setaffinity(0, self.client_cores)
        raise_open_files()
        self.plan = with_most_idle(self.plan, open_files_limit())
        self.results: dict[str, Any] = {}

    def log(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def session(self, kind: Callable[[set[int] | None], ServerProcess], *, answering: bool = False) -> Any:
        """A fresh server and fresh load generators, with the scripted agent's console socket open (in
        worker 0): it is the agent connection every visitor message is delivered to."""
        # Worker 0 is the scripted agent's alone, so that no visitor's frame delays what the agent sees;
        # the visitors are spread over the others. They start up while the server does.
        clients = Clients(self.args.workers + 1, self.client_cores)
        server = kind(self.server_cores)
        try:
            server.start()
            self.agent = server.agent_login()
            clients.send(0, "agent", url=self.agent[0], headers=self.agent[1], answering=answering)
            clients.recv(0)
            yield server, clients
        except Exception:
            self.log(f"{server.name} log:\n{server.log_tail()}")
            raise
        finally:
            clients.close()
            server.stop()
            if not self.args.keep:
                shutil.rmtree(server.work, ignore_errors=True)

    def connect(self, server: ServerProcess, clients: Clients, indices: range) -> dict[str, Any]:
        """Connect these visitors and start their chats. On widget_server the scripted agent accepts each
        chat as it enters the queue (see loadgen's ``autoaccept``): the queue stays short, as in a contact
        center staffed for its load. (A long queue costs O(queue) per start: see docs/performance.md.)"""
        t0 = time.monotonic()
        cpu0 = server.cpu()
        accepting = isinstance(server, WidgetServer)
        if accepting:
            clients.send(0, "autoaccept", url=self.agent[0], headers=self.agent[1])
            clients.recv(0)
        with self.profile(server, f"connect-{indices.stop}"):
            replies = clients.all(
                "connect",
                [
                    {"indices": part, "url": visitor_url(server, i)}
                    for i, part in enumerate(split(indices, clients))
                ],
                concurrency=self.plan.concurrency,
            )
        accepted = None
        if accepting:
            clients.send(0, "autoaccept_stop")
            accepted = clients.recv(0)
        elapsed = time.monotonic() - t0
        connected = sum(r["connected"] for r in replies)
        failed: dict[str, int] = {}
        for r in replies:
            for k, v in r["failed"].items():
                failed[k] = failed.get(k, 0) + v
        return {
            "visitors": connected,
            "failed": failed,
            "seconds": round(elapsed, 2),
            "per_second": round(connected / elapsed, 1) if elapsed else None,
            "server_cpu_ms_per_visitor": round((server.cpu() - cpu0) / max(1, connected) * 1000, 3),
            "took": latency(merge(replies, "took")),
            "accepted": accepted,
        }

    # --- one server's run: workloads 1, 3, 2, 4 and 6 on one process, in that order ------------------

    def server_run(self, kind: Callable[[set[int] | None], ServerProcess], only: set[str]) -> dict[str, Any]:
        """Every visitor workload against one server process. Visitors connect once and are reused: the
        idle ramp leaves ``max(steady_levels)`` of them connected (the rest close); the burst, the steady
        levels and the round trips use the first so many of them while the others stay connected and
        silent; the storm drops and resumes them all."""
        plan = self.plan
        out: dict[str, Any] = {}
        keep = max(plan.steady_levels)
        with self.session(kind) as (server, clients):
            self.have = 0
            if "idle" in only:
                out["idle"] = self.idle(server, clients)
                clients.all("stop_background")
                if self.have > keep:
                    clients.all("close", [{"keep": n} for n in self.shares(keep, clients)])
                    self.have = keep
            if "chat" in only:
                self.grow(server, clients, plan.burst_chats)
                out["burst"] = self.burst(server, clients)
                out["steady"] = []
                for level, seconds in zip(plan.steady_levels, plan.steady_seconds, strict=True):
                    out["steady"].append(self.steady(server, clients, level, seconds))
            if "roundtrip" in only:
                out["roundtrip"] = self.roundtrip(server, clients)
            if "storm" in only and isinstance(server, WidgetServer):
                self.grow(server, clients, keep)
                out["storm"] = self.storm(server, clients)
            if isinstance(server, WidgetServer):
                with contextlib.suppress(Exception):
                    out["server_stats"] = server.admin_stats()
        return out

    def quiesce(self, server: ServerProcess, clients: Clients) -> float:
        """Wait until the server has worked off any backlog, at most ``plan.quiesce`` seconds, so that one
        phase's leftovers do not load the next: until the agent's console has been shown every visitor
        message sent so far and the server has stayed under 10 % of a core for ``plan.quiet`` seconds.
        Returns the wait."""
        t0 = time.monotonic()
        quiet = 0
        while time.monotonic() - t0 < self.plan.quiesce:
            cpu0 = server.cpu()
            time.sleep(0.25)
            quiet = quiet + 1 if server.cpu() - cpu0 < 0.025 else 0
            if quiet * 0.25 >= self.plan.quiet:
                counts = clients.all("counters")
                if sum(c["agent_seen"] for c in counts) >= sum(c["sent"] for c in counts):
                    break
        waited = time.monotonic() - t0
        if waited > 2:
            self.log(f"{server.name}: waited {waited:.1f} s for the server to work off its backlog")
        return round(waited, 1)

    def profile(self, server: ServerProcess, phase: str) -> Any:
        """py-spy on widget_server during this phase, with ``--profile``."""
        enabled = bool(self.args.profile) and isinstance(server, WidgetServer)
        return profiles.recording(server.pid, self.args.out / "profiles" / f"{phase}.txt", enabled)

    def shares(self, n: int, clients: Clients) -> list[int]:
        """How many of the first ``n`` visitors each worker holds (connect splits indices round-robin)."""
        return [len(part) for part in split(range(n), clients)]

    def grow(self, server: ServerProcess, clients: Clients, n: int) -> dict[str, Any] | None:
        """Connect visitors until ``n`` are connected."""
        if self.have >= n:
            return None
        self.log(f"{server.name}: connecting {self.have} -> {n} visitors")
        setup = self.connect(server, clients, range(self.have, n))
        self.have = n
        return setup

    def measure(
        self,
        server: ServerProcess,
        clients: Clients,
        phase: str,
        command: str,
        start: float,
        end: float,
        each: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> tuple[list[dict[str, Any]], Window]:
        """Send a timed command to every worker, sample the server over [start, end), collect replies."""
        for i in range(len(clients)):
            clients.send(i, command, start=start, end=end, **kwargs, **(each[i] if each else {}))
        sleep_until(start)
        with self.profile(server, phase), Window(server, clients, self.server_core) as window:
            sleep_until(end)
        return [clients.recv(i) for i in range(len(clients))], window

    # 1. idle capacity

    def idle(self, server: ServerProcess, clients: Clients) -> dict[str, Any]:
        plan = self.plan
        time.sleep(self.plan.pause)
        rss0 = server.rss()
        clients.all("pinger", [{"seed": i} for i in range(len(clients))], interval=plan.ping_interval)
        levels = []
        for level in plan.idle_levels:
            setup = self.grow(server, clients, level)
            time.sleep(self.plan.pause)
            start = time.monotonic() + 0.2
            replies, window = self.measure(
                server, clients, f"idle-{level}", "idle", start, start + plan.idle_window
            )
            rss = server.rss()
            levels.append(
                {
                    "visitors": level,
                    "setup": setup,
                    "rss_mb": round(rss / 2**20, 1),
                    "rss_kb_per_visitor": round((rss - rss0) / 1024 / level, 2),
                    "pong": latency(merge(replies, "pong")),
                    "client_gc": client_gc(replies),
                    "errors": errors(replies),
                    **window.summary(),
                }
            )
            self.log(
                f"{server.name}: idle at {level}: {levels[-1]['rss_kb_per_visitor']} KiB/visitor, "
                f"CPU {levels[-1]['server_cpu_share']:.1%}"
            )
        return {"rss0_mb": round(rss0 / 2**20, 1), "levels": levels}

    # 3. burst

    def burst(self, server: ServerProcess, clients: Clients) -> dict[str, Any]:
        n = self.plan.burst_chats
        self.log(f"{server.name}: burst with {n} chats")
        start = time.monotonic() + self.plan.pause
        replies, window = self.measure(
            server,
            clients,
            "burst",
            "burst",
            start,
            start + self.plan.burst_seconds,
            [{"visitors": k} for k in self.shares(n, clients)],
            drain=self.plan.drain,
        )
        acked = sum(r["acked"] for r in replies)
        chats = merge(replies, "chats")
        acked_total = sum(r["acked_total"] for r in replies)
        stored = server.stored_messages(chats)
        result = {
            "chats": len(chats),
            "acked_per_second": round(acked / window.seconds, 1),
            "delivered_to_agent_per_second": round(sum(r["agent_seen"] for r in replies) / window.seconds, 1),
            "sent_total": sum(r["sent_total"] for r in replies),
            "acked_total": acked_total,
            "unacked": sum(r["unacked"] for r in replies),
            "stored_total": stored,
            "every_ack_stored": None if stored is None else stored >= acked_total,
            "ack": latency(merge(replies, "ack"), merge(replies, "ack_waited")),
            "server_cpu_ms_per_message": round(window.server_cpu / max(1, acked) * 1000, 4),
            "client_gc": client_gc(replies),
            "errors": errors(replies),
            **window.summary(),
            "backlog_s": self.quiesce(server, clients),
        }
        self.log(f"{server.name}: burst {result['acked_per_second']} msg/s")
        return result

    # 2. steady

    def steady(self, server: ServerProcess, clients: Clients, level: int, seconds: float) -> dict[str, Any]:
        setup = self.grow(server, clients, level)
        time.sleep(self.plan.pause)
        start = time.monotonic() + self.plan.pause
        replies, window = self.measure(
            server,
            clients,
            f"steady-{level}",
            "steady",
            start,
            start + seconds,
            [{"visitors": k, "seed": i} for i, k in enumerate(self.shares(level, clients))],
            rate=1.0,
            drain=self.plan.drain,
        )
        sent = sum(r["sent"] for r in replies)
        acks = merge(replies, "ack")
        result = {
            "visitors": level,
            "setup": setup,
            "offered_per_second": round(sent / window.seconds, 1),
            "acked_in_window_per_second": round(len(acks) / window.seconds, 1),
            "unacked_after_drain": sum(r["unacked"] for r in replies),
            "ack": latency(acks, merge(replies, "ack_waited")),
            "agent_delivery": latency(merge(replies, "agent")),
            "server_cpu_ms_per_message": round(window.server_cpu / max(1, sent) * 1000, 4),
            "client_lag_p99_ms": round(max(r["lag_p99"] for r in replies) * 1000, 2),
            "client_lag_max_ms": round(max(r["lag_max"] for r in replies) * 1000, 2),
            "client_gc": client_gc(replies),
            "errors": errors(replies),
            **window.summary(),
            "backlog_s": self.quiesce(server, clients),
        }
        ack = result["ack"]
        self.log(f"{server.name}: steady {level}: ack p50 {ack['p50_ms']} p99 {ack['p99_ms']} ms")
        return result

    # 4. round trip through an agent

    def roundtrip(self, server: ServerProcess, clients: Clients) -> dict[str, Any]:
        plan = self.plan
        n = plan.roundtrip_chats
        self.grow(server, clients, n)
        self.log(f"{server.name}: round trips with {n} chats")
        start = time.monotonic() + self.plan.pause
        replies, window = self.measure(
            server,
            clients,
            "roundtrip",
            "roundtrip",
            start,
            start + plan.roundtrip_seconds,
            [{"visitors": k, "seed": i} for i, k in enumerate(self.shares(n, clients))],
            every=plan.roundtrip_every,
            drain=plan.drain,
        )
        trips = merge(replies, "roundtrip")
        result = {
            "chats": n,
            "messages_per_second": round(len(trips) / window.seconds, 1),
            "roundtrip": latency(trips, merge(replies, "roundtrip_waited")),
            "ack": latency(merge(replies, "ack")),
            "unanswered": sum(r["unanswered"] for r in replies),
            "client_gc": client_gc(replies),
            "errors": errors(replies),
            **window.summary(),
            "backlog_s": self.quiesce(server, clients),
        }
        trip = result["roundtrip"]
        self.log(f"{server.name}: round trip p50 {trip['p50_ms']} p99 {trip['p99_ms']} ms")
        return result

    # 6. reconnect storm

    def storm(self, server: WidgetServer, clients: Clients) -> dict[str, Any]:
        self.log(f"{server.name}: reconnect storm with {self.have} visitors")
        self.quiesce(server, clients)
        peak = [server.rss()]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                with contextlib.suppress(OSError):
                    peak.append(server.rss())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        drop = time.monotonic() + 0.3
        for i in range(len(clients)):
            # Each visitor comes back to the next process of a cluster: the one it was on has gone.
            url = visitor_url(server, i + 1)
            clients.send(i, "storm", url=url, drop=drop, spread=self.plan.storm_spread, seed=i)
        with self.profile(server, "storm"), Window(server, clients, self.server_core) as window:
            replies = [clients.recv(i) for i in range(len(clients))]
        sampling.set()
        sampler.join()
        done_at = merge(replies, "done_at")
        t_drop = min(r["drop"] for r in replies)
        # Then the verdict: once the server is quiet, one more message each; when its ack is in, the
        # visitor must hold exactly the chat's events as stored, each once.
        self.quiesce(server, clients)
        verified = clients.all("verify")
        seen: dict[str, int] = {}
        for r in verified:
            seen.update(r["last_seq"])
        stored = server.last_seqs(list(seen))
        behind = sum(max(0, stored.get(chat, 0) - seq) for chat, seq in seen.items())
        ahead = sum(max(0, seq - stored.get(chat, 0)) for chat, seq in seen.items())
        gaps = sum(r["gaps"] for r in verified)
        dups = sum(r["dups"] for r in verified)
        unacked = sum(r["unacked"] for r in verified)
        twice = server.stored_twice()
        result = {
            "visitors": len(seen),
            "resumed": len(done_at),
            "all_resumed_s": round(max(done_at) - t_drop, 3) if done_at else None,
            "resume": latency(merge(replies, "resume_took")),
            "lost": gaps + behind + unacked,
            "duplicated": dups + ahead + int(twice),
            "detail": {
                "gaps": gaps,
                "behind_store": behind,
                "unacked": unacked,
                "repeated": dups,
                "ahead_of_store": ahead,
                "stored_twice": int(twice),
            },
            "peak_rss_mb": round(max(peak) / 2**20, 1),
            "rss_before_mb": round(peak[0] / 2**20, 1),
            "failed_attempts": {k: v for r in replies for k, v in r["failed"].items()},
            "client_gc": client_gc(replies),
            "errors": errors(replies),
            **window.summary(),
        }
        self.log(
            f"{server.name}: storm: all resumed after {result['all_resumed_s']} s, "
            f"lost {result['lost']}, duplicated {result['duplicated']}"
        )
        return result

    # 5. the GWS bridge

    def gws(self) -> list[dict[str, Any]]:
        from bench import gws_bridge

        runs = []
        for chats, idle, active in self.plan.gws_runs:
            self.log(f"gws bridge: {chats} chats, {idle:g} s idle, {active:g} s active")
            reply, typing = self.plan.gws_script
            args = argparse.Namespace(
                chats=chats, idle=idle, active=active, settle=self.plan.gws_settle, reply=reply, typing=typing
            )
            result = asyncio.run(gws_bridge.run(args))
            runs.append(result)
            if self.client_cores:  # gws_bridge pins this process to core 1; give it the client cores back
                os.sched_setaffinity(0, self.client_cores)
        return runs

    # --- the run --------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        only = set(self.args.only.split(",")) if self.args.only else set(WORKLOADS)
        started = time.monotonic()
        machine = machine_info()
        machine["load_before"] = os.getloadavg()
        self.results = {
            "quick": self.args.quick,
            "machine": machine,
            "plan": self.plan.__dict__,
            "workers": self.args.workers,
            "servers": {},
            "server_gc_experiment": WidgetServer.gc_settings,
        }
        if only & {"idle", "chat", "roundtrip", "storm"}:
            self.results["servers"]["widget_server"] = self.server_run(WidgetServer, only)
            if self.args.cluster:
                size = self.args.cluster
                self.results["cluster_size"] = size
                self.results["servers"]["cluster"] = self.server_run(
                    lambda cores: ClusterServer(cores, size), only - {"idle", "roundtrip"}
                )
            self.results["servers"]["ceiling"] = self.server_run(CeilingServer, only)
        if "gws" in only:
            self.results["gws"] = self.gws()
        if "pageviews" in only:
            self.results["pageviews"] = pageviews.run(
                self.plan.pageview_seconds, concurrency=64, workers=self.args.workers, log=self.log
            )
        machine["load_after"] = os.getloadavg()
        self.results["seconds"] = round(time.monotonic() - started, 1)
        return self.results


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    versions = {}
    for package in ("uvicorn", "starlette", "websockets", "picows"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "open_files_limit": open_files_limit(),
        "packages": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that every server and load generator is stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--only", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="load generator processes for the visitors (default 2; the agent has one more)",
    )
    parser.add_argument(
        "--cluster",
        metavar="N",
        type=int,
        default=0,
        help="also run the chat and storm workloads against N widget_server processes on PostgreSQL and"
        " Redis (bench/cluster.py), reported beside the single process",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients to cores")
    parser.add_argument("--keep", action="store_true", help="keep the servers' temporary directories")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of widget_server in each phase (OUT/profiles/)",
    )
    parser.add_argument(
        "--server-gc-threshold",
        metavar="A,B,C",
        help="experiment: gc.set_threshold(A, B, C) in widget_server's process before it starts",
    )
    parser.add_argument(
        "--server-gc-freeze-every",
        metavar="SECONDS",
        type=float,
        help="experiment: gc.freeze() in widget_server's process every SECONDS",
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="instead of the workloads: visitors coming and going for --soak-minutes (bench/soak.py)",
    )
    parser.add_argument("--soak-visitors", type=int, default=5000, help="default 5,000")
    parser.add_argument("--soak-minutes", type=float, default=30, help="default 30")
    parser.add_argument("--soak-warmup", type=float, default=5, help="minutes before the drift is measured")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON, markdown and plots go")
    args = parser.parse_args()
    if args.soak:
        from bench import soak

        result = soak.run(args.soak_visitors, args.soak_minutes, args.soak_warmup, args.out)
        print(soak.markdown(result))
        return
    if args.server_gc_threshold:
        WidgetServer.gc_settings["BENCH_GC_THRESHOLD"] = args.server_gc_threshold
    if args.server_gc_freeze_every:
        WidgetServer.gc_settings["BENCH_GC_FREEZE_EVERY"] = str(args.server_gc_freeze_every)
    bench = Bench(args)
    results = bench.run()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2))
    rows = report.rows(results)
    print(report.table(rows))
    (args.out / "bench.md").write_text(report.markdown(rows, results))
    for path in report.plots(results, args.out):
        bench.log(f"plot: {path}")
    bench.log(f"done in {results['seconds']} s; JSON in {args.out / 'bench.json'}")


if __name__ == "__main__":
    main()
