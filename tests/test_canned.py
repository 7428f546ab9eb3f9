"""What a canned response may be (widget_server/canned.py): a table of requests and what each becomes."""

from __future__ import annotations

from typing import Any

import pytest

from widget_server import canned
from widget_server.canned import CannedError, Fields
from widget_server.protocol import MAX_TEXT

OK = {"shortcut": "refund", "title": "Refund", "text": "Hello {{visitor.name}}"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shortcut": ""}, "shortcut"),
        ({"shortcut": "/"}, "shortcut"),
        ({"shortcut": "two words"}, "shortcut"),
        ({"shortcut": "-dash"}, "shortcut"),
        ({"shortcut": "ümlaut"}, "shortcut"),
        ({"shortcut": "x" * (canned.MAX_SHORTCUT + 1)}, "shortcut"),
        ({"shortcut": 7}, "shortcut"),
        ({"shortcut": None}, "shortcut"),
        ({"title": "   "}, "title"),
        ({"title": "x" * (canned.MAX_TITLE + 1)}, "title"),
        ({"title": "Two\nlines"}, "title"),
        ({"title": ["a list"]}, "title"),
        ({"text": None}, "text"),
        ({"text": "\n\t "}, "text"),
        ({"text": "x" * (MAX_TEXT + 1)}, "text"),
        ({"text": "bell \x07"}, "text"),
        ({"scope": "team"}, "scope"),
    ],
)
def test_refusals_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(CannedError) as refused:
        canned.check({**OK, **changes}, creating=True)
    assert (refused.value.code, refused.value.field, refused.value.status) == ("invalid_field", field, 400)
    assert refused.value.to_json() == {
        "error": "invalid_field",
        "message": refused.value.message,
        "field": field,
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Fields("refund", "Refund", "Hello {{visitor.name}}", "personal")),
        ({"shortcut": " /Refund "}, Fields("refund", "Refund", "Hello {{visitor.name}}", "personal")),
        ({"shortcut": "x" * canned.MAX_SHORTCUT}, Fields("x" * 32, "Refund", "Hello {{visitor.name}}")),
        (
            {"shortcut": "a-b_9", "scope": "shared"},
            Fields("a-b_9", "Refund", "Hello {{visitor.name}}", "shared"),
        ),
        ({"title": "  Spaced  ", "text": "\n Two\n\tlines \n"}, Fields("refund", "Spaced", "Two\n\tlines")),
        ({"text": "x" * MAX_TEXT, "unknown": 1}, Fields("refund", "Refund", "x" * MAX_TEXT)),
    ],
)
def test_accepted_fields_are_kept_tidy(changes: dict[str, Any], expected: Fields) -> None:
    assert canned.check({**OK, **changes}, creating=True) == expected


def test_a_replace_has_no_scope_and_a_body_must_be_an_object() -> None:
    assert canned.check({**OK, "scope": "shared"}, creating=False).scope == "personal"  # ignored
    for body in ([OK], "refund", None):
        with pytest.raises(CannedError) as refused:
            canned.check(body, creating=True)
        assert refused.value.code == "bad_request" and refused.value.field is None
