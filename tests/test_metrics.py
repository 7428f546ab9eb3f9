"""/metrics (widget_server/metrics.py, widget_server/web/metrics_page.py): after real traffic the figures
move by what happened, and only the monitoring's addresses (or its token) may read them.

The figures are the process's, and the tests' servers share the test process: each test compares a
scrape after its traffic with one before it."""

from __future__ import annotations

import contextlib
import gc
import re
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import Agent, Server, Visitor, make_config, running
from tests.support.cluster import running_cluster
from tests.support.contact_centers import FAST_POLLING, GWSSide, eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(server: Server, headers: dict[str, str] | None = None) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_the_figures_move_with_real_traffic(server: Server) -> None:
    before = await scrape(server)
    async with Agent.connected(server), Visitor.connected(server) as visitor:
        await visitor.start()
        for n in range(3):
            await visitor.say(f"question {n}", id=f"q{n}")
        with contextlib.suppress(Exception):
            async with Visitor.connected(server, origin="https://evil.example"):
                pass
        gc.collect()
        during = await scrape(server)
    after = await scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert value(during, "widget_visitor_sockets") >= 1 and value(during, "widget_agent_sockets") >= 1
    assert value(after, "widget_visitor_sockets") < value(during, "widget_visitor_sockets")
    assert moved("widget_visitor_handshakes_total", outcome="accepted", rule="") >= 1
    assert moved("widget_visitor_handshakes_total", outcome="refused", rule="origin_not_allowed") == 1
    assert moved("widget_chats_started_total", backend="local") == 1
    assert moved("widget_messages_total", sender="visitor") == 3
    assert moved("widget_ack_seconds_count") == 3 and moved("widget_ack_seconds_sum") > 0
    assert moved("widget_store_append_seconds_count") >= 3
    assert moved("widget_bus_published_total") >= 3 and moved("widget_bus_received_total") >= 3
    assert moved("widget_gc_pause_seconds_count", generation="2") >= 1
    assert value(during, "widget_chats_open", backend="local", state="queued") >= 1
    assert ("widget_outbox_waiting", frozenset()) in during
    if server.runtime.config.store.startswith("sqlite"):
        assert (
            moved("widget_store_commit_seconds_count") >= 3 and moved("widget_store_batch_writes_count") >= 3
        )


async def test_polls_are_counted_by_contact_center_and_outcome(data_dir: Path) -> None:
    side = GWSSide()
    async with side.serving():
        config = make_config(data_dir, {"sites": {"contract": side.site()}, "poller": FAST_POLLING})
        async with running(config) as server, side.running(server):
            before = await scrape(server)
            async with Visitor.connected(server, site="contract") as visitor:
                await visitor.start()
                await visitor.say("hello", id="m1")
                chat = visitor.chat or ""
                await side.agent_join(chat, "Ana")
                await side.agent_say(chat, "Hi there")
                await visitor.expect("event", kind="message", text="Hi there")
                after = await scrape(server)
    polls = value(after, "widget_poll_requests_total", backend="gws", outcome="ok")
    assert polls - value(before, "widget_poll_requests_total", backend="gws", outcome="ok") >= 1
    assert value(after, "widget_poll_delivery_seconds_count") > value(
        before, "widget_poll_delivery_seconds_count"
    )
    assert value(after, "widget_poll_lag_seconds_count") > value(before, "widget_poll_lag_seconds_count")


async def test_only_the_monitoring_reads_them(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGET_SERVER_METRICS_TOKEN", "scrape-token")
    async with running(make_config(data_dir, {"metrics_networks": ["10.0.0.0/8"]})) as server:
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"Authorization": "Bearer wrong-token"}):
                async with http.get(server.url + "/metrics", headers=headers) as refused:
                    assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
        await scrape(server, {"Authorization": "Bearer scrape-token"})


async def _ready(server: Server) -> bool:
    return bool(await scrape(server))


async def test_the_default_lets_the_machine_itself_read_them(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server:
        assert await eventually(lambda: _ready(server))


async def test_several_workers_are_summed_in_every_scrape(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """`serve --workers 2`: a scrape reaches one worker, and tells the figures of both."""
    async with running_cluster(tmp_path, size=1, store=postgres_url, bus=redis_url, workers=2) as one:
        node = one[0]
        await eventually(lambda: len(set(re.findall(r"Started server process \[(\d+)\]", node.log()))) == 2)
        workers = set(re.findall(r"Started server process \[(\d+)\]", node.log()))
        # Each worker writes its figures where every scrape reads them.
        written = {path.stem.rsplit("_", 1)[-1] for path in (node.data_dir / "metrics").glob("*.db")}
        assert workers <= written, (workers, written)
        async with contextlib.AsyncExitStack() as stack:
            for n in range(6):  # spread over the two workers by the kernel
                visitor = await stack.enter_async_context(Visitor.connected(node))  # type: ignore[arg-type]
                await visitor.start(nickname=f"V{n}")
                await visitor.say("hello", id="m1")
            for _ in range(6):
                samples = await scrape(node)  # type: ignore[arg-type]
                assert value(samples, "widget_visitor_sockets") == 6
                assert value(samples, "widget_messages_total", sender="visitor") == 6
                assert value(samples, "widget_chats_started_total", backend="local") == 6
