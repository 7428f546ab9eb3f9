"""The load generator: worker processes of picows websocket clients, driven by the orchestrator.

picows parses frames in C and calls one Python method per frame, so one worker holds 10,000 visitors and
still leaves most of its core idle; several workers share the client cores. Each worker runs an asyncio loop
and answers the orchestrator's commands over a pipe (``Worker.command_*``). Every latency is measured inside
the worker on ``time.monotonic()`` (one clock for all processes of the machine), from the moment a frame
was *due* (not when the worker got round to sending it), so a late client shows as latency and as
``client_lag``, never as a quietly lower load.

What a visitor does is the wire protocol of docs/protocol.md; what the scripted agent does is the console
protocol of widget_server/web/agent.py. The same code drives widget_server and the ceiling (bench/ceiling.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import os
import random
import time
import traceback
from array import array
from collections import Counter, deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench import gclog
from bench.servers import VISITOR_ORIGIN, raise_open_files

loads = json.loads
monotonic = time.monotonic

# Visitors connect from these loopback addresses in turn, so that no address runs out of ephemeral ports
# and the server sees many clients rather than one.
# The console's frame limit per socket (widget_server/web/agent.py: 50 a second, bursts of 200), less a
# margin.
ACCEPT_RATE = 45.0
ACCEPT_BURST = 180.0

SOURCE_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 250)]


class Recorder:
    """Latencies of one kind: when the measured thing was due, and how long it took."""

    __slots__ = ("due", "took")

    def __init__(self) -> None:
        self.due = array("d")
        self.took = array("d")

    def add(self, due: float, now: float) -> None:
        self.due.append(due)
        self.took.append(now - due)

    def window(self, start: float, end: float) -> list[float]:
        return [t for d, t in zip(self.due, self.took, strict=True) if start <= d < end]

    def clear(self) -> None:
        self.due = array("d")
        self.took = array("d")


class Visitor(WSListener):
    """One browser tab. The same object is the listener of every connection it makes (reconnects)."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.transport: WSTransport | None = None
        self.chat = ""
        self.token = ""
        self.last_seq = 0
        self.gaps = 0
        self.dups = 0
        self.sent: dict[str, float] = {}  # say id -> due time, until its ack
        self.replies: dict[str, float] = {}  # say id -> due time, until the agent's answer
        self.ping_due = 0.0
        self.counter = 0
        self.burst = False
        self.waiter: asyncio.Future[str] | None = None
        self.wait_for = ""
        self.connected = False

    # picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected = True

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if transport is self.transport:
            self.connected = False
            self._wake("closed")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        now = monotonic()
        msg = loads(frame.get_payload_as_bytes())
        kind = msg["type"]
        worker = self.worker
        if kind == "event":
            seq = msg["seq"]
            if seq == self.last_seq + 1:
                self.last_seq = seq
            elif seq <= self.last_seq:
                self.dups += 1
            else:
                self.gaps += seq - self.last_seq - 1
                self.last_seq = seq
            if msg["kind"] == "message" and msg["from"] == "agent":
                text = msg["text"]
                if text.startswith("re "):
                    due = self.replies.pop(text[3:], None)
                    if due is not None:
                        worker.rec["roundtrip"].add(due, now)
        elif kind == "ack":
            due = self.sent.pop(msg["id"], None)
            if due is not None:
                worker.rec["ack"].add(due, now)
                worker.acked += 1
                if self.burst:
                    self.say(now)
            if self.wait_for == "ack" and not self.sent:
                self._wake("ack")
        elif kind == "pong":
            worker.rec["pong"].add(self.ping_due, now)
        elif kind == "welcome":
            self.chat = msg["chat"]
            self.token = msg["token"]
            self._wake("welcome")
        elif kind == "hello":
            self._wake("hello")
        elif kind == "error":
            worker.errors[msg.get("code", "?")] += 1

    def _wake(self, what: str) -> None:
        if self.waiter is not None and not self.waiter.done() and (self.wait_for == what or what == "closed"):
            self.waiter.set_result(what)

    # actions

    async def wait(self, what: str, timeout: float) -> str:
        self.wait_for = what
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        finally:
            self.waiter = None
            self.wait_for = ""

    def send(self, data: bytes) -> None:
        if self.transport is not None and self.connected:
            self.transport.send(WSMsgType.TEXT, data)

    def say(self, due: float, *, reply: bool = False) -> None:
        self.counter += 1
        ident = f"{self.index}-{self.counter}"
        self.sent[ident] = due
        if reply:
            self.replies[ident] = due
        # The text carries when the message was due ("t", or "r" for one the agent must answer), so that
        # the agent's process can tell how long it took to reach the console.
        self.send(
            b'{"type":"say","id":"%s","text":"%s%.6f"}' % (ident.encode(), b"r" if reply else b"t", due)
        )

    def ping(self, due: float) -> None:
        self.ping_due = due
        self.send(b'{"type":"ping"}')


class Agent(WSListener):
    """The scripted agent on the console socket: counts the visitor messages it is shown (and how long
    they took from the visitor's send), and when ``answering``, replies to each one at once."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.transport: WSTransport | None = None
        self.answering = False
        self.active: set[str] = set()
        self.queued: set[str] = set()
        self.on_queued: Callable[[str], None] | None = None
        self.seen = 0
        self.answered = 0
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.counter = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("the console socket closed"))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        now = monotonic()
        msg = loads(frame.get_payload_as_bytes())
        kind = msg["type"]
        if kind == "event":
            if msg["kind"] == "message" and msg["from"] == "visitor":
                self.seen += 1
                text = msg["text"]
                if text[:1] in ("t", "r"):
                    self.worker.rec["agent"].add(float(text[1:]), now)
                if self.answering and text[:1] == "r":
                    self.counter += 1
                    self.answered += 1
                    transport.send(
                        WSMsgType.TEXT,
                        b'{"type":"say","chat":"%s","id":"a%d","text":"re %s"}'
                        % (msg["chat"].encode(), self.counter, msg["id"].encode()),
                    )
            elif msg["kind"] == "state":
                if msg["state"] == "active":
                    self.active.add(msg["chat"])
                elif msg["state"] == "queued":
                    self.queued.add(msg["chat"])
                    if self.on_queued is not None:
                        self.on_queued(msg["chat"])
        elif kind == "hello":
            if not self.hello.done():
                self.hello.set_result(None)
        elif kind == "error":
            self.worker.errors["agent:" + msg.get("code", "?")] += 1


class Worker:
    def __init__(self, worker_id: int, conn: Connection) -> None:
        self.id = worker_id
        self.conn = conn
        self.visitors: list[Visitor] = []
        self.agents: list[Agent] = []
        self.rec: dict[str, Recorder] = {
            k: Recorder() for k in ("ack", "pong", "agent", "roundtrip", "resume")
        }
        self.errors: Counter[str] = Counter()
        self.acked = 0
        self.gc = gclog.GcLog()
        self.background: list[asyncio.Task[None]] = []
        self.lag = array("d")  # how late the schedulers sent what was due
        self.accepting: Any = None

    # --- plumbing ---------------------------------------------------------------------------------------

    def _next_command(self) -> tuple[str, dict[str, Any]]:
        """The orchestrator's next command; ``exit`` if the orchestrator is gone."""
        parent = os.getppid()
        while not self.conn.poll(1.0):
            if os.getppid() != parent:
                return "exit", {}
        try:
            command: tuple[str, dict[str, Any]] = self.conn.recv()
        except EOFError:
            return "exit", {}
        return command

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            name, kwargs = await loop.run_in_executor(None, self._next_command)
            if name == "exit":
                for task in self.background:
                    task.cancel()
                for v in self.visitors:
                    if v.transport is not None:
                        v.transport.disconnect(graceful=False)
                for a in self.agents:
                    if a.transport is not None:
                        a.transport.disconnect(graceful=False)
                with contextlib.suppress(OSError):
                    self.conn.send({"ok": True})
                return
            try:
                result = await getattr(self, f"command_{name}")(**kwargs)
                self.conn.send({"ok": True, **(result or {})})
            except Exception as error:
                self.conn.send(
                    {
                        "ok": False,
                        "error": f"{type(error).__name__}: {error}",
                        "trace": traceback.format_exc(),
                    }
                )

    async def at(self, when: float) -> None:
        delay = when - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def window_report(self, start: float, end: float, cpu: float) -> dict[str, Any]:
        return {
            "cpu_s": cpu,
            "gc": [(p.start, p.duration, p.generation, p.cpu) for p in self.gc.pauses_between(start, end)],
            "errors": dict(self.errors),
        }

    async def measured(self, start: float, end: float) -> float:
        """Wait for the window [start, end) and return this process's CPU seconds inside it."""
        await self.at(start)
        cpu0 = time.process_time()
        await self.at(end)
        return time.process_time() - cpu0

    # --- commands ---------------------------------------------------------------------------------------

    async def command_connect(
        self, url: str, indices: list[int], start: bool = True, concurrency: int = 50, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Connect these visitors (hello), and with ``start`` begin a chat each (welcome)."""
        semaphore = asyncio.Semaphore(concurrency)
        took: list[float] = []
        failed: Counter[str] = Counter()

        async def one(index: int) -> None:
            visitor = Visitor(self, index)
            async with semaphore:
                t0 = monotonic()
                try:
                    await self._open(visitor, url, timeout)
                    if start:
                        visitor.send(b'{"type":"start","nickname":"Visitor %d","subject":"Bench"}' % index)
                        if await visitor.wait("welcome", timeout) != "welcome":
                            raise ConnectionError("closed before welcome")
                except Exception as error:
                    failed[type(error).__name__] += 1
                    if visitor.transport is not None:
                        visitor.transport.disconnect(graceful=False)
                    return
                took.append(monotonic() - t0)
                self.visitors.append(visitor)

        t0 = monotonic()
        await asyncio.gather(*(one(i) for i in indices))
        return {"connected": len(took), "failed": dict(failed), "took": took, "elapsed": monotonic() - t0}

    async def _open(self, visitor: Visitor, url: str, timeout: float) -> None:
        source = SOURCE_ADDRESSES[visitor.index % len(SOURCE_ADDRESSES)]
        waiter = visitor.waiter = asyncio.get_running_loop().create_future()
        visitor.wait_for = "hello"
        try:
            await ws_connect(
                lambda: visitor,
                url,
                extra_headers={"Origin": VISITOR_ORIGIN},
                websocket_handshake_timeout=timeout,
                local_addr=(source, 0),
                enable_auto_pong=True,
            )
            if await asyncio.wait_for(waiter, timeout) != "hello":
                raise ConnectionError("closed before hello")
        finally:
            visitor.waiter = None
            visitor.wait_for = ""

    async def command_close(self, keep: int) -> dict[str, Any]:
        """Close every visitor's connection but the first ``keep`` (a normal close: the tab went away)."""
        leaving, self.visitors = self.visitors[keep:], self.visitors[:keep]
        for v in leaving:
            if v.transport is not None:
                v.transport.send_close(1001)
                v.transport.disconnect()
        await asyncio.sleep(0.5)
        return {"closed": len(leaving)}

    async def command_chats(self) -> dict[str, Any]:
        return {"chats": [v.chat for v in self.visitors]}

    async def command_agent(
        self, url: str, headers: dict[str, str], answering: bool = False
    ) -> dict[str, Any]:
        agent = Agent(self)
        await ws_connect(lambda: agent, url, extra_headers=headers, websocket_handshake_timeout=60)
        await asyncio.wait_for(agent.hello, 60)
        agent.answering = answering
        self.agents.append(agent)
        return {"agents": len(self.agents)}

    async def command_autoaccept(self, url: str, headers: dict[str, str], helpers: int = 8) -> dict[str, Any]:
        """From now on the agent accepts every chat that enters the queue, as soon as it sees it: the queue
        stays short, as in a contact center with the staff for its load. The console allows each socket
        50 frames a second (bursts of 200), so the accepts go out through ``helpers`` more console sockets,
        each kept under that rate; they are closed again by ``autoaccept_stop``."""
        watcher = self.agents[0]
        pending: deque[str] = deque()
        watcher.on_queued = pending.append
        sockets = []
        for _ in range(helpers):
            helper = Agent(self)
            transport, _ = await ws_connect(
                lambda h=helper: h, url, extra_headers=headers, websocket_handshake_timeout=60
            )
            await asyncio.wait_for(helper.hello, 60)
            sockets.append([transport, ACCEPT_BURST, monotonic()])  # transport, tokens, last refill

        async def run() -> None:
            asked: dict[str, float] = {}  # chat -> when its accept went out
            while True:
                now = monotonic()
                # An accept that has not made the chat active within 5 s is asked again (refused as
                # rate-limited, or lost with a socket the server closed).
                for chat, at in list(asked.items()):
                    if chat in watcher.active:
                        del asked[chat]
                    elif now - at > 5.0:
                        del asked[chat]
                        pending.append(chat)
                        self.errors["accept_retried"] += 1
                for state in sockets:
                    state[1] = min(ACCEPT_BURST, state[1] + (now - state[2]) * ACCEPT_RATE)
                    state[2] = now
                    while pending and state[1] >= 1 and not state[0].is_disconnected:
                        chat = pending.popleft()
                        if chat in watcher.active:
                            continue
                        state[1] -= 1
                        state[0].send(WSMsgType.TEXT, b'{"type":"accept","chat":"%s"}' % chat.encode())
                        asked[chat] = now
                await asyncio.sleep(0.01)

        self.accepting = (asyncio.ensure_future(run()), sockets, pending)
        return {}

    async def command_autoaccept_stop(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until every chat seen queued is active, then close the helper sockets."""
        task, sockets, pending = self.accepting
        watcher = self.agents[0]
        started = monotonic()
        deadline = monotonic() + timeout
        while (pending or watcher.queued - watcher.active) and monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        for transport, *_ in sockets:
            transport.disconnect()
        watcher.on_queued = None
        return {
            "accepted": len(watcher.active),
            "still_queued": len(watcher.queued - watcher.active),
            "seconds": round(monotonic() - started, 2),
            "errors": dict(self.errors),
        }

    async def command_pinger(self, interval: float, seed: int) -> dict[str, Any]:
        """From now on, every connected visitor pings every ``interval`` seconds (random phase)."""
        rng = random.Random(seed)
        now = monotonic()
        heap = [(now + rng.uniform(0, interval), i) for i in range(len(self.visitors))]
        heapq.heapify(heap)
        known = len(self.visitors)

        async def run() -> None:
            nonlocal known
            while True:
                now = monotonic()
                while known < len(self.visitors):  # visitors connected since
                    heapq.heappush(heap, (now + rng.uniform(0, interval), known))
                    known += 1
                while heap and heap[0][0] <= now:
                    due, i = heapq.heappop(heap)
                    self.visitors[i].ping(due)
                    heapq.heappush(heap, (due + interval, i))
                await asyncio.sleep(0.02)

        self.background.append(asyncio.ensure_future(run()))
        return {}

    async def command_stop_background(self) -> dict[str, Any]:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        self.background = []
        return {}

    async def settle(
        self, chosen: list[Visitor], drain: float, start: float, end: float, replies: bool = False
    ) -> tuple[list[float], int]:
        """Wait up to ``drain`` seconds for the acks (or the agent's answers) still owed; what is still
        owed then counts with the time it has waited so far, a lower bound (so a server that falls behind
        cannot look faster by answering late), and is forgotten."""
        deadline = monotonic() + drain
        owed = (lambda v: v.replies) if replies else (lambda v: v.sent)
        while any(owed(v) for v in chosen) and monotonic() < deadline:
            await asyncio.sleep(0.05)
        now = monotonic()
        waited = [now - due for v in chosen for due in owed(v).values() if start <= due < end]
        count = sum(len(owed(v)) for v in chosen)
        for v in chosen:
            v.sent.clear()
            v.replies.clear()
        return waited, count

    async def command_idle(self, start: float, end: float) -> dict[str, Any]:
        cpu = await self.measured(start, end)
        return {"pong": self.rec["pong"].window(start, end), **self.window_report(start, end, cpu)}

    async def command_steady(
        self, start: float, end: float, visitors: int, rate: float, seed: int, drain: float = 10.0
    ) -> dict[str, Any]:
        """Open loop: each of the first ``visitors`` sends ``rate`` messages a second, on a fixed schedule
        with a random phase, from ``start`` to ``end``; then wait for the acks still owed."""
        rng = random.Random(seed)
        chosen = self.visitors[:visitors]
        period = 1.0 / rate
        heap = [(start + rng.uniform(0, period), i) for i in range(len(chosen))]
        heapq.heapify(heap)
        self.acked = 0
        lag = array("d")
        cpu0 = 0.0
        await self.at(start)
        cpu0 = time.process_time()
        sent = 0
        while heap:
            now = monotonic()
            if now >= end:
                break
            while heap and heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                if due < end:
                    chosen[i].say(due)
                    lag.append(now - due)
                    sent += 1
                    heapq.heappush(heap, (due + period, i))
            await asyncio.sleep(0.002)
        await self.at(end)
        cpu = time.process_time() - cpu0
        waited, unacked = await self.settle(chosen, drain, start, end)
        return {
            "sent": sent,
            "acked_total": self.acked,
            "unacked": unacked,
            "ack": self.rec["ack"].window(start, end),
            "ack_waited": waited,
            "agent": self.rec["agent"].window(start, end),
            "lag_p99": sorted(lag)[int(0.99 * (len(lag) - 1))] if lag else 0.0,
            "lag_max": max(lag) if lag else 0.0,
            "agent_seen": sum(a.seen for a in self.agents),
            "chats": [v.chat for v in chosen],
            **self.window_report(start, end, cpu),
        }

    async def command_burst(
        self, start: float, end: float, visitors: int, drain: float = 10.0
    ) -> dict[str, Any]:
        """Closed loop: the first ``visitors`` send a message each, and the next as soon as its ack
        returns."""
        chosen = self.visitors[:visitors]
        counted = sum(v.counter for v in chosen)
        seen0 = sum(a.seen for a in self.agents)
        await self.at(start)
        cpu0 = time.process_time()
        self.acked = 0
        t = monotonic()
        for v in chosen:
            v.burst = True
            v.say(t)
        await self.at(end)
        for v in chosen:
            v.burst = False
        acked_in_window = self.acked
        seen_in_window = sum(a.seen for a in self.agents) - seen0
        cpu = time.process_time() - cpu0
        waited, unacked = await self.settle(chosen, drain, start, end)
        sent = sum(v.counter for v in chosen) - counted
        return {
            "acked": acked_in_window,
            "agent_seen": seen_in_window,
            "unacked": unacked,
            "sent_total": sent,
            "acked_total": self.acked,
            "ack": self.rec["ack"].window(start, end),
            "ack_waited": waited,
            "chats": [v.chat for v in chosen],
            **self.window_report(start, end, cpu),
        }

    async def command_counters(self) -> dict[str, Any]:
        return {
            "sent": sum(v.counter for v in self.visitors),
            "agent_seen": sum(a.seen for a in self.agents),
            "agent_answered": sum(a.answered for a in self.agents),
        }

    async def command_roundtrip(
        self,
        start: float,
        end: float,
        visitors: int,
        every: tuple[float, float],
        seed: int,
        drain: float = 10.0,
    ) -> dict[str, Any]:
        """Each of the first ``visitors`` says something at a random moment, then again every ``every``
        (uniform) seconds; the scripted agent answers each message at once; measured from the visitor's
        send to the agent's answer arriving."""
        rng = random.Random(seed)
        chosen = self.visitors[:visitors]
        for agent in self.agents:
            agent.answering = True
        heap = [(start + rng.uniform(0, every[1]), i) for i in range(len(chosen))]
        heapq.heapify(heap)
        lag = array("d")
        await self.at(start)
        cpu0 = time.process_time()
        while True:
            now = monotonic()
            if now >= end:
                break
            while heap and heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                if due < end:
                    chosen[i].say(due, reply=True)
                    lag.append(now - due)
                    heapq.heappush(heap, (due + rng.uniform(*every), i))
            await asyncio.sleep(0.005)
        cpu = time.process_time() - cpu0
        waited, unanswered = await self.settle(chosen, drain, start, end, replies=True)
        for agent in self.agents:
            agent.answering = False
        return {
            "roundtrip": self.rec["roundtrip"].window(start, end),
            "roundtrip_waited": waited,
            "ack": self.rec["ack"].window(start, end),
            "unanswered": unanswered,
            "lag_max": max(lag) if lag else 0.0,
            **self.window_report(start, end, cpu),
        }

    async def command_storm(
        self, url: str, drop: float, spread: float, seed: int, timeout: float = 120.0
    ) -> dict[str, Any]:
        """At ``drop`` every visitor sends one last message and drops its connection at once (no closing
        handshake, as a dying server or network would); each reconnects at a random moment within
        ``spread`` seconds, resumes after the last event it has, and sends again what was not acked.
        Resumed = welcome received and every message acked again."""
        rng = random.Random(seed)
        resume_took: list[float] = []
        done_at: list[float] = []
        failed: Counter[str] = Counter()
        await self.at(drop)
        cpu0 = time.process_time()
        t_drop = monotonic()
        for v in self.visitors:
            v.say(t_drop)
            if v.transport is not None:
                v.transport.disconnect(graceful=False)
            v.connected = False

        async def back(v: Visitor) -> None:
            await self.at(t_drop + rng.uniform(0, spread))
            t0 = monotonic()
            for attempt in range(5):
                try:
                    await self._open(v, url, timeout)
                    v.send(b'{"type":"resume","token":"%s","after":%d}' % (v.token.encode(), v.last_seq))
                    if await v.wait("welcome", timeout) != "welcome":
                        raise ConnectionError("closed before welcome")
                    resume_took.append(monotonic() - t0)
                    self.rec["resume"].add(t0, monotonic())
                    for ident in list(v.sent):  # the same id again: the server must not store it twice
                        v.send(b'{"type":"say","id":"%s","text":"again"}' % ident.encode())
                    if v.sent and await v.wait("ack", timeout) != "ack":
                        raise ConnectionError("closed before ack")
                    done_at.append(monotonic())
                    return
                except Exception as error:
                    failed[f"{type(error).__name__}"] += 1
                    if v.transport is not None:
                        v.transport.disconnect(graceful=False)
                    await asyncio.sleep(0.5 * (attempt + 1))

        await asyncio.gather(*(back(v) for v in self.visitors))
        cpu = time.process_time() - cpu0
        await asyncio.sleep(0.5)  # events sent after the last ack
        return {
            "drop": t_drop,
            "resume_took": resume_took,
            "done_at": done_at,
            "failed": dict(failed),
            "unacked": sum(len(v.sent) for v in self.visitors),
            "gaps": sum(v.gaps for v in self.visitors),
            "dups": sum(v.dups for v in self.visitors),
            "last_seq": {v.chat: v.last_seq for v in self.visitors},
            **self.window_report(t_drop, monotonic(), cpu),
        }

    async def command_verify(self, timeout: float = 60.0) -> dict[str, Any]:
        """Each visitor says one more thing and waits for its ack: the server sends a chat's events in
        order, so by then the visitor holds every event stored before it. Returns each chat's last seq."""

        async def one(v: Visitor) -> None:
            v.say(monotonic())
            with contextlib.suppress(TimeoutError):
                await v.wait("ack", timeout)

        await asyncio.gather(*(one(v) for v in self.visitors if v.connected))
        await asyncio.sleep(0.2)
        return {
            "last_seq": {v.chat: v.last_seq for v in self.visitors},
            "unacked": sum(len(v.sent) for v in self.visitors),
            "gaps": sum(v.gaps for v in self.visitors),
            "dups": sum(v.dups for v in self.visitors),
        }

    async def command_gc_summary(self) -> dict[str, Any]:
        return {"gc": gclog.summary(self.gc.pauses)}


def worker_main(worker_id: int, conn: Connection, cores: list[int] | None) -> None:
    """The body of a worker process (multiprocessing, spawn)."""
    raise_open_files()
    if cores:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cores))
    worker: Worker | None = None

    async def main() -> None:
        nonlocal worker
        worker = Worker(worker_id, conn)
        worker.gc.install()
        await worker.serve()

    gc.freeze()
    asyncio.run(main())
