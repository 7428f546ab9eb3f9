"""Wire protocol v1, the pure part: a table of frames and what they parse to."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from widget_server import protocol as p
from widget_server.model import Event

VALID = [
    ('{"type":"ping"}', p.Ping()),
    ('{"type":"end"}', p.End()),
    ('{"type":"start","nickname":" Chris "}', p.Start(nickname="Chris")),
    (
        json.dumps(
            {
                "type": "start",
                "nickname": "Chris",
                "subject": "Billing",
                "email": "c@example.com",
                "userData": {"plan": "pro"},
                "page": "https://acme.example/p?q=1",
            }
        ),
        p.Start("Chris", "Billing", "c@example.com", {"plan": "pro"}, "https://acme.example/p?q=1"),
    ),
    ('{"type":"start","nickname":"Chris","email":""}', p.Start("Chris")),
    ('{"type":"start","nickname":"Chris","visitor":"v.t"}', p.Start("Chris", visitor="v.t")),
    ('{"type":"resume","token":"abc","after":0}', p.Resume("abc", 0)),
    ('{"type":"resume","token":"abc","after":12}', p.Resume("abc", 12)),
    ('{"type":"say","id":"m1","text":"line one\\nline two"}', p.Say("m1", "line one\nline two")),
    (
        '{"type":"say","id":"m1","text":"<img src=x onerror=alert(1)>"}',
        p.Say("m1", "<img src=x onerror=alert(1)>"),
    ),
    ('{"type":"typing","active":true}', p.Typing(True)),
    ('{"type":"visit","url":"http://localhost:3000/"}', p.Visit("http://localhost:3000/")),
    (
        '{"type":"leave_message","id":"o1","name":"Kim","email":"k@example.com","message":"Call me"}',
        p.LeaveMessage("o1", "Kim", "k@example.com", "Call me"),
    ),
    (
        '{"type":"leave_message","id":"o1","name":"Kim","email":"k@e.com","message":"Hi","visitor":"v.t"}',
        p.LeaveMessage("o1", "Kim", "k@e.com", "Hi", visitor="v.t"),
    ),
    ('{"type":"ping","extra":"ignored"}', p.Ping()),
    # The host page's attributes (widget.js set()): numbers and booleans kept as text.
    (
        '{"type":"start","nickname":"C","userData":{"plan":"pro","seats":12,"paid":true,"rate":1.5}}',
        p.Start("C", user_data={"plan": "pro", "seats": "12", "paid": "true", "rate": "1.5"}),
    ),
    (
        '{"type":"update","userData":{"plan":"team","old":null}}',
        p.Update(user_data={"plan": "team", "old": None}),
    ),
    ('{"type":"update","email":"c@example.com"}', p.Update(email="c@example.com")),
    ('{"type":"update"}', p.Update()),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[v[0][:40] for v in VALID])
def test_valid_frames(text: str, expected: p.VisitorFrame) -> None:
    assert p.parse_visitor_frame(text) == expected


INVALID = [
    ("", "bad_frame", None),
    ("null", "bad_frame", None),
    ('"ping"', "bad_frame", None),
    ('{"type":null}', "bad_frame", None),
    ('{"type":"PING"}', "unknown_type", None),
    ('{"type":"say","id":"m1"}', "invalid_field", "text"),
    ('{"type":"say","text":"hi"}', "invalid_field", "id"),
    ('{"type":"say","id":"","text":"hi"}', "invalid_field", "id"),
    ('{"type":"say","id":"m1","text":"  \\n "}', "invalid_field", "text"),
    ('{"type":"say","id":"m1","text":5}', "invalid_field", "text"),
    ('{"type":"typing","active":"yes"}', "invalid_field", "active"),
    ('{"type":"typing"}', "invalid_field", "active"),
    ('{"type":"resume","token":"t","after":1.5}', "invalid_field", "after"),
    ('{"type":"resume","token":"t","after":"3"}', "invalid_field", "after"),
    ('{"type":"resume","token":"","after":0}', "invalid_field", "token"),
    ('{"type":"visit","url":"ftp://x/"}', "invalid_field", "url"),
    ('{"type":"visit","url":"https://"}', "invalid_field", "url"),
    ('{"type":"visit","url":"https://[::1"}', "invalid_field", "url"),
    ('{"type":"start","nickname":"C","email":"a@b"}', "invalid_field", "email"),
    ('{"type":"start","nickname":"C","email":"a b@c.de"}', "invalid_field", "email"),
    ('{"type":"start","nickname":"C","userData":{"":"x"}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","visitor":7}', "invalid_field", "visitor"),
    ('{"type":"start","nickname":"C","visitor":"' + "v" * 1025 + '"}', "invalid_field", "visitor"),
    ('{"type":"start","nickname":"C","userData":{"k":"' + "v" * 1001 + '"}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"' + "k" * 65 + '":"v"}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"k":{"nested":"x"}}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"k":["x"]}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"k":null}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"k":9007199254740993}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"k":"a\\u0007b"}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":{"a\\nb":"x"}}', "invalid_field", "userData"),
    ('{"type":"start","nickname":"C","userData":"plan=pro"}', "invalid_field", "userData"),
    ('{"type":"update","userData":{"k":false,"l":[]}}', "invalid_field", "userData"),
    ('{"type":"update","email":"nobody"}', "invalid_field", "email"),
    ('{"type":"leave_message","id":"o","name":"K","email":"bad","message":"m"}', "invalid_field", "email"),
    ('{"type":"leave_message","id":"o","name":"K","email":"k@e.com"}', "invalid_field", "message"),
    ("[" * 100000, "too_large", None),
]


@pytest.mark.parametrize(("text", "code", "field"), INVALID, ids=[i[0][:40] for i in INVALID])
def test_invalid_frames(text: str, code: str, field: str | None) -> None:
    with pytest.raises(p.FrameError) as error:
        p.parse_visitor_frame(text)
    assert (error.value.code, error.value.field) == (code, field)
    frame = error.value.frame()
    assert frame["type"] == "error" and frame["message"].endswith(".")


def test_the_size_limit_counts_bytes() -> None:
    text = json.dumps({"type": "say", "id": "m", "text": "é" * 9000}, ensure_ascii=False)
    assert len(text) < p.MAX_FRAME_BYTES < len(text.encode())
    with pytest.raises(p.FrameError) as error:
        p.parse_visitor_frame(text)
    assert error.value.code == "too_large"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(p.FrameError):
        p.parse_visitor_frame('{"type":"start","nickname":"C","userData":' + "[" * 5000 + "]" * 5000 + "}")


def test_errors_carry_the_client_id() -> None:
    with pytest.raises(p.FrameError) as error:
        p.parse_visitor_frame('{"type":"say","id":"m7","text":""}')
    assert error.value.frame()["id"] == "m7"


def test_random_input_never_raises_anything_else() -> None:
    rng = random.Random(7)
    alphabet = '{}[]":,typesaystartnickname0123456789\\ truefalsenull'
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        with contextlib.suppress(p.FrameError):
            p.parse_visitor_frame(text)


def test_event_frames() -> None:
    event = Event("c1", 3, 1_763_704_800_123, "message", {"from": "agent", "name": "Ana", "text": "Hi"})
    assert event.frame() == {
        "type": "event",
        "seq": 3,
        "at": "2025-11-21T06:00:00.123Z",
        "kind": "message",
        "from": "agent",
        "name": "Ana",
        "text": "Hi",
    }
    # No note before it: the visitor's frame is the same.
    assert json.loads(event.visitor_frame_json()) == event.frame()
    assert Event.from_json(event.to_json()) == event


def test_agents_notes_are_numbered_in_the_log_and_left_out_of_the_visitors_view() -> None:
    log = [  # (seq, kind, hidden_before) as the store writes them
        (1, "state", 0),
        (2, "note", 0),
        (3, "message", 1),
        (4, "note", 1),
        (5, "note", 2),
        (6, "message", 3),
    ]
    events = [Event("c1", seq, 0, kind, {"text": "t"}, hidden) for seq, kind, hidden in log]
    assert [e.visitor_seq for e in events] == [1, None, 2, None, None, 3]
    assert [e.frame()["seq"] for e in events] == [1, 2, 3, 4, 5, 6]  # the consoles: the whole log
    assert events[5].visitor_frame()["seq"] == 3
    with pytest.raises(ValueError, match="not for visitors"):
        events[1].visitor_frame()
    assert [Event.from_json(e.to_json()) for e in events] == events  # across the bus, as it was


def test_an_update_merges_attributes_and_null_removes_one() -> None:
    assert p.merge_user_data({"plan": "pro", "old": "x"}, {"plan": "team", "old": None, "gone": None}) == {
        "plan": "team"
    }
    full = {f"k{i}": "v" for i in range(p.MAX_USERDATA_KEYS)}
    swapped = p.merge_user_data(full, {"k0": None, "new": "v"})
    assert len(swapped) == p.MAX_USERDATA_KEYS and "k0" not in swapped and swapped["new"] == "v"
    with pytest.raises(p.FrameError) as error:
        p.merge_user_data(full, {"one_more": "v"})
    assert (error.value.code, error.value.field) == ("invalid_field", "userData")
