"""The store contract: every Store implementation passes this suite (one contract suite per
interface). A backend's quirks are attributes of its fixture, never an `if` in a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from widget_server import model
from widget_server.model import CannedResponse, Chat, Visitor
from widget_server.store import (
    CannedNotFound,
    ChatNotFound,
    Fenced,
    LimitReached,
    NoRoom,
    ShortcutTaken,
    SiteExists,
    SiteNotFound,
    Store,
    WrongState,
    open_store,
)

Reopen = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database of each implementation."""
    if request.param == "postgresql":
        # A small pool: the tests' PostgreSQL is shared, and two instances must not need more.
        return f"{request.getfixturevalue('postgres_url')}?pool_max=4"
    return "sqlite:"


@pytest.fixture
async def store_factory(store_url: str, tmp_path: Path) -> AsyncIterator[Reopen]:
    """Opens the store; calling it again opens another instance on the same database, as another server
    process would (after closing the first: reopening it)."""
    opened: list[Store] = []

    async def open_() -> Store:
        store = await open_store(store_url, tmp_path)
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


async def test_check_writable_writes_and_changes_nothing(store: Store) -> None:
    version = await store.sites_version()
    await store.check_writable()
    assert await store.sites_version() == version


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
    assert (appended.backend, appended.site) == ("local", "acme")  # without building the chat
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
    # A repeat is answered even where the write would now be refused, and inside a write of several.
    await store.append("c1", [model.state(model.ENDED)], changes={"state": "ended"})
    late = await store.append("c1", [model.message("visitor", "C", "hi", "m1")], require_states=["queued"])
    assert not late.new and late.events[0].seq == first.events[0].seq
    pair = [model.message("visitor", "C", "new", "m2"), model.message("visitor", "C", "hi", "m1")]
    assert not (await store.append("c1", pair)).new
    assert [e.seq for e in await store.events_after("c1", 0)] == [1, 2]
    # The same client id in another chat is another message.
    await store.create_chat(new_chat("c2"), [])
    assert (await store.append("c2", [model.message("visitor", "C", "hi", "m1")])).new


async def test_agents_notes_are_in_the_log_and_out_of_the_visitors_numbering(store_factory: Reopen) -> None:
    store = await store_factory()
    await store.create_chat(new_chat(), [model.state(model.QUEUED), model.note("Ana", "first", "n0")])
    await store.append("c1", [model.message("visitor", "C", "hi", "m1")])
    noted = await store.append("c1", [model.note("Ana", "VIP", "n1")])
    assert noted.chat.hidden_events == 2 and noted.chat.visitor_last_seq == 2 and noted.chat.last_seq == 4
    # Several in one append, a note between two others: each numbered where it stands.
    batch = [model.joined("Ana"), model.note("Ana", "mid", "n2"), model.state(model.ACTIVE)]
    appended = await store.append("c1", batch, changes={"state": "active"})
    assert [(e.seq, e.visitor_seq) for e in appended.events] == [(5, 3), (6, None), (7, 4)]
    assert appended.chat.hidden_events == 3
    # A repeated note is the stored one, with its place in both numberings; nothing else happens.
    again = await store.append("c1", [model.note("Ana", "VIP", "n1")])
    assert not again.new and again.events[0].seq == 4 and again.events[0].hidden_before == 1
    reply = await store.append("c1", [model.message("agent", "Ana", "hello", "agent:a1")])
    assert [(e.seq, e.visitor_seq) for e in reply.events] == [(8, 5)]
    for reader in (store, await store_factory()):  # this instance, and another process's
        log = await reader.events_after("c1", 0)
        assert [e.seq for e in log] == list(range(1, 9))
        assert [e.kind for e in log if e.visitor_seq is None] == ["note"] * 3
        assert [e.data["text"] for e in log if e.kind == model.NOTE] == ["first", "VIP", "mid"]
        seen = await reader.visitor_events_after("c1", 0)
        assert [(e.seq, e.visitor_seq) for e in seen] == [(1, 1), (3, 2), (5, 3), (7, 4), (8, 5)]
        assert [e.visitor_seq for e in await reader.visitor_events_after("c1", 2)] == [3, 4, 5]
        assert await reader.visitor_events_after("c1", 5) == []
        chat = await reader.get_chat("c1")
        assert chat is not None and (chat.last_seq, chat.hidden_events, chat.visitor_last_seq) == (8, 3, 5)
        assert (await reader.events_of_chats(["c1"]))["c1"] == log  # the history API's read, the same


async def test_agent_read_keeps_the_furthest_mark_in_the_visitors_numbering(store_factory: Reopen) -> None:
    store = await store_factory()
    first = [model.state(model.QUEUED), model.message("visitor", "C", "hi", "m1")]
    await store.create_chat(new_chat(), first)
    await store.append("c1", [model.note("Ana", "VIP", "n1"), model.message("visitor", "C", "there", "m2")])
    assert await store.agent_read("c1", 0) is None  # nothing read
    assert await store.agent_read("c1", 3) == 2  # up to the note: the visitor's events 1 and 2
    assert await store.agent_read("c1", 2) is None  # never back
    assert await store.agent_read("c1", 3) is None  # nor the same again
    assert await store.agent_read("c1", 99) == 3  # beyond the log: its end, the visitor's 3
    other = await store_factory()  # another process reads it, and its marks count with these
    chat = await other.get_chat("c1")
    assert chat is not None and chat.read_seq == 3
    assert await other.agent_read("c1", 4) is None
    with pytest.raises(ChatNotFound):
        await store.agent_read("nope", 1)
    # Agents racing on one chat, in two processes: the furthest wins, whatever the order.
    await store.append("c1", [model.message("visitor", "C", str(n), f"r{n}") for n in range(10)])
    await asyncio.gather(*(s.agent_read("c1", seq) for seq in range(5, 15) for s in (store, other)))
    chat = await store.get_chat("c1")
    assert chat is not None and chat.read_seq == 13


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
    await store.create_chat(replace(new_chat("c", "globex", 3), backend="gws"), [])
    await store.update_chat("b", {"state": "ended", "backend_state": {"cursor": 7}})
    assert [c.id for c in await store.list_chats(sites=["acme"], states=["queued"])] == ["a"]
    assert [c.id for c in await store.list_chats(newest_first=True, limit=2)] == ["c", "b"]
    assert [c.id for c in await store.list_chats(backends=["gws", "omnidesk"])] == ["c"]
    assert [c.id for c in await store.list_chats(states=["queued"], backends=["local"])] == ["a"]
    assert await store.count_chats(states=["queued"]) == 2
    assert await store.count_chats(sites=["acme"]) == 2
    chat = await store.get_chat("b")
    assert chat is not None and chat.backend_state == {"cursor": 7}
    with pytest.raises(ChatNotFound):
        await store.update_chat("zzz", {"state": "ended"})
    assert await store.get_chat("zzz") is None


async def test_count_up_to_a_chat_is_its_place_in_the_listing(store: Store) -> None:
    # Two at the same millisecond: the id breaks the tie, as in list_chats.
    for chat_id, at in (("d", 5), ("b", 5), ("a", 1), ("c", 9)):
        await store.create_chat(new_chat(chat_id, "acme", at), [])
    await store.create_chat(new_chat("e", "globex", 2), [])
    listed = await store.list_chats(sites=["acme"], states=["queued"])
    assert [c.id for c in listed] == ["a", "b", "d", "c"]
    places = [await store.count_chats(sites=["acme"], states=["queued"], up_to=c) for c in listed]
    assert places == [1, 2, 3, 4]


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


async def test_a_users_status_is_kept_until_they_choose_another(store: Store) -> None:
    await store.put_user(model.User("ana", model.AGENT_ROLE, "hash", "Ana"))
    assert (await store.get_user("ana")) == model.User("ana", model.AGENT_ROLE, "hash", "Ana", 1, "online")
    assert await store.set_user_status("ana", model.AWAY)
    assert not await store.set_user_status("nobody", model.AWAY)
    # A new password (or signing out everywhere) replaces the user but not the status they chose.
    await store.put_user(model.User("ana", model.AGENT_ROLE, "new", "Ana B", 2))
    assert [(u.name, u.status) for u in await store.list_users()] == [("ana", "away")]
    user = await store.get_user("ana")
    assert user is not None and user.status == model.AWAY and user.password_hash == "new"


async def test_everything_survives_reopening(store_factory: Reopen) -> None:
    store = await store_factory()
    await store.create_chat(new_chat(), [model.state(model.QUEUED)])
    await store.append("c1", [model.message("visitor", "C", "persisted", "m1")])
    await store.close()
    reopened = await store_factory()
    assert [e.data.get("text") for e in await reopened.events_after("c1", 0)] == [None, "persisted"]
    assert not (await reopened.append("c1", [model.message("visitor", "C", "persisted", "m1")])).new


# --- the history API, the outbox, sites: what other features need of every store --------------------------


async def test_chats_by_id_their_events_and_soft_deletion(store: Store) -> None:
    for n, name in enumerate(["a", "b", "c"]):
        await store.create_chat(
            new_chat(name, created_at=1000 + n), [model.message("visitor", "C", f"hi {name}")]
        )
    await store.append("b", [model.joined("Ana")])
    assert set(await store.get_chats(["a", "b", "zzz"])) == {"a", "b"}
    events = await store.events_of_chats(["a", "b"], kinds=["joined"])
    assert list(events) == ["b"] and [e.data["name"] for e in events["b"]] == ["Ana"]
    audit = model.AuditEntry(5000, "op", "api", None, "chat.delete", "")
    assert await store.delete_chats(["b", "nope"], audit) == {"b": "deleted", "nope": "not_found"}
    assert await store.delete_chats(["b"], audit) == {"b": "already_deleted"}
    deleted = (await store.get_chats(["b"]))["b"]
    assert deleted.deleted_at == 5000  # soft: the chat and its log are kept
    assert [c.id for c in await store.list_chats()] == ["a", "c"]
    assert [e.action for e in await store.list_audit(target="b")] == ["chat.delete"]


async def test_finding_chats_for_the_history_api(store: Store) -> None:
    for n, name in enumerate(["a", "b", "c", "d"]):
        chat = replace(
            new_chat(name, site="acme" if name != "c" else "other", created_at=1000 + n),
            visitor=Visitor(f"Visitor {name}", email=f"{name}@x.example"),
        )
        await store.create_chat(
            chat, [model.message("visitor", chat.visitor.nickname, f"about chocolate {name}")]
        )
    await store.update_chat("b", {"meta": {"rating": "good"}, "state": "ended", "ended_at": 2000})
    assert await store.find_chat_keys() == [(1003, "d"), (1002, "c"), (1001, "b"), (1000, "a")]
    assert await store.find_chat_keys(created=(1001, 1003)) == [(1002, "c"), (1001, "b")]
    assert await store.find_chat_keys(rating="good") == [(1001, "b")]
    assert await store.find_chat_keys(ended=(None, None)) == [(1001, "b")]
    assert (1002, "c") in await store.find_chat_keys(email="C@X.example")
    assert (1000, "a") in await store.find_chat_keys(words=[("any", "chocolate")])
    assert await store.find_chat_keys(before=(1002, "c"), limit=1) == [(1001, "b")]
    assert await store.find_chat_keys(after=(1000, "a"), limit=2) == [(1002, "c"), (1001, "b")]
    assert await store.find_chat_keys(sites=["other"]) == [(1002, "c")]
    assert await store.find_chat_keys(sites=["acme", "other"], created=(1002, None)) == [
        (1003, "d"),
        (1002, "c"),
    ]
    assert await store.find_chat_keys(sites=[]) == []


async def test_editing_a_chat_for_the_history_api(store: Store) -> None:
    await store.create_chat(new_chat(), [])
    audit = model.AuditEntry(3000, "op", "api", None, "chat.update", "c1")
    chat = await store.edit_chat("c1", visitor={"nickname": "Chris B"}, meta={"tags": ["vip"]}, audit=audit)
    assert (
        chat.visitor.nickname == "Chris B"
        and chat.visitor.email == "c@example.com"
        and chat.meta["tags"] == ["vip"]
    )
    assert (await store.get_chat("c1")) == chat
    with pytest.raises(ChatNotFound):
        await store.edit_chat("missing", meta={"unread": False})


async def test_the_outbox_hands_each_item_to_one_claimer(store: Store) -> None:
    item = model.OutboxItem(0, "zendesk", "acme", None, {"x": 1}, created_at=1000, due_at=1000)
    await store.create_chat(new_chat(), [], [item])
    assert await store.next_outbox_due() == 1000
    first = await store.claim_outbox("zendesk", 2000, 60_000, "one")
    assert [i.payload for i in first] == [{"x": 1}] and first[0].chat_id == "c1" and not first[0].ambiguous
    assert await store.claim_outbox("zendesk", 2000, 60_000, "two") == []  # held by the first
    # Its lease runs out unfinished (the claimer died): the next claimer gets it, marked ambiguous.
    again = await store.claim_outbox("zendesk", 70_000, 60_000, "two")
    assert len(again) == 1 and again[0].ambiguous
    await store.update_outbox(again[0].id, {"state": "sent", "done_at": 70_001, "remote_id": "z1"})
    assert await store.claim_outbox("zendesk", 200_000, 60_000, "three") == []
    assert (await store.list_outbox("c1"))[0].remote_id == "z1"


async def test_sites_and_their_version(store: Store) -> None:
    audit = model.AuditEntry(1000, "op", "cli", None, "site.create", "acme")
    start = await store.sites_version()
    assert await store.change_site("acme", {"name": "A"}, audit, create=True) == start + 1
    with pytest.raises(SiteExists):
        await store.change_site("acme", {"name": "A"}, audit, create=True)
    assert await store.change_site("acme", {"name": "B"}, audit) == start + 2
    assert [(s.id, s.settings) for s in await store.list_sites()] == [("acme", {"name": "B"})]
    await store.change_site("acme", None, audit)
    with pytest.raises(SiteNotFound):
        await store.change_site("acme", {"name": "C"}, audit)
    assert await store.list_sites() == [] and await store.sites_version() == start + 3
    assert len(await store.list_audit(target="acme")) == 3


# --- the agent console's helpers: a visitor's other chats, canned responses --------------------------------


def visitor_chat(chat_id: str, created_at: int, *, key: str | None = None, email: str | None = None) -> Chat:
    return replace(new_chat(chat_id, created_at=created_at), visitor=Visitor("Chris", email=email, key=key))


async def test_a_visitors_chats_by_their_key_or_their_email(store: Store) -> None:
    for chat in [
        visitor_chat("k1", 1001, key="K"),
        visitor_chat("e1", 1002, email="Chris@Example.com"),
        visitor_chat("both", 1003, key="K", email="chris@example.com"),
        visitor_chat("other-key", 1004, key="L"),
        visitor_chat("other-email", 1005, email="dana@example.com"),
        replace(visitor_chat("other-site", 1006, key="K"), site="elsewhere"),
        visitor_chat("k2", 1007, key="K"),
        visitor_chat("gone", 1008, key="K"),
        visitor_chat("now", 1009, key="K", email="CHRIS@example.com"),
    ]:
        await store.create_chat(chat, [model.message("visitor", "Chris", f"hello from {chat.id}")])
    await store.update_chat("gone", {"deleted_at": 2000})

    async def ids(key: str | None, email: str | None, **options: Any) -> list[str]:
        return [chat.id for chat in await store.find_visitor_chats("acme", key=key, email=email, **options)]

    # Newest first, each once, older than "now"; deleted chats and other sites' left out.
    assert await ids("K", "chris@EXAMPLE.com", before=(1009, "now")) == ["k2", "both", "e1", "k1"]
    assert await ids("K", None) == ["now", "k2", "both", "k1"]
    assert await ids(None, "chris@example.com") == ["now", "both", "e1"]
    assert await ids("K", "x", before=(1003, "both"), limit=5) == ["k1"]
    assert await ids("K", "chris@example.com", limit=2) == ["now", "k2"]
    assert await ids(None, None) == []
    assert (await store.find_visitor_chats("acme", key="K", email=None))[0].visitor.key == "K"


async def test_first_messages_of_chats(store: Store) -> None:
    await store.create_chat(new_chat("a"), [model.state(model.QUEUED), model.visit("https://x.example/")])
    await store.append("a", [model.message("visitor", "C", "first"), model.message("agent", "Ana", "second")])
    await store.create_chat(new_chat("quiet"), [model.state(model.QUEUED)])
    await store.create_chat(new_chat("b"), [model.note("Ana", "a note is no message", "n1")])
    await store.append("b", [model.message("visitor", "C", "only")])
    found = await store.first_messages(["a", "quiet", "b", "missing", "a"])
    assert {chat_id: (e.seq, e.data["text"]) for chat_id, e in found.items()} == {
        "a": (3, "first"),
        "b": (2, "only"),
    }
    assert await store.first_messages([]) == {}


def canned(
    canned_id: str, shortcut: str, owner: str | None = None, *, title: str = "", at: int = 1000
) -> CannedResponse:
    return CannedResponse(
        canned_id,
        owner,
        shortcut,
        title or f"About {shortcut}",
        "Hello {{visitor.name}}",
        at,
        at,
        owner or "admin",
    )


async def test_canned_responses_shared_and_personal(store: Store) -> None:
    audit = model.AuditEntry.of(model.Actor("admin", "console"), "canned.create", "s1")
    await store.save_canned(canned("s1", "refund"), create=True, audit=audit)
    await store.save_canned(canned("s2", "hours"), create=True)
    await store.save_canned(canned("a1", "refund", "ana"), create=True)  # hers may share a shared one's
    await store.save_canned(canned("a2", "bye", "ana"), create=True)
    await store.save_canned(canned("b1", "bye", "bo"), create=True)  # and another agent's own
    listed = [(c.shortcut, c.owner) for c in await store.list_canned("ana")]
    assert listed == [("bye", "ana"), ("hours", None), ("refund", None), ("refund", "ana")]
    assert [c.id for c in await store.list_canned("bo")] == ["b1", "s2", "s1"]  # never ana's
    assert [c.id for c in await store.list_canned("cy")] == ["s2", "s1"]
    assert [await store.count_canned(owner) for owner in (None, "ana", "cy")] == [2, 2, 0]
    assert [entry.action for entry in await store.list_audit(target="s1")] == ["canned.create"]

    # A shortcut is once among the shared ones, and once among each agent's own: nothing written.
    for taken in (canned("s3", "hours"), canned("a3", "bye", "ana")):
        with pytest.raises(ShortcutTaken):
            await store.save_canned(taken, create=True, audit=replace(audit, target=taken.id))
        assert await store.get_canned(taken.id) is None
        assert await store.list_audit(target=taken.id) == []

    # A replace changes the words, never the owner or the creation time.
    edited = replace(canned("a2", "later", "bo", title="See you", at=5), updated_at=2000, updated_by="ana")
    await store.save_canned(edited, create=False)
    assert await store.get_canned("a2") == replace(edited, owner="ana", created_at=1000)
    with pytest.raises(ShortcutTaken):
        await store.save_canned(replace(edited, shortcut="refund"), create=False)
    with pytest.raises(CannedNotFound):
        await store.save_canned(canned("missing", "nope"), create=False)

    assert await store.delete_canned("a2", audit=replace(audit, action="canned.delete", target="a2"))
    assert not await store.delete_canned("a2")
    assert await store.get_canned("a2") is None
    assert [entry.action for entry in await store.list_audit(target="a2")] == ["canned.delete"]


# --- several writers: two store instances on one database, as two server processes ----------------------


@pytest.fixture
async def two_stores(store_factory: Reopen) -> tuple[Store, Store]:
    return await store_factory(), await store_factory()


async def test_two_instances_appending_to_one_chat_keep_seq_gapless(two_stores: tuple[Store, Store]) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [])
    await asyncio.gather(
        *(
            (one if n % 2 else two).append(
                "c1", [model.message("visitor", "C", str(n)), model.visit(f"/{n}")]
            )
            for n in range(60)
        )
    )
    events = await two.events_after("c1", 0)
    assert [e.seq for e in events] == list(range(1, 121))
    assert sorted(int(e.data["text"]) for e in events if e.kind == model.MESSAGE) == list(range(60))
    # Each append's two events are adjacent: one transaction, not interleaved with another's.
    assert all(events[i + 1].data["url"] == f"/{events[i].data['text']}" for i in range(0, 120, 2))
    chat = await one.get_chat("c1")
    assert chat is not None and chat.last_seq == 120


async def test_notes_racing_with_messages_on_two_instances_keep_both_numberings_gapless(
    two_stores: tuple[Store, Store],
) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [])
    await asyncio.gather(
        *(
            (one if n % 2 else two).append(
                "c1",
                [model.note("Ana", str(n), f"n{n}") if n % 3 == 0 else model.message("visitor", "C", str(n))],
            )
            for n in range(60)
        )
    )
    log = await one.events_after("c1", 0)
    assert [e.seq for e in log] == list(range(1, 61))
    seen = await two.visitor_events_after("c1", 0)
    assert [e.visitor_seq for e in seen] == list(range(1, 41)) and model.NOTE not in {e.kind for e in seen}
    chat = await two.get_chat("c1")
    assert chat is not None and chat.hidden_events == 20 and chat.visitor_last_seq == 40


async def test_a_limit_on_a_kind_holds_for_writers_racing_on_two_instances(
    two_stores: tuple[Store, Store],
) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [model.message("visitor", "C", "hello")])
    limit = (model.MESSAGE, 5)
    results = await asyncio.gather(
        *(
            (one if n % 2 else two).append("c1", [model.message("visitor", "C", str(n))], at_most=limit)
            for n in range(20)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, LimitReached)) == 16
    assert all(isinstance(r, LimitReached) or r.new for r in results)  # type: ignore[union-attr]
    events = await one.events_after("c1", 0)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]  # nothing half-written by the refused ones
    # Other kinds are not counted, and a batch counts its own events of the kind.
    await one.append("c1", [model.visit("/x")], at_most=limit)
    with pytest.raises(LimitReached):
        await one.append(
            "c1",
            [model.message("visitor", "C", "a"), model.message("visitor", "C", "b")],
            at_most=(model.MESSAGE, 6),
        )


async def test_an_agents_capacity_holds_for_writers_racing_on_two_instances(
    two_stores: tuple[Store, Store],
) -> None:
    """Round robin in two processes giving one agent different chats at once (``room_for``); and the
    chat's team (``team``), a change like the agent's."""
    one, two = two_stores
    for n in range(12):
        await one.create_chat(new_chat(f"c{n}", created_at=1000 + n), [])
    await one.append("c0", [model.joined("Ana")], changes={"state": model.ACTIVE, "agent": "ana"})
    accept = {"state": model.ACTIVE, "agent": "ana", "team": "returns"}
    results = await asyncio.gather(
        *(
            (one if n % 2 else two).append(
                f"c{n}",
                [model.joined("Ana")],
                changes=accept,
                require_states=[model.QUEUED],
                room_for=("ana", 4),
            )
            for n in range(1, 12)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, NoRoom)) == 8, results  # c0 and three more: four
    active = await two.list_chats(states=[model.ACTIVE])
    assert len(active) == 4 and all(c.agent == "ana" for c in active)
    assert sorted(c.team for c in active if c.id != "c0") == ["returns"] * 3
    for chat in await one.list_chats(states=[model.QUEUED]):  # nothing half-written by the refused ones
        assert (chat.last_seq, chat.agent, chat.team) == (0, None, None)
    # The chat being accepted is not counted, nor another agent's.
    await one.append("c11", [], changes={"state": model.ACTIVE, "agent": "bo"}, room_for=("bo", 1))


async def test_one_client_id_through_two_instances_is_stored_once(two_stores: tuple[Store, Store]) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [])
    for n in range(20):
        results = await asyncio.gather(
            one.append("c1", [model.message("visitor", "C", f"hi {n}", f"m{n}")]),
            two.append("c1", [model.message("visitor", "C", f"hi {n}", f"m{n}")]),
        )
        assert sorted(r.new for r in results) == [False, True]
        assert results[0].events[0].seq == results[1].events[0].seq
    events = await one.events_after("c1", 0)
    assert [e.data["text"] for e in events] == [f"hi {n}" for n in range(20)]
    assert [e.seq for e in events] == list(range(1, 21))


async def test_one_start_id_through_two_instances_creates_one_chat(two_stores: tuple[Store, Store]) -> None:
    one, two = two_stores
    results = await asyncio.gather(
        one.create_chat(replace(new_chat("a"), start_id="s1"), [model.state(model.QUEUED)]),
        two.create_chat(replace(new_chat("b"), start_id="s1"), [model.state(model.QUEUED)]),
    )
    assert sorted(r.new for r in results) == [False, True]
    assert results[0].chat.id == results[1].chat.id
    assert len(await one.list_chats()) == 1


async def test_two_outbox_claimers_each_item_to_exactly_one(two_stores: tuple[Store, Store]) -> None:
    one, two = two_stores
    items = [
        model.OutboxItem(0, "zendesk", "acme", None, {"n": n}, created_at=1000, due_at=1000 + n)
        for n in range(40)
    ]
    await one.create_chat(new_chat(), [], items)
    claims = await asyncio.gather(
        *(
            (one if n % 2 else two).claim_outbox("zendesk", 5000, 60_000, f"owner{n}", limit=3)
            for n in range(20)
        )
    )
    claimed = [item.payload["n"] for claim in claims for item in claim]
    assert sorted(claimed) == list(range(40))  # every item, and none twice


async def test_an_outbox_update_by_a_stale_owner_is_refused(store: Store) -> None:
    item = model.OutboxItem(0, "zendesk", "acme", None, {"x": 1}, created_at=1000, due_at=1000)
    await store.create_chat(new_chat(), [], [item])
    (first,) = await store.claim_outbox("zendesk", 2000, 60_000, "one")
    (again,) = await store.claim_outbox("zendesk", 70_000, 60_000, "two")  # one's lease ran out
    assert not await store.update_outbox(first.id, {"state": "sent", "remote_id": "z1"}, owner="one")
    (stored,) = await store.list_outbox("c1")
    assert stored.state == "sending" and stored.remote_id is None  # nothing written
    assert await store.update_outbox(again.id, {"state": "sent", "remote_id": "z2"}, owner="two")
    # Done: no longer claimed, so even its owner cannot change it again.
    assert not await store.update_outbox(again.id, {"state": "pending"}, owner="two")
    (stored,) = await store.list_outbox("c1")
    assert stored.state == "sent" and stored.remote_id == "z2"


async def test_a_stale_fence_writes_nothing(two_stores: tuple[Store, Store]) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [model.state(model.QUEUED)])
    await one.append("c1", [model.joined("Ana")], changes={"backend_state": {"cursor": 5}}, fence=2)
    with pytest.raises(Fenced):
        await two.append("c1", [model.joined("Bo")], changes={"backend_state": {"cursor": 1}}, fence=1)
    with pytest.raises(Fenced):
        await two.update_chat("c1", {"backend_state": {"cursor": 1}}, fence=1)
    chat = await two.get_chat("c1")
    assert chat is not None and chat.backend_state == {"cursor": 5} and chat.last_seq == 2
    assert [e.kind for e in await two.events_after("c1", 0)] == ["state", "joined"]
    # The same fence, or a newer one, is accepted (and a newer one becomes the chat's).
    await two.update_chat("c1", {"backend_state": {"cursor": 6}}, fence=2)
    await two.append("c1", [model.left("Ana")], changes={"backend_state": {"cursor": 7}}, fence=3)
    with pytest.raises(Fenced):
        await one.update_chat("c1", {"backend_state": {"cursor": 0}}, fence=2)
    chat = await one.get_chat("c1")
    assert chat is not None and chat.backend_state == {"cursor": 7} and chat.last_seq == 3
    # Without a fence, as before: nothing checked, the fence kept.
    await one.update_chat("c1", {"meta": {"unread": True}})
    with pytest.raises(Fenced):
        await one.append("c1", [model.joined("Cy")], fence=2)
    with pytest.raises(ChatNotFound):
        await one.update_chat("missing", {"state": "ended"}, fence=9)


async def test_owners_fencing_at_once_leave_the_newest_cursor(
    two_stores: tuple[Store, Store],
) -> None:
    one, two = two_stores
    await one.create_chat(new_chat(), [])
    outcomes = await asyncio.gather(
        *(
            (one if n % 2 else two).update_chat("c1", {"backend_state": {"cursor": n}}, fence=n)
            for n in range(1, 31)
        ),
        return_exceptions=True,
    )
    assert all(outcome is None or isinstance(outcome, Fenced) for outcome in outcomes)
    chat = await one.get_chat("c1")
    assert chat is not None and chat.backend_state == {"cursor": 30}  # never moved back by a stale owner


async def test_one_shortcut_created_through_two_instances_at_once_is_stored_once(
    two_stores: tuple[Store, Store],
) -> None:
    one, two = two_stores
    outcomes = await asyncio.gather(
        *((one if n % 2 else two).save_canned(canned(f"s{n}", "refund"), create=True) for n in range(6)),
        return_exceptions=True,
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["NoneType"] + ["ShortcutTaken"] * 5
    assert [c.shortcut for c in await one.list_canned("ana")] == ["refund"]
