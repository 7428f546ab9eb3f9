"""Resume tokens: a signed, timed statement "this browser holds chat C on site S"; and visitor tokens:
"this browser is visitor K on site S", which the widget keeps across chats so that agents see a returning
visitor's earlier chats (``Visitor.key``).

Signed with itsdangerous under the server's secret key and a salt of their own each, so that no other
signed value of ours (a session cookie, the other kind of token) passes as one. A token names its site:
one from another site is refused.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from widget_server.identity import VERIFIED_KEY_PREFIX

SALT = "widget_server.resume-token.v1"
VISITOR_SALT = "widget_server.visitor-token.v1"
#: A visitor token is fresh in every `welcome`: only a browser away for longer than this starts over.
VISITOR_MAX_AGE = 365 * 24 * 3600


class InvalidToken(Exception):
    """The token is forged, damaged, expired or for another site; ``reason`` says which, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResumeTokens:
    def __init__(self, secret_key: str, max_age: int, visitor_max_age: int = VISITOR_MAX_AGE) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self._visitors = URLSafeTimedSerializer(secret_key, salt=VISITOR_SALT)
        self.max_age = max_age
        self.visitor_max_age = visitor_max_age

    def issue(self, site: str, chat_id: str) -> str:
        return self._serializer.dumps({"s": site, "c": chat_id})

    def verify(self, token: str, site: str) -> str:
        """Return the chat id the token names, if it is ours, fresh, and for ``site``."""
        try:
            claims = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise InvalidToken("expired") from None
        except BadSignature:
            raise InvalidToken("bad signature") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("c"), str):
            raise InvalidToken("malformed")
        if claims.get("s") != site:
            raise InvalidToken("issued for another site")
        chat_id: str = claims["c"]
        return chat_id

    def issue_visitor(self, site: str, key: str) -> str:
        return self._visitors.dumps({"s": site, "k": key})

    def visitor_key(self, token: str | None, site: str) -> str:
        """The visitor key a visitor token names, if it is ours, not too old and for ``site``; else a new
        key. A bad token is no error: it only means that this chat is not linked to the earlier ones.
        A verified visitor's key is never taken from a token, only from a verified identity (it is never
        put in one either: the visitor connection issues none for it)."""
        if token:
            try:
                claims = self._visitors.loads(token, max_age=self.visitor_max_age)
            except BadSignature:  # expired included
                claims = None
            if isinstance(claims, dict) and claims.get("s") == site and isinstance(claims.get("k"), str):
                key: str = claims["k"]
                if not key.startswith(VERIFIED_KEY_PREFIX):
                    return key
        return secrets.token_urlsafe(16)
