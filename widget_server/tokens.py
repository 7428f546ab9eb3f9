"""Resume tokens: a signed, timed statement "this browser holds chat C on site S".

Signed with itsdangerous under the server's secret key and a salt of their own, so that no other signed
value of ours (a session cookie) passes as one. A token names its site: one from another site is refused.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "widget_server.resume-token.v1"


class InvalidToken(Exception):
    """The token is forged, damaged, expired or for another site; ``reason`` says which, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResumeTokens:
    def __init__(self, secret_key: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age = max_age

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
