"""The store contract: every Store implementation passes this suite (STYLE.md: one contract suite per
interface). A backend's quirks are attributes of its fixture, never an `if` in a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from widget_server import model
from widget_server.model import Chat, Visitor
from widget_server.store import ChatNotFound, Store, WrongState, open_store

Reopen = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite"])
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """Opens the store; calling it again after closing reopens the same database."""
    opened: list[Store] = []

    async def open_() -> Store:
        store = await open_store("sqlite:", tmp_path)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
async def store(store_factory: Reopen) -> Store:
    return await store_factory()


def new_chat(chat_id: str = "c1", site: str = "acme", created_at: int = 1000) -> Chat:
    return Chat(
        id=chat_id,
        site=site,
        backend="local",
        state=model.QUEUED,
        visitor=Visitor("Chris", email="c@example.com", user_data={"plan": "pro"}),
        created_at=created_at,
    )


async def test_create_chat_stores_the_first_events(store: Store) -> None:
    appended = await store.create_chat(new_chat(), [model.state(model.QUEUED, 1)])
    assert appended.new and [e.seq for e in appended.events] == [1]
    assert appended.chat.last_seq == 1
    chat = await store.get_chat("c1")
    assert chat is not None and chat.visitor.user_data == {"plan": "pro"} and chat.last_seq == 1
    assert (await store.events_after("c1", 0))[0].data == {"state": "queued", "position": 1}


async def test_append_continues_seq_without_gaps(store: Store) -> None:
    await store.create_chat(new_chat(), [model.state(model.QUEUED)])
    appended = await store.append(
        "c1", [model.joined("Ana"), model.state(model.ACTIVE)], changes={"state": "active", "agent": "ana"}
    )
    assert [e.seq for e in appended.events] == [2, 3]
    assert appended.chat.state == "active" and appended.chat.agent == "ana" and appended.chat.last_seq == 3
    assert [e.seq for e in await store.events_after("c1", 1)] == [2, 3]
    assert [e.seq for e in await store.events_after("c1", 2, limit=5)] == [3]


async def test_concurrent_appends_are_serialised_gaplessly(store: Store) -> None:
    await store.create_chat(new_chat(), [])
    await asyncio.gather(*(store.append("c1", [model.message("visitor", "C", str(n))]) for n in range(200)))
    events = await store.events_after("c1", 0)
    assert [e.seq for e in events] == list(range(1, 201))
    assert sorted(int(e.data["text"]) for e in events) == list(range(200))


async def test_append_is_idempotent_by_client_id(store: Store) -> None:
    await store.create_chat(new_chat(), [])
    first = await store.append("c1", [model.message("visitor", "C", "hi", "m1")])
    again = await store.append("c1", [model.message("visitor", "C", "hi", "m1")], changes={"state": "ended"})
    assert first.new and not again.new
    assert again.events[0].seq == first.events[0].seq
    chat = await store.get_chat("c1")
    assert chat is not None and chat.state == "queued" and chat.last_seq == 1  # nothing else happened
    # The same client id in another chat is another message.
    await store.create_chat(new_chat("c2"), [])
    assert (await store.append("c2", [model.message("visitor", "C", "hi", "m1")])).new


async def test_require_states_guards_the_change(store: Store) -> None:
    await store.create_chat(new_chat(), [])
    await store.append(
        "c1",
        [model.state(model.ACTIVE)],
        changes={"state": "active", "agent": "ana"},
        require_states=["queued"],
    )
    with pytest.raises(WrongState) as error:
        await store.append("c1", [model.joined("Bo")], changes={"agent": "bo"}, require_states=["queued"])
    assert error.value.chat.agent == "ana"
    assert [e.kind for e in await store.events_after("c1", 0)] == ["state"]  # nothing half-written


async def test_a_failing_write_does_not_undo_its_neighbours(store: Store) -> None:
    """Writes that share a commit are still each all-or-nothing on their own."""
    await store.create_chat(new_chat(), [])
    results = await asyncio.gather(
        store.append("c1", [model.message("visitor", "C", "a")]),
        store.append("missing", [model.message("visitor", "C", "b")]),
        store.append("c1", [model.message("visitor", "C", "c")], require_states=["ended"]),
        store.append("c1", [model.message("visitor", "C", "d")]),
        return_exceptions=True,
    )
    assert isinstance(results[1], ChatNotFound) and isinstance(results[2], WrongState)
    assert [e.data["text"] for e in await store.events_after("c1", 0)] == ["a", "d"]


async def test_a_start_id_creates_one_chat_per_site(store: Store) -> None:
    first = await store.create_chat(replace(new_chat("a"), start_id="s1"), [model.state(model.QUEUED)])
    again = await store.create_chat(replace(new_chat("b"), start_id="s1"), [model.state(model.QUEUED)])
    assert first.new and not again.new and again.chat.id == "a"
    assert await store.get_chat("b") is None
    found = await store.find_started("acme", "s1")
    assert found is not None and found.id == "a"
    other_site = await store.create_chat(replace(new_chat("c", site="globex"), start_id="s1"), [])
    assert other_site.new
    assert await store.find_started("acme", "nope") is None


async def test_update_list_and_count(store: Store) -> None:
    await store.create_chat(new_chat("a", "acme", 1), [])
    await store.create_chat(new_chat("b", "acme", 2), [])
    await store.create_chat(new_chat("c", "globex", 3), [])
    await store.update_chat("b", {"state": "ended", "backend_state": {"cursor": 7}})
    assert [c.id for c in await store.list_chats(sites=["acme"], states=["queued"])] == ["a"]
    assert [c.id for c in await store.list_chats(newest_first=True, limit=2)] == ["c", "b"]
    assert await store.count_chats(states=["queued"]) == 2
    assert await store.count_chats(sites=["acme"]) == 2
    chat = await store.get_chat("b")
    assert chat is not None and chat.backend_state == {"cursor": 7}
    with pytest.raises(ChatNotFound):
        await store.update_chat("zzz", {"state": "ended"})
    assert await store.get_chat("zzz") is None


async def test_users(store: Store) -> None:
    user = model.User("ana", model.AGENT_ROLE, "hash", "Ana")
    await store.put_user(user)
    await store.put_user(model.User("bo", model.OPERATOR_ROLE, "hash2", "Bo", 3))
    assert await store.get_user("ana") == user
    assert [u.name for u in await store.list_users()] == ["ana", "bo"]
    await store.put_user(model.User("ana", model.AGENT_ROLE, "new", "Ana B", 2))
    updated = await store.get_user("ana")
    assert updated is not None and updated.password_hash == "new" and updated.session_version == 2
    assert await store.delete_user("ana") and not await store.delete_user("ana")


async def test_everything_survives_reopening(store_factory: Reopen) -> None:
    store = await store_factory()
    await store.create_chat(new_chat(), [model.state(model.QUEUED)])
    await store.append("c1", [model.message("visitor", "C", "persisted", "m1")])
    await store.close()
    reopened = await store_factory()
    assert [e.data.get("text") for e in await reopened.events_after("c1", 0)] == [None, "persisted"]
    assert not (await reopened.append("c1", [model.message("visitor", "C", "persisted", "m1")])).new
