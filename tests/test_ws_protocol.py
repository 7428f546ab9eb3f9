"""widget_server/web/ws_protocol.py: its inbox, which stands in for uvicorn's asyncio.Queue (frames come out
in the order they came in; a reader waiting on an empty inbox wakes for the next one), and its flow
control on a real socket. (Every server the suite starts runs on the protocol.)"""

from __future__ import annotations

import asyncio

from tests.support.clients import Server, Visitor
from widget_server.web.ws_protocol import HIGH_WATER, _Inbox


async def test_frames_come_out_in_order() -> None:
    inbox = _Inbox()
    assert inbox.empty()
    for n in range(3):
        inbox.put_nowait(n)
    assert not inbox.empty()
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty()


async def test_a_waiting_reader_wakes_for_the_next_frame() -> None:
    inbox = _Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert await asyncio.wait_for(reader, 1) == "a"
    assert await inbox.get() == "b"


async def test_a_cancelled_reader_leaves_the_inbox_usable() -> None:
    inbox = _Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    inbox.put_nowait("later")
    assert await asyncio.wait_for(inbox.get(), 1) == "later"


async def test_frames_beyond_the_high_water_mark_are_all_read_in_order(server: Server) -> None:
    # Sent in one go, they arrive faster than the app reads them: reading stops at the mark and goes
    # on as the app catches up, and nothing is lost or reordered.
    count = 2 * HIGH_WATER + 3  # within the site's burst of frames
    urls = [f"https://shop.example/p{n}" for n in range(count)]
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        await asyncio.gather(*(visitor.send({"type": "visit", "url": url}) for url in urls))
        seen = [(await visitor.expect("event", kind="visit"))["url"] for _ in range(count)]
        assert seen == urls
