"""How soon a site's team usually answers: the widget's "Usually replies in a few minutes".

Measured as the reports measure first response (widget_server/reports.py, ``facts_of``: from a chat's start
to the first agent message), over the site's recent chats: the ``SAMPLE`` newest live chats started in the
last ``WINDOW_DAYS`` days, of which the answered ones count. Their median, not their mean: one chat
answered the next morning must not make the team look slow all week. With fewer than ``MIN_ANSWERED``
answered chats nothing is said (a new site, a quiet month): a guess from two chats would mislead.

The widget is told a bucket (``BUCKETS``: ``minutes``, ``hour``, ``hours``, ``day``), never a number:
it says it in the visitor's language, and a bucket moves less than a median does.

``hello`` is on the hot path (every page view asks for it), so it only reads a figure in memory;
``ReplyTimes`` recomputes every site's in the background every ``REFRESH`` seconds. Each process of a
cluster computes its own from the shared database: a few short reads a site every few minutes.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from widget_server import model
from widget_server.reports import facts_of
from widget_server.store import Store

log = logging.getLogger(__name__)

SAMPLE = 100
WINDOW_DAYS = 30
MIN_ANSWERED = 5
REFRESH = 300.0  # seconds
_MINUTE = 60_000
_UTC = ZoneInfo("UTC")  # facts_of's day of a chat, which nothing here reads
#: (the median at most, in ms; the bucket). Beyond the last: "day".
BUCKETS = ((5 * _MINUTE, "minutes"), (60 * _MINUTE, "hour"), (4 * 60 * _MINUTE, "hours"))


def bucket(first_responses: Sequence[int]) -> str | None:
    """The bucket of the median of these first-response times (ms), None with too few of them."""
    if len(first_responses) < MIN_ANSWERED:
        return None
    median = statistics.median(first_responses)
    return next((name for limit, name in BUCKETS if median <= limit), "day")


async def measure(store: Store, site_id: str, now: int) -> str | None:
    """The site's bucket from its recent chats in the store."""
    since = now - WINDOW_DAYS * 86_400_000
    keys = await store.find_chat_keys(
        created=(since, None),
        types=["chat"],
        sites=[site_id],
        limit=SAMPLE,  # live chats
    )
    chats = await store.get_chats([chat_id for _, chat_id in keys])
    events = await store.events_of_chats(list(chats), kinds=(model.MESSAGE,))
    times = [facts_of(chat, events.get(chat.id, ()), _UTC).first_response for chat in chats.values()]
    return bucket([time for time in times if time is not None])


class ReplyTimes:
    """Every site's bucket, kept in memory for ``hello`` and refreshed in the background."""

    def __init__(self, store: Store, site_ids: Callable[[], Iterable[str]], every: float = REFRESH) -> None:
        self.store = store
        self.site_ids = site_ids
        self.every = every
        self._buckets: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, site_id: str) -> str | None:
        return self._buckets.get(site_id)

    async def refresh(self) -> None:
        now = model.now_ms()
        buckets: dict[str, str] = {}
        for site_id in list(self.site_ids()):
            found = await measure(self.store, site_id, now)
            if found is not None:
                buckets[site_id] = found
        self._buckets = buckets

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the store is down, say: the last figures stay, the next round retries
                log.exception("could not measure the sites' reply times")
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
