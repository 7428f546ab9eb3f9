"""The server's figures for Prometheus (prometheus_client): what its parts count and time, in one place.

Each part counts where it acts (the gate its handshakes, the chat service what it stores, a poller its
requests); ``/metrics`` (widget_server/web/metrics_page.py) renders them with what only the store knows
(chats by state, the outbox). Names start with ``widget_``; times are in seconds.

Several processes: ``widget-server serve --workers N`` gives its workers one ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multi-process mode), so that a scrape reaching any worker gets every worker's sum;
gauges of open sockets add the live processes' values. Processes on several hosts are scraped each.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# A ``_created`` series beside every counter and histogram doubles a scrape for nothing.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Fast operations (an ack, a commit): 0.5 ms to 10 s.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# Waits on a contact center: 10 ms to a minute.
SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

VISITOR_SOCKETS = Gauge("widget_visitor_sockets", "Visitor websockets open.", multiprocess_mode="livesum")
AGENT_SOCKETS = Gauge("widget_agent_sockets", "Agent console websockets open.", multiprocess_mode="livesum")
HANDSHAKES = Counter(
    "widget_visitor_handshakes",
    "Visitor websocket handshakes, by outcome and, when refused, the rule that refused them.",
    ["outcome", "rule"],
)
HELLOS = Counter(
    "widget_visitor_hellos",
    "The widget's hello over HTTP (a page view without a socket), by outcome and refusing rule.",
    ["outcome", "rule"],
)
CHATS_STARTED = Counter(
    "widget_chats_started", "Chats started, by contact center ('offline': offline messages).", ["backend"]
)
MESSAGES = Counter(
    "widget_messages", "Messages stored, by who sent them (visitor, agent, system).", ["sender"]
)
# Bound once: a ``labels()`` lookup costs a message 2.5 µs more than the bound child's ``inc()``.
MESSAGES_FROM = {sender: MESSAGES.labels(sender) for sender in ("visitor", "agent", "system")}
ACK_SECONDS = Histogram(
    "widget_ack_seconds",
    "From a visitor's message received to its ack sent (stored in between).",
    buckets=FAST,
)
STORE_APPEND_SECONDS = Histogram(
    "widget_store_append_seconds", "An append to a chat's log, until it is durable.", buckets=FAST
)
STORE_COMMIT_SECONDS = Histogram(
    "widget_store_commit_seconds", "One commit of SQLite's batched writes.", buckets=FAST
)
STORE_BATCH_SIZE = Histogram(
    "widget_store_batch_writes",
    "Writes per SQLite commit (a batch: the writes waiting when the last commit ended).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BUS_PUBLISHED = Counter("widget_bus_published", "Messages published on the bus.")
BUS_RECEIVED = Counter("widget_bus_received", "Messages the bus delivered to this process's subscribers.")
POLLS = Counter(
    "widget_poll_requests",
    "Requests of the pollers to contact centers, by contact center and outcome.",
    ["backend", "outcome"],
)
POLL_LAG_SECONDS = Histogram(
    "widget_poll_lag_seconds", "How late a poll started after it was due.", buckets=SLOW
)
POLL_DELIVERY_SECONDS = Histogram(
    "widget_poll_delivery_seconds",
    "From a poll's answer to what it brought stored and published to the visitor.",
    buckets=FAST,
)
BUDGET_WAIT_SECONDS = Histogram(
    "widget_request_budget_wait_seconds",
    "Waits for a contact-center account's request budget (HelpCrunch: 120 a minute per account).",
    buckets=SLOW,
)
RATE_LIMITED = Counter("widget_contact_center_rate_limited", "429 answers from contact centers.", ["backend"])
GC_PAUSE_SECONDS = Histogram(
    "widget_gc_pause_seconds",
    "Pauses of Python's garbage collector, by generation.",
    ["generation"],
    buckets=FAST,
)


class GCPauses:
    """Times every collection of the garbage collector (its callbacks run at its start and stop)."""

    def __init__(self) -> None:
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_collection)

    def uninstall(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(time.perf_counter() - self._started)
