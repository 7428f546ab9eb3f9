"""How long a report takes over many chats (docs/reports.md, "Cost").

Creates ``--chats`` chats through the store, spread over the last 30 days, shaped like a support team's:
most accepted and answered (a few messages each way), some rated, some missed, some offline messages, a
few still open. Then reads the report of those 30 days (widget_server/report_reader.py) ``--rounds``
times, ungrouped and grouped by agent, and prints each time and the process's peak memory.

Usage::

    python -m bench.reports [--chats 10000] [--store sqlite:] [--rounds 3]

``--store`` is a store URL (``postgresql://...`` for PostgreSQL); SQLite goes to a temporary directory.
PostgreSQL must be an empty database: the chats stay there.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
import uuid
from pathlib import Path

from widget_server import model
from widget_server.model import Chat, Visitor
from widget_server.report_reader import read_report
from widget_server.reports import parse_query
from widget_server.store import Store, open_store

DAY = 86_400_000
AGENTS = [(f"agent{n}", f"Agent {n}") for n in range(20)]
SITES = ["shop", "help", "docs"]


async def one_chat(store: Store, rng: random.Random, now: int) -> None:
    created = now - rng.randrange(29 * DAY)  # within the 30 days the report covers
    site = rng.choice(SITES)
    roll = rng.random()
    if roll < 0.05:  # an offline message
        offline = Chat(
            id=str(uuid.uuid4()),
            site=site,
            backend="local",
            state=model.ENDED,
            visitor=Visitor("Visitor"),
            created_at=created,
            ended_at=created,
            type=model.OFFLINE_MESSAGE,
        )
        await store.create_chat(offline, [model.message(model.VISITOR, "Visitor", "Call me back, please.")])
        return
    chat = Chat(str(uuid.uuid4()), site, "local", model.QUEUED, Visitor("Visitor"), created_at=created)
    await store.create_chat(
        chat,
        [
            model.state(model.QUEUED),
            model.visit("https://shop.example/tents"),
            model.message("visitor", "V", "Hi"),
        ],
    )
    if roll < 0.15:  # missed: nobody accepted, the visitor left
        await store.append(
            chat.id, [model.state(model.ENDED)], changes={"state": model.ENDED, "ended_at": created + 90_000}
        )
        return
    agent, name = rng.choice(AGENTS)
    await store.append(
        chat.id,
        [model.joined(name), model.state(model.ACTIVE)],
        changes={"state": model.ACTIVE, "agent": agent, "agent_name": name},
    )
    talk = []
    for n in range(3):
        talk.append(model.message(model.AGENT, name, f"Answer {n}: our tents ship within two days."))
        talk.append(model.message(model.VISITOR, "Visitor", f"Question {n}: and to Norway?"))
    await store.append(chat.id, talk)
    if roll < 0.18:  # still open
        return
    if rng.random() < 0.3:
        rating = rng.choice(["good", "good", "good", "bad"])
        await store.append(chat.id, [model.rating(rating, None)], changes={"meta": {"rating": rating}})
    await store.append(
        chat.id, [model.state(model.ENDED)], changes={"state": model.ENDED, "ended_at": created + 600_000}
    )


async def fill(store: Store, count: int) -> None:
    rng = random.Random(15)
    now = model.now_ms()
    gate = asyncio.Semaphore(200)  # many appends at once: the SQLite store commits them in groups

    async def one() -> None:
        async with gate:
            await one_chat(store, rng, now)

    await asyncio.gather(*(one() for _ in range(count)))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(count: int, url: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        store = await open_store(url, Path(data_dir))
        try:
            started = time.perf_counter()
            await fill(store, count)
            elapsed = time.perf_counter() - started
            print(f"created {count} chats in {elapsed:.1f} s; peak RSS {peak_rss_mb():.0f} MB")
            for group_by in ("", "agent"):
                query = parse_query({"group_by": group_by}, now=model.now_ms())
                for _ in range(rounds):
                    started = time.perf_counter()
                    report = await read_report(store, query)
                    elapsed = time.perf_counter() - started
                    totals = report["totals"]
                    print(
                        f"report of 30 days{' by ' + group_by if group_by else ''}: {elapsed:.2f} s"
                        f" ({totals['chats']} chats, {totals['offline_messages']} offline messages);"
                        f" peak RSS {peak_rss_mb():.0f} MB"
                    )
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--store", default="sqlite:")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.chats, arguments.store, arguments.rounds))
