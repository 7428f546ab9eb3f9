"""One poller per chat across server processes (widget_server/poller.py, poller_leases.py), against the
fake GWS over real HTTP, on a Redis bus and Redis leases: the owner of a chat's poller changes (a lease
lost, a process stopped, a process killed) and nothing the visitor or the agent said is lost or repeated.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.fakes.gws import FakeGWS
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.cluster import running_cluster
from tests.support.contact_centers import FAST_POLLING, eventually
from widget_server import model
from widget_server.redis_url import split_prefix
from widget_server.store import open_store

LEASES = {"lease_ttl": 1.0, "sweep_interval": 0.2}  # adoption in about a second, not the default's 8


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeGWS, str]]:
    gws = FakeGWS()
    async with serve(gws.app) as url:
        yield gws, url


def gws_settings(url: str, gws: FakeGWS) -> dict[str, Any]:
    site = {
        "name": "ACME",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "gws",
        "gws": {"base_url": url, "contact_center_id": gws.contact_center_id},
    }
    return {"poller": {**FAST_POLLING, "grace": 30, **LEASES}, "sites": {"acme": site}}


def gws_chat(gws: FakeGWS) -> Any:
    assert len(gws.chats) == 1
    return next(iter(gws.chats.values()))


def owners(servers: list[Server], chat: str) -> list[Server]:
    return [server for server in servers if server.runtime.service.pollers.get(chat) is not None]


async def test_a_chat_has_one_poller_among_processes_and_a_stale_owner_writes_nothing(
    data_dir: Path, fake: tuple[FakeGWS, str], redis_url: str
) -> None:
    gws, url = fake
    config = make_config(data_dir, {"bus": redis_url, **gws_settings(url, gws)})
    async with (
        running(config) as one,
        running(config) as two,
        Visitor.connected(one, site="acme") as visitor,
    ):
        servers = [one, two]
        await visitor.start()
        chat = visitor.chat or ""
        await eventually(lambda: len(owners(servers, chat)) == 1)
        await visitor.say("one", id="m1")
        await eventually(lambda: gws_chat(gws).customer_texts == ["one"])
        (first,) = owners(servers, chat)

        # The owner's lease vanishes as if it had expired while the owner was paused: the other process
        # adopts the chat with a higher fence, and the first owner stops (its renewal or its next write
        # is refused) without ending the chat.
        redis_plain, prefix = split_prefix(redis_url)
        async with Redis.from_url(redis_plain) as redis:
            await redis.delete(f"{prefix}lease:{chat}")
        await eventually(lambda: owners(servers, chat) and owners(servers, chat)[0] is not first)
        await eventually(lambda: len(owners(servers, chat)) == 1)
        gws.agent_join(gws_chat(gws).id, "Kristi")
        gws.agent_say(gws_chat(gws).id, "hello")
        await visitor.events_until(lambda e: e.get("text") == "hello")
        await visitor.say("two", id="m2")
        await eventually(lambda: gws_chat(gws).customer_texts == ["one", "two"])
        events = await one.runtime.store.events_after(chat, 0)
        texts = [e.data["text"] for e in events if e.kind == model.MESSAGE]
        assert texts == ["one", "hello", "two"]
        assert [e.data["name"] for e in events if e.kind == model.JOINED] == ["Kristi"]
        stored = await one.runtime.store.get_chat(chat)
        assert stored is not None and stored.state == model.ACTIVE

        # The visitor ends the chat through the process that does not poll it: the owner delivers what
        # is pending and then tells GWS, once.
        (owner,) = owners(servers, chat)
        other = two if owner is one else one
        await other.runtime.service.end_by_visitor(chat)
        await eventually(lambda: gws_chat(gws).completed)
        await eventually(lambda: not owners(servers, chat))
    assert gws_chat(gws).requests_after_complete == 0


async def test_a_stopped_process_hands_its_chats_over_and_presence_reaches_the_owner(
    data_dir: Path, fake: tuple[FakeGWS, str], redis_url: str
) -> None:
    gws, url = fake
    config = make_config(data_dir, {"bus": redis_url, **gws_settings(url, gws)})
    async with contextlib.AsyncExitStack() as first_stack:
        one = await first_stack.enter_async_context(running(config))
        async with Visitor.connected(one, site="acme") as visitor:  # only the first process runs yet
            await visitor.start()
            chat, token = visitor.chat or "", visitor.token
            await visitor.say("one", id="m1")
        async with running(config) as two:
            assert owners([one, two], chat) == [one]  # the second's first sweep found the lease held
            await first_stack.aclose()  # a clean stop gives the lease back: adopted at the next sweep
            await eventually(lambda: owners([two], chat) == [two])
            poller = two.runtime.service.pollers.get(chat)
            assert poller is not None and poller.visitor_gone_since is not None
            async with Visitor.connected(two, site="acme") as back:
                await back.send({"type": "resume", "token": token, "after": 0})
                await back.expect("welcome")
                await eventually(lambda: poller.visitor_gone_since is None)  # presence, over the bus
                gws.agent_join(gws_chat(gws).id, "Kristi")
                gws.agent_say(gws_chat(gws).id, "still here")
                events = await back.events_until(lambda e: e.get("text") == "still here")
                assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
                assert gws_chat(gws).customer_texts == ["one"]

                # Deleted through the process that does not poll it... which is none now: delete through
                # the owner's own service; the close message stops its poller, ending nothing at GWS.
                await two.runtime.service.deleted([chat])
                await eventually(lambda: not owners([two], chat))
                assert not gws_chat(gws).completed


async def test_sigkill_of_the_owning_process_mid_conversation(
    tmp_path: Path, fake: tuple[FakeGWS, str], postgres_url: str, redis_url: str
) -> None:
    """Issue 12's case: the process that polls a GWS chat is killed; another takes over within 10 s
    (here within the test's shorter lease), and nothing is lost or repeated."""
    gws, url = fake
    config = gws_settings(url, gws)
    async with running_cluster(tmp_path, size=2, store=postgres_url, bus=redis_url, config=config) as cluster:
        first, second = cluster[0], cluster[1]
        second.stop()  # so that the chat's poller is the first's, whose death the test is about
        store = await open_store(postgres_url, tmp_path)
        try:
            async with Visitor.connected(first, site="acme") as visitor:  # type: ignore[arg-type]
                await visitor.start()
                chat, token = visitor.chat or "", visitor.token
                await visitor.say("one", id="m1")
                await eventually(lambda: gws_chat(gws).customer_texts == ["one"])
                gws.agent_join(gws_chat(gws).id, "Kristi")
                gws.agent_say(gws_chat(gws).id, "hello")
                await visitor.events_until(lambda e: e.get("text") == "hello")
                second.start()
                await second.ready()
                ack = await visitor.say("two", id="m2")

                async def delivered() -> bool:
                    stored = await store.get_chat(chat)
                    return stored is not None and stored.backend_state.get("delivered_seq", 0) >= ack["seq"]

                await eventually(delivered)
                first.kill()  # SIGKILL: no lease given back, no goodbye
                killed_at = time.monotonic()
            gws.agent_say(gws_chat(gws).id, "while you were away")
            async with Visitor.connected(second, site="acme") as back:  # type: ignore[arg-type]
                await back.send({"type": "resume", "token": token, "after": ack["seq"]})
                await back.expect("welcome")
                missed = await back.events_until(lambda e: e.get("text") == "while you were away", timeout=10)
                assert time.monotonic() - killed_at < 10
                assert [e.get("text") for e in missed if e["kind"] == "message"] == ["while you were away"]
                await back.say("three", id="m3")
                await eventually(lambda: gws_chat(gws).customer_texts == ["one", "two", "three"])
            events = await store.events_after(chat, 0)
            texts = [e.data["text"] for e in events if e.kind == model.MESSAGE]
            assert texts == ["one", "hello", "two", "while you were away", "three"]
            assert gws_chat(gws).customer_texts == ["one", "two", "three"]
        finally:
            await store.close()
