"""The queue's order as a process keeps it (widget_server/queue_positions.py): the pure part, without a
server. How places reach visitors over the bus, across processes and after a resync is tested with real
servers in test_agent_console.py, test_cluster.py and test_bus_resync.py."""

from __future__ import annotations

from widget_server.queue_positions import EXACT, SiteQueue, Watch

NOW = 100.0


def queue_of(n: int) -> SiteQueue:
    queue = SiteQueue()
    for i in range(n):
        assert queue.enter(key(i))
    return queue


def test_entering_and_leaving_are_idempotent_and_a_late_entry_stays_out() -> None:
    queue = queue_of(3)
    assert not queue.enter((1001, "chat-1"))  # told twice (its own process and the bus)
    assert queue.place((1002, "chat-2")) == 3
    assert queue.leave((1000, "chat-0"), NOW)
    assert not queue.leave((1000, "chat-0"), NOW)
    assert queue.place((1002, "chat-2")) == 2
    # "left" overtook "entered" on the way from two processes: the chat does not come back.
    assert queue.leave((1005, "chat-5"), NOW) is False
    assert not queue.enter((1005, "chat-5"))
    assert queue.keys == [(1001, "chat-1"), (1002, "chat-2")]
    # A chat not in the list yet gets the place it would take.
    assert queue.place((1001, "chat-1b")) == 2


def key(i: int) -> tuple[int, str]:
    return (1000 + i, f"chat-{i}")


def test_places_are_told_exactly_near_the_front_and_by_twentieths_further_back() -> None:
    queue = queue_of(200)
    near: list[int] = []
    far: list[int] = []
    front = Watch(queue, key(EXACT - 1), near.append)  # place EXACT
    back = Watch(queue, key(199), far.append)  # place 200
    for i in range(-1, 12):  # told at first, then the first twelve leave one at a time
        if i >= 0:
            queue.leave(key(i), NOW)
        front.tell_if_moved()
        back.tell_if_moved()
    assert near == [EXACT - n for n in range(13)]  # near the front: every step
    assert far == [200, 190]  # further back: once it moved by a twentieth, not twelve times
