"""GWS messages to chat-log events, and GWS errors to our exceptions: pure tables."""

from __future__ import annotations

from typing import Any

import pytest

from widget_server.adapters import BackendRefused, BackendUnavailable, ChatGone
from widget_server.adapters.gws import classify, map_messages

CHRIS = {"nickname": "Chris", "participantId": "1", "type": "Customer"}
KRISTI = {"nickname": "Kristi Sippola", "participantId": "2", "type": "Agent"}
BO = {"nickname": "Bo", "participantId": "3", "type": "Agent"}
BOT = {"nickname": "System", "participantId": "4", "type": "External"}


def m(index: int, type_: str, sender: dict[str, str], text: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"from": sender, "index": index, "type": type_}
    if text is not None:
        message["text"] = text
    return message


def summary(
    messages: Any, cursor: dict[str, Any] | None = None
) -> tuple[list[tuple[str, Any]], Any, dict[str, Any], bool]:
    polled = map_messages(messages, cursor or {})
    events = [
        (e.kind, e.data.get("text") or e.data.get("name") or e.data.get("state")) for e in polled.events
    ]
    return events, list(polled.typing), polled.cursor, polled.ended


def test_the_documented_example() -> None:
    # Customer Chat Messages page: the customer's typing, then the agent's typing and text.
    events, typing, cursor, ended = summary(
        [
            m(4, "TypingStarted", CHRIS),
            m(5, "TypingStopped", CHRIS),
            m(6, "TypingStarted", KRISTI, "user is typing"),
            m(7, "Text", KRISTI, "How can I help you?"),
        ],
        {"index": 3, "agents": {"2": "Kristi Sippola"}},
    )
    assert events == [("message", "How can I help you?")]
    assert typing == [("Kristi Sippola", True)]
    assert cursor == {"index": 7, "agents": {"2": "Kristi Sippola"}} and not ended


CASES = [
    (
        "customer join and text are our own echo",
        [m(1, "ParticipantJoined", CHRIS), m(2, "Text", CHRIS, "hi")],
        [],
        2,
        False,
    ),
    (
        "first agent joins: joined and active",
        [m(1, "ParticipantJoined", CHRIS), m(2, "ParticipantJoined", KRISTI)],
        [("joined", "Kristi Sippola"), ("state", "active")],
        2,
        False,
    ),
    (
        "second agent joins: joined only",
        [m(1, "ParticipantJoined", KRISTI), m(2, "ParticipantJoined", BO)],
        [("joined", "Kristi Sippola"), ("state", "active"), ("joined", "Bo")],
        2,
        False,
    ),
    (
        "transfer: the first leaves after the second joined, the chat goes on",
        [m(1, "ParticipantJoined", KRISTI), m(2, "ParticipantJoined", BO), m(3, "ParticipantLeft", KRISTI)],
        [("joined", "Kristi Sippola"), ("state", "active"), ("joined", "Bo"), ("left", "Kristi Sippola")],
        3,
        False,
    ),
    (
        "the last agent leaves: ended",
        [m(1, "ParticipantJoined", KRISTI), m(2, "Text", KRISTI, "bye"), m(3, "ParticipantLeft", KRISTI)],
        [("joined", "Kristi Sippola"), ("state", "active"), ("message", "bye"), ("left", "Kristi Sippola")],
        3,
        True,
    ),
    (
        "an external participant's text is a system message",
        [m(1, "Text", BOT, "Transferring you")],
        [("message", "Transferring you")],
        1,
        False,
    ),
    (
        "out of order in the answer: sorted by index",
        [m(2, "Text", KRISTI, "two"), m(1, "Text", KRISTI, "one")],
        [("message", "one"), ("message", "two")],
        2,
        False,
    ),
    (
        "unknown types are skipped but move the cursor",
        [m(1, "TranscriptSaveDone", KRISTI), m(2, "Notice", BOT)],
        [],
        2,
        False,
    ),
    ("blank agent text is skipped", [m(1, "Text", KRISTI, "   ")], [], 1, False),
    ("an agent leaving who never joined changes nothing", [m(1, "ParticipantLeft", BO)], [], 1, False),
]


@pytest.mark.parametrize(("name", "messages", "events", "index", "ended"), CASES, ids=[c[0] for c in CASES])
def test_mapping(
    name: str, messages: list[dict[str, Any]], events: list[tuple[str, Any]], index: int, ended: bool
) -> None:
    got_events, _, cursor, got_ended = summary(messages)
    assert (got_events, cursor["index"], got_ended) == (events, index, ended)


def test_messages_at_or_before_the_cursor_are_not_repeated() -> None:
    messages = [m(1, "ParticipantJoined", KRISTI), m(2, "Text", KRISTI, "one"), m(3, "Text", KRISTI, "two")]
    first = map_messages(messages[:2], {})
    again = map_messages(messages, first.cursor)
    assert [e.data.get("text") for e in again.events] == ["two"]
    assert map_messages(messages, again.cursor).events == []


MALFORMED = [
    None,
    "not a list",
    [None, 1, "x", {}],
    [{"index": "3", "type": "Text", "from": KRISTI, "text": "string index"}],
    [{"index": True, "type": "Text", "from": KRISTI, "text": "bool index"}],
    [{"index": -1, "type": "Text", "from": KRISTI, "text": "negative"}],
    [{"index": 1, "type": "Text", "from": "not a dict", "text": "odd sender"}],
    [{"index": 1, "type": "Text", "from": KRISTI, "text": 42}],
]


@pytest.mark.parametrize("messages", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_answers_are_survived(messages: Any) -> None:
    polled = map_messages(messages, {"index": 0})
    assert all(e.kind == "message" and e.data["from"] == "system" for e in polled.events)


def test_agent_text_is_capped() -> None:
    polled = map_messages([m(1, "Text", KRISTI, "x" * 50_000)], {})
    assert len(polled.events[0].data["text"]) == 20_000


ERRORS = [
    (1, 400, BackendRefused),  # required parameter missing
    (10, 400, BackendRefused),  # input validation
    (20, 401, BackendRefused),  # not authenticated: a configuration problem
    (2, 400, ChatGone),  # not valid for the chat's state (the agent left)
    (6, 404, ChatGone),  # not found
    (4, 500, BackendUnavailable),  # internal error
    (9, 200, BackendUnavailable),  # processing incomplete
    (None, 502, BackendUnavailable),  # a proxy's error page
    (None, 429, BackendUnavailable),
]


@pytest.mark.parametrize(("status_code", "http", "kind"), ERRORS)
def test_error_classes(status_code: int | None, http: int, kind: type[Exception]) -> None:
    error = classify(status_code, "message", http, 3.0)
    assert type(error) is kind
    assert "message" in error.detail
