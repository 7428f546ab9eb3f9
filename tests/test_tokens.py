from __future__ import annotations

import pytest

from widget_server.tokens import InvalidToken, ResumeTokens


def test_a_token_names_its_site_and_chat() -> None:
    tokens = ResumeTokens("k" * 40, max_age=60)
    token = tokens.issue("acme", "chat-1")
    assert tokens.verify(token, "acme") == "chat-1"
    with pytest.raises(InvalidToken, match="another site"):
        tokens.verify(token, "globex")


@pytest.mark.parametrize("token", ["", "garbage", "eyJzIjoiYWNtZSIsImMiOiJ4In0.AAAAAA.forged"])
def test_forged_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        ResumeTokens("k" * 40, max_age=60).verify(token, "acme")


def test_another_servers_key_is_refused() -> None:
    token = ResumeTokens("a" * 40, max_age=60).issue("acme", "c")
    with pytest.raises(InvalidToken, match="bad signature"):
        ResumeTokens("b" * 40, max_age=60).verify(token, "acme")


def test_expired_tokens_are_refused() -> None:
    token = ResumeTokens("k" * 40, max_age=60).issue("acme", "c")
    with pytest.raises(InvalidToken, match="expired"):
        ResumeTokens("k" * 40, max_age=-1).verify(token, "acme")


def test_a_visitor_token_names_its_site_and_key_and_anything_else_is_a_new_visitor() -> None:
    tokens = ResumeTokens("k" * 40, max_age=60)
    token = tokens.issue_visitor("acme", "K")
    assert tokens.visitor_key(token, "acme") == "K"
    others = [
        tokens.visitor_key(token, "globex"),  # another site's
        tokens.visitor_key(ResumeTokens("b" * 40, max_age=60).issue_visitor("acme", "K"), "acme"),  # forged
        tokens.visitor_key(tokens.issue("acme", "K"), "acme"),  # a resume token
        tokens.visitor_key("garbage", "acme"),
        tokens.visitor_key(None, "acme"),
    ]
    assert "K" not in others and len(set(others)) == len(others)  # each a new, random key
    too_old = ResumeTokens("k" * 40, max_age=60, visitor_max_age=-1)
    assert too_old.visitor_key(token, "acme") != "K"
