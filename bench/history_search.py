"""How long the console's chat history search takes over many stored chats.

    python -m bench.history_search [--chats 100000] [--store sqlite|postgresql://...] [--rounds 5]

Fills a fresh store with ``--chats`` chats (each a visitor message and, for most, an agent's answer; a
name, an email, a site of three, a rating for some), then times each kind of search the console's
history page makes (widget_server/history/finder.py, as /agent/history calls it): the first page of
everything, by site, a rare and a common word, a visitor's name, an email, a rating, a date range.
Prints the median and the worst of ``--rounds`` runs of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from widget_server import model
from widget_server.history import finder
from widget_server.history.search import parse_query
from widget_server.model import Chat, Visitor
from widget_server.store import Store, open_store

WORDS = ["order", "refund", "shipping", "boots", "tent", "size", "invoice", "return", "delivery", "colour"]
SITES = ["acme", "globex", "initech"]
DAY_MS = 86_400_000
START = 1_767_225_600_000  # 2026-01-01 UTC: the chats spread over the year after it


async def fill(store: Store, chats: int, concurrency: int = 64) -> None:
    async def one(n: int) -> None:
        at = START + n * (365 * DAY_MS // chats)
        words = " ".join(WORDS[(n * k) % len(WORDS)] for k in (1, 3, 7))
        rare = f" zebra{n}" if n % 1000 == 0 else ""
        chat = Chat(
            id=f"c{n:07d}",
            site=SITES[n % len(SITES)],
            backend="local",
            state=model.ENDED if n % 10 else model.QUEUED,
            visitor=Visitor(f"Visitor {n}", email=f"v{n}@example.com"),
            created_at=at,
        )
        events = [model.message(model.VISITOR, chat.visitor.nickname, f"About my {words}{rare}")]
        if n % 4:
            events.append(model.joined(f"Agent {n % 7}"))
            events.append(model.message(model.AGENT, f"Agent {n % 7}", "Happy to help with that."))
        await store.create_chat(chat, events)
        if n % 5 == 0:
            await store.update_chat(chat.id, {"meta": {"rating": "good" if n % 2 else "bad"}})

    started = time.monotonic()
    for first in range(0, chats, concurrency):
        await asyncio.gather(*(one(n) for n in range(first, min(chats, first + concurrency))))
        if first and first % 20_000 == 0:
            print(f"  {first:,} chats stored ({time.monotonic() - started:.0f} s)", flush=True)


SEARCHES = [
    ("everything, first page", "timestamp:[* TO *]", None),
    ("one site", "timestamp:[* TO *]", ["globex"]),
    ("a rare word", "zebra50000", None),
    ("a common word", "refund", None),
    ("two words", "refund AND boots", None),
    ("a visitor's name", 'visitor_name:"Visitor 77777"', None),
    ("an email", "visitor_email:v4242@example.com", None),
    ("a rating", "rating:bad", None),
    ("a month", "timestamp:[2026-03-01 TO 2026-03-31]", None),
    ("a word in a month on one site", "boots AND timestamp:[2026-03-01 TO 2026-03-31]", ["acme"]),
]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--store", default="sqlite", help="sqlite (a temporary file) or a postgresql:// URL")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = "sqlite:" if args.store == "sqlite" else args.store
        store = await open_store(url, Path(tmp))
        try:
            started = time.monotonic()
            await fill(store, args.chats)
            print(f"{args.chats:,} chats stored in {time.monotonic() - started:.0f} s ({url})")
            print("| search | found | median (ms) | worst (ms) |\n|---|--:|--:|--:|")
            for name, q, sites in SEARCHES:
                query, times, count = parse_query(q), [], 0
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    page = await finder.search(store, query, 1, sites=sites)
                    times.append((time.perf_counter() - t0) * 1000)
                    count = page.count
                print(
                    f"| {name} | {count:,} | {statistics.median(times):.1f} | {max(times):.1f} |", flush=True
                )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
