"""The chat object computed from a chat's log (widget_server/history/chat_object.py): tables of logs and
what Zendesk Chat's API would show of them, checked against the examples of
Zendesk Chat's documentation ("Chats")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from widget_server.history.chat_object import chat_object, preview, search_doc
from widget_server.model import Chat, Event, Visitor

SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10) AppleWebKit/600.1.25 (KHTML, like Gecko) Version/8.0"
    " Safari/600.1.25"
)
T0 = int(datetime(2014, 10, 9, 5, 28, 35, tzinfo=UTC).timestamp() * 1000)

# The seed's examples, their keys exactly.
CHAT_KEYS = {
    "agent_ids", "agent_names", "comment", "conversions", "count", "department_id", "department_name",
    "duration", "history", "id", "missed", "rating", "response_time", "session", "started_by", "tags",
    "timestamp", "triggered", "triggered_response", "type", "unread", "visitor", "webpath",
    "zendesk_ticket_id",
}  # fmt: skip
OFFLINE_KEYS = {
    "department_id", "department_name", "id", "message", "session", "started_by", "timestamp", "type",
    "unread", "visitor", "webpath", "zendesk_ticket_id",
}  # fmt: skip
SESSION_KEYS = {
    "browser", "city", "country_code", "country_name", "end_date", "id", "ip", "platform", "region",
    "start_date", "user_agent",
}  # fmt: skip
VISITOR_KEYS = {"email", "id", "name", "notes", "phone"}


def make_chat(**changes: Any) -> Chat:
    chat = Chat(
        id="123",
        site="demo",
        backend="local",
        state="ended",
        visitor=Visitor("Visitor 123", email="visitor@example.com", ip="67.23.229.96", user_agent=SAFARI),
        created_at=T0,
        ended_at=T0 + 1092_000,
    )
    return replace(chat, **changes)


def log(*entries: tuple[float, str, dict[str, Any]]) -> list[Event]:
    """Events from (seconds after T0, kind, data)."""
    return [
        Event("123", seq, T0 + int(seconds * 1000), kind, data)
        for seq, (seconds, kind, data) in enumerate(entries, start=1)
    ]


def visitor_says(at: float, text: str, name: str = "Visitor 123") -> tuple[float, str, dict[str, Any]]:
    return (at, "message", {"from": "visitor", "name": name, "text": text, "id": f"v{at}"})


def agent_says(at: float, text: str, name: str = "John") -> tuple[float, str, dict[str, Any]]:
    return (at, "message", {"from": "agent", "name": name, "text": text})


def without_nick(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "nick"} for entry in entries]


def test_the_seeds_example_chat_is_what_our_log_of_it_shows() -> None:
    events = log(
        (0, "state", {"state": "queued", "position": 1}),
        visitor_says(0, "hello"),
        (1092, "state", {"state": "ended"}),
        (1100, "rating", {"rating": "good", "comment": "Great customer experience!"}),
    )
    chat = make_chat(meta={"rating": "good", "comment": "Great customer experience!"})
    shown = chat_object(chat, events)
    assert set(shown) == CHAT_KEYS
    # The seed's history without its conversion (we have no goals) and with our `nick`: identical.
    assert without_nick(shown["history"][:3]) == [
        {"channel": "#supportchat:123", "name": "Visitor 123", "timestamp": "2014-10-09T05:28:35Z",
         "type": "chat.memberjoin"},
        {"channel": "#supportchat:123", "msg": "hello", "name": "Visitor 123", "options": "",
         "timestamp": "2014-10-09T05:28:35Z", "type": "chat.msg"},
        {"channel": "#supportchat:123", "name": "Visitor 123", "timestamp": "2014-10-09T05:46:47Z",
         "type": "chat.memberleave"},
    ]  # fmt: skip
    assert shown["history"][3] == {
        "channel": "#supportchat:123",
        "name": "Visitor 123",
        "new_rating": "good",
        "nick": "visitor:demo.123",
        "rating": None,
        "timestamp": "2014-10-09T05:46:55Z",
        "type": "chat.rating",
    }
    assert shown["history"][4]["type"] == "chat.comment"
    assert shown["history"][4]["new_comment"] == "Great customer experience!"
    assert shown["count"] == {"agent": 0, "total": 1, "visitor": 1}
    assert (shown["rating"], shown["comment"], shown["missed"], shown["duration"]) == (
        "good",
        "Great customer experience!",
        True,
        1092,
    )
    assert shown["session"] == {
        "browser": "Safari",
        "city": "",
        "country_code": "",
        "country_name": "",
        "end_date": "2014-10-09T05:46:47Z",
        "id": "123",
        "ip": "67.23.229.96",
        "platform": "Mac OS",
        "region": "",
        "start_date": "2014-10-09T05:28:35Z",
        "user_agent": SAFARI,
    }
    assert shown["visitor"] == {
        "email": "visitor@example.com",
        "id": "demo.123",
        "name": "Visitor 123",
        "notes": "",
        "phone": "",
    }
    assert {
        k: shown[k] for k in ("department_id", "department_name", "zendesk_ticket_id", "conversions")
    } == {
        "department_id": None,
        "department_name": None,
        "zendesk_ticket_id": None,
        "conversions": [],
    }
    assert (shown["started_by"], shown["triggered"], shown["triggered_response"]) == ("visitor", False, False)
    assert (shown["timestamp"], shown["type"], shown["tags"], shown["unread"]) == (
        "2014-10-09T05:28:35Z",
        "chat",
        [],
        False,
    )


def test_a_conversation_with_an_agent() -> None:
    events = log(
        (0, "state", {"state": "queued", "position": 1}),
        (0, "visit", {"url": "https://shop.example/cakes"}),
        visitor_says(2, "Do you ship to Norway?"),
        (10, "joined", {"name": "Ana"}),
        (10, "state", {"state": "active"}),
        agent_says(12, "Yes, we do.", "Ana"),
        visitor_says(20, "How long does it take?"),
        visitor_says(25, "And what does it cost?"),
        (28, "visit", {"url": "https://shop.example/shipping"}),
        agent_says(45, "Three days, 10 EUR.", "Ana"),
        agent_says(46, "Anything else?", "Ana"),
        (50, "left", {"name": "Ana"}),
        (50, "message", {"from": "system", "name": "", "text": "The agent left the chat."}),
        (60, "state", {"state": "ended"}),
    )
    chat = make_chat(agent="ana", agent_name="Ana", ended_at=T0 + 60_000, meta={"tags": ["shipping"]})
    shown = chat_object(chat, events)
    assert [(e["type"], e["name"], e["nick"], e.get("msg")) for e in shown["history"]] == [
        ("chat.memberjoin", "Visitor 123", "visitor:demo.123", None),
        ("chat.msg", "Visitor 123", "visitor:demo.123", "Do you ship to Norway?"),
        ("chat.memberjoin", "Ana", "agent:ana", None),
        ("chat.msg", "Ana", "agent:ana", "Yes, we do."),
        ("chat.msg", "Visitor 123", "visitor:demo.123", "How long does it take?"),
        ("chat.msg", "Visitor 123", "visitor:demo.123", "And what does it cost?"),
        ("chat.msg", "Ana", "agent:ana", "Three days, 10 EUR."),
        ("chat.msg", "Ana", "agent:ana", "Anything else?"),
        ("chat.memberleave", "Ana", "agent:ana", None),
        ("chat.msg", "System", "system", "The agent left the chat."),
        ("chat.memberleave", "Visitor 123", "visitor:demo.123", None),
    ]
    assert shown["history"][3]["timestamp"] == "2014-10-09T05:28:47Z"
    assert shown["count"] == {"agent": 3, "total": 6, "visitor": 3}
    # Answers after 10 s (2 -> 12) and 25 s (20 -> 45, from the first unanswered message).
    assert shown["response_time"] == {"avg": 18, "first": 10, "max": 25}
    assert (shown["agent_ids"], shown["agent_names"]) == (["ana"], ["Ana"])
    assert (shown["missed"], shown["duration"], shown["tags"]) == (False, 60, ["shipping"])
    assert shown["webpath"] == [
        {"from": "", "timestamp": "2014-10-09T05:28:35Z", "title": "", "to": "https://shop.example/cakes"},
        {
            "from": "https://shop.example/cakes",
            "timestamp": "2014-10-09T05:29:03Z",
            "title": "",
            "to": "https://shop.example/shipping",
        },
    ]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param([], {"avg": None, "first": None, "max": None}, id="no messages"),
        pytest.param([visitor_says(1, "hi")], {"avg": None, "first": None, "max": None}, id="never answered"),
        pytest.param(
            [agent_says(0, "Hello!"), visitor_says(5, "hi"), agent_says(7, "yes?")],
            {"avg": 2, "first": 2, "max": 2},
            id="a greeting before the visitor wrote is no answer",
        ),
        pytest.param(
            [visitor_says(0, "a"), agent_says(1.4, "b"), visitor_says(10, "c"), agent_says(12, "d")],
            {"avg": 2, "first": 1, "max": 2},
            id="rounded to whole seconds",
        ),
        pytest.param(
            [visitor_says(0, "a"), agent_says(100, "b"), agent_says(200, "c"), visitor_says(300, "d")],
            {"avg": 100, "first": 100, "max": 100},
            id="a second agent message answers nothing",
        ),
    ],
)
def test_response_time(messages: list[tuple[float, str, dict[str, Any]]], expected: dict[str, Any]) -> None:
    assert chat_object(make_chat(), log(*messages))["response_time"] == expected


@pytest.mark.parametrize(
    ("chat", "entries", "missed", "agents"),
    [
        pytest.param(make_chat(), [visitor_says(0, "hi")], True, ([], []), id="ended, nobody came"),
        pytest.param(
            make_chat(state="queued", ended_at=None),
            [visitor_says(0, "hi")],
            False,
            ([], []),
            id="still waiting",
        ),
        pytest.param(
            make_chat(agent="ana", agent_name="Ana"),
            [(1, "joined", {"name": "Ana"})],
            False,
            (["ana"], ["Ana"]),
            id="built-in contact center: login name as id",
        ),
        pytest.param(
            make_chat(),
            [(1, "joined", {"name": "Tom"}), (2, "left", {"name": "Tom"}), (3, "joined", {"name": "Jerry"})],
            False,
            (["Tom", "Jerry"], ["Tom", "Jerry"]),
            id="a contact center's agents: known by name",
        ),
        pytest.param(
            make_chat(),
            [agent_says(1, "hello", "Bot")],
            False,
            (["Bot"], ["Bot"]),
            id="an agent who only wrote",
        ),
    ],
)
def test_missed_and_agents(
    chat: Chat,
    entries: list[tuple[float, str, dict[str, Any]]],
    missed: bool,
    agents: tuple[list[str], list[str]],
) -> None:
    shown = chat_object(chat, log(*entries))
    assert shown["missed"] is missed
    assert (shown["agent_ids"], shown["agent_names"]) == agents


def test_an_open_chat_has_no_end_and_lasts_until_its_last_event() -> None:
    chat = make_chat(state="active", ended_at=None)
    shown = chat_object(chat, log(visitor_says(0, "hi"), agent_says(30.6, "hello")))
    assert shown["session"]["end_date"] is None
    assert shown["duration"] == 31
    assert [e["type"] for e in shown["history"]] == ["chat.memberjoin", "chat.msg", "chat.msg"]


def test_history_keeps_the_names_of_the_time_and_ratings_their_previous_value() -> None:
    renamed = make_chat(visitor=Visitor("Joe"), meta={"rating": "bad", "comment": "slow"})
    events = log(
        visitor_says(0, "hi", name="Visitor 7"),
        (5, "state", {"state": "ended"}),
        (6, "rating", {"rating": "good"}),
        (7, "rating", {"rating": "bad", "comment": "slow"}),
    )
    shown = chat_object(renamed, events)
    assert shown["visitor"]["name"] == "Joe"
    assert {e["name"] for e in shown["history"]} == {"Visitor 7"}
    ratings = [
        (e["type"], e.get("rating"), e.get("new_rating"), e.get("new_comment")) for e in shown["history"][3:]
    ]
    assert ratings == [
        ("chat.rating", None, "good", None),
        ("chat.rating", "good", "bad", None),
        ("chat.comment", None, None, "slow"),
    ]


def test_what_the_api_set_shows_in_visitor_and_session() -> None:
    chat = make_chat(
        visitor=Visitor("John", email=None, ip=None, user_agent=None),
        meta={
            "visitor_id": "1.12345",
            "visitor_phone": "+47 123",
            "visitor_notes": "VIP",
            "session": {"city": "Orlando", "country_code": "US"},
            "unread": True,
        },
    )
    shown = chat_object(chat, [])
    assert shown["visitor"] == {
        "email": "",
        "id": "1.12345",
        "name": "John",
        "notes": "VIP",
        "phone": "+47 123",
    }
    assert set(shown["session"]) == SESSION_KEYS
    assert (shown["session"]["city"], shown["session"]["country_code"], shown["session"]["region"]) == (
        "Orlando",
        "US",
        "",
    )
    assert (shown["session"]["ip"], shown["session"]["browser"], shown["unread"]) == ("", "", True)


def test_an_offline_message_is_the_documented_offline_message_object() -> None:
    chat = make_chat(type="offline_msg", ended_at=T0, meta={"unread": True})
    events = log((0, "visit", {"url": "https://shop.example/contact"}), visitor_says(0, "Hi there!"))
    shown = chat_object(chat, events)
    assert set(shown) == OFFLINE_KEYS
    assert set(shown["visitor"]) == VISITOR_KEYS and set(shown["session"]) == SESSION_KEYS
    assert (shown["message"], shown["type"], shown["unread"], shown["started_by"]) == (
        "Hi there!",
        "offline_msg",
        True,
        "visitor",
    )
    assert shown["session"]["start_date"] == shown["session"]["end_date"] == shown["timestamp"]
    assert [step["to"] for step in shown["webpath"]] == ["https://shop.example/contact"]


def test_what_the_search_sees() -> None:
    chat = make_chat(agent_name="Ana", meta={"rating": "good"})
    events = log(
        visitor_says(0, "chocolate cake"), (1, "joined", {"name": "Ana"}), agent_says(2, "yes", "Ana")
    )
    doc = search_doc(chat, events)
    assert doc.agent_names == ("Ana",)
    assert (doc.visitor_name, doc.visitor_email, doc.chat_type, doc.rating) == (
        "Visitor 123",
        "visitor@example.com",
        "chat",
        "good",
    )
    assert doc.text == "chocolate cake\nyes"
    assert doc.timestamp == datetime(2014, 10, 9, 5, 28, 35, tzinfo=UTC)
    assert doc.end_timestamp == datetime(2014, 10, 9, 5, 46, 47, tzinfo=UTC)
    assert search_doc(make_chat(state="queued", ended_at=None), []).end_timestamp is None


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([], ""),
        ([agent_says(0, "Hello!"), visitor_says(1, "My order is late")], "My order is late"),
        ([(0, "message", {"from": "system", "name": "", "text": "Left."})], "Left."),
        ([visitor_says(0, "x" * 300)], "x" * 200),
    ],
)
def test_a_search_results_preview_is_what_the_visitor_asked(
    entries: list[tuple[float, str, dict[str, Any]]], expected: str
) -> None:
    assert preview(log(*entries)) == expected


def test_agents_notes_are_not_in_the_chat_object_nor_in_what_the_search_sees() -> None:
    events = log(
        (0, "state", {"state": "queued"}),
        visitor_says(5, "hello"),
        (10, "joined", {"name": "John"}),
        (15, "note", {"name": "John", "text": "call back tomorrow", "id": "n1"}),
        agent_says(20, "hi"),
        (600, "note", {"name": "Bo", "text": "still open?", "id": "n2"}),
    )
    chat = make_chat(state="active", ended_at=None, agent="john", agent_name="John")
    without = [event for event in events if event.kind != "note"]
    shown = chat_object(chat, events)
    assert shown == chat_object(chat, without)
    assert shown["duration"] == 20  # an open chat lasts to its last event: a note is not one
    assert shown["agent_names"] == ["John"]  # Bo only wrote a note
    assert search_doc(chat, events) == search_doc(chat, without)
    assert preview(events) == "hello"
