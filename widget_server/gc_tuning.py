"""Keeping the garbage collector's pauses short while thousands of sockets are open.

CPython's full collection walks every object it tracks, and nothing is served meanwhile. With 10,000
visitors connected that is over a million objects: the benchmark measured pauses of 280 to 450 ms, and
30 % of the CPU spent collecting at 5,000 messages a second (docs/performance.md). Nearly everything
that survives a full collection lives long (connections, chats, sites), so right after each one the
survivors move into the collector's permanent generation (``gc.freeze``) and the next full collection
walks only what arrived since.

The young generation is collected after 50,000 new objects (net of those freed) rather than 700: a
server has many objects in flight (frames, futures, tasks) that die young by reference counting when
given the time, and each young collection walks every one still alive. Measured at 5,000 messages a
second: 14 % of the CPU in the collector before, 5 % after.

Frozen objects are still freed by reference counting as usual; only garbage reference cycles among them
wait. They wait until the frozen set has doubled since the last complete collection: then one complete
collection (unfreeze, collect, freeze) reclaims them. So at most as much memory as is live can wait,
and a walk of the whole heap happens once per doubling instead of at every 25 % of growth.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

#: New objects, net of those freed, between two collections of the youngest generation (CPython's
#: default: 700).
YOUNG_THRESHOLD = 50_000
#: Below this many frozen objects a complete collection is cheap anyway.
MIN_COMPLETE = 200_000


class CollectorTuning:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._scheduled = False
        self._after_complete = gc.get_freeze_count()  # set again by install()
        self._thresholds = gc.get_threshold()
        self.complete_collections = 0

    def install(self) -> None:
        """Call once start-up is done: everything allocated so far lives as long as the process."""
        gc.collect()
        gc.freeze()
        self._after_complete = gc.get_freeze_count()
        self._thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, *self._thresholds[1:])
        gc.callbacks.append(self._on_collection)

    def uninstall(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
            gc.set_threshold(*self._thresholds)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collection, in whichever thread allocated: the freeze waits for the loop.
        if phase == "stop" and info["generation"] == 2 and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        self._scheduled = False
        if gc.get_freeze_count() >= 2 * max(self._after_complete, MIN_COMPLETE):
            gc.unfreeze()
            gc.collect()
            self.complete_collections += 1
            gc.freeze()
            self._after_complete = gc.get_freeze_count()
        else:
            gc.freeze()
