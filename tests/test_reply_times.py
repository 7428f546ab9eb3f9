"""How soon a site usually answers (widget_server/reply_times.py): the buckets, the measure over a real
store, and the figure in `hello` over HTTP and the socket."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Visitor, make_config, running
from widget_server import model
from widget_server.reply_times import bucket

MINUTE = 60_000


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([1, 2, 3, 4], None),  # too few answered chats to say anything
        ([1, 2, 3, 4, 5], "minutes"),
        ([1, 1, 9, 10, 600], "hour"),  # the median: one slow night does not count
        ([30, 70, 80, 90, 100, 240], "hours"),
        ([300] * 5, "day"),
    ],
)
def test_the_bucket_of_the_median(minutes: list[int], expected: str | None) -> None:
    assert bucket([m * MINUTE for m in minutes]) == expected


async def test_hello_tells_the_usual_reply_time_of_the_sites_recent_chats(tmp_path: Path) -> None:
    site = {"allowed_origins": [HOST_ORIGIN], "backend": "local"}
    config = make_config(tmp_path, {"sites": {"shop": site, "quiet": site}})
    async with running(config) as server:
        store, times = server.runtime.store, server.runtime.reply_times
        now = model.now_ms()

        async def chat(
            chat_id: str, site: str, waited: int | None, *, age: int = 0, kind: str = "chat"
        ) -> None:
            """A chat started `waited` minutes before its first agent message (None: never answered)."""
            visitor = model.Visitor("V")
            created = now - (waited or 0) * MINUTE - age
            new = model.Chat(chat_id, site, "local", model.ACTIVE, visitor, created, type=kind)
            answer = [model.message(model.AGENT, "Ana", "Hi")] if waited is not None else []
            await store.create_chat(new, [model.message(model.VISITOR, "V", "Hello"), *answer])

        for n, waited in enumerate([2, 3, 4, 30, 40, 50, 60]):
            await chat(f"s{n}", "shop", waited)
        await chat("unanswered", "shop", None)  # not answered yet: in no figure
        await chat("old", "shop", 1, age=40 * 86_400_000)  # before the window
        for n in range(5):
            await chat(f"m{n}", "shop", 1, kind=model.OFFLINE_MESSAGE)  # offline messages: no live chat
        for n in range(4):
            await chat(f"q{n}", "quiet", 1)  # too few
        await times.refresh()
        async with Visitor.connected(server, "shop", origin=HOST_ORIGIN) as visitor:
            assert visitor.hello["replies"] == "hour"  # the median of 2, 3, 4, 30, 40, 50, 60 minutes
        async with aiohttp.ClientSession() as http:
            headers = {"Origin": HOST_ORIGIN}
            shop = await (await http.get(f"{server.url}/hello/shop", headers=headers)).json()
            quiet = await (await http.get(f"{server.url}/hello/quiet", headers=headers)).json()
        assert shop["replies"] == "hour" and "replies" not in quiet and "notify" not in quiet
