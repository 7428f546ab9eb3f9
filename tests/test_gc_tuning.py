"""widget_server/gc_tuning.py: what survives a full collection is frozen, and cycles among frozen objects
are reclaimed once the frozen set has doubled."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from widget_server import gc_tuning
from widget_server.gc_tuning import CollectorTuning


class Node:
    me: Node


async def test_survivors_of_a_full_collection_are_frozen() -> None:
    collector = CollectorTuning(asyncio.get_running_loop())
    collector.install()
    try:
        assert gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD
        survivors = [[] for _ in range(5000)]  # lists: objects the collector tracks
        before = gc.get_freeze_count()
        gc.collect(2)
        await asyncio.sleep(0.05)  # the freeze waits for the loop
        assert gc.get_freeze_count() >= before + len(survivors)
    finally:
        collector.uninstall()
    assert gc.get_threshold()[0] != gc_tuning.YOUNG_THRESHOLD


async def test_a_frozen_cycle_is_reclaimed_once_the_frozen_set_doubles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector = CollectorTuning(asyncio.get_running_loop())
    node = Node()
    node.me = node  # garbage only the cycle collector can free
    ref = weakref.ref(node)
    gc.freeze()
    del node
    gc.collect()
    assert ref() is not None  # frozen: not walked
    monkeypatch.setattr(gc_tuning, "MIN_COMPLETE", 0)
    collector._after_complete = gc.get_freeze_count()
    collector._freeze()  # not doubled yet: only a freeze
    assert ref() is not None and collector.complete_collections == 0
    collector._after_complete = gc.get_freeze_count() // 2
    collector._freeze()
    assert ref() is None and collector.complete_collections == 1
