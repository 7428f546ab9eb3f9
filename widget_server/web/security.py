"""The web layer's security helpers: sessions of logged-in people, CSRF tokens, same-origin checks, login
throttling and the headers of our own pages.

CSRF protection is a per-session synchronizer token plus an Origin check, written by hand because
Starlette has none built in and the whole mechanism is these few functions.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.requests import HTTPConnection, Request

from widget_server.model import User
from widget_server.shared_state import SharedState
from widget_server.store import Store

# Our pages load only our own scripts and styles and may not be framed (clickjacking).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def own_origin(connection: HTTPConnection) -> str:
    """The origin our own pages have, as the browser sees it (the Host header and the scheme the
    client used, after trusted-proxy handling)."""
    scheme = "https" if connection.url.scheme in ("https", "wss") else "http"
    host = connection.headers.get("host", "")
    return f"{scheme}://{host}".lower()


def is_same_origin(connection: HTTPConnection) -> bool:
    """For websockets of our own pages (agent console, admin): a page of another site must not open them
    with the user's cookie (cross-site websocket hijacking)."""
    origin = connection.headers.get("origin")
    return origin is not None and origin.lower() == own_origin(connection)


def csrf_token(connection: HTTPConnection) -> str:
    token: str | None = connection.session.get("csrf")
    if token is None:
        token = connection.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, form: Any) -> bool:
    """A form post is ours if it carries this session's token and, when the browser says where it comes
    from, comes from our own origin."""
    expected = request.session.get("csrf")
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin.lower() == own_origin(request)


async def session_user(connection: HTTPConnection, store: Store) -> User | None:
    """The person logged in with this session cookie, unless they have since been removed, changed
    their password or logged out everywhere (``session_version``)."""
    name = connection.session.get("user")
    if not isinstance(name, str):
        return None
    user = await store.get_user(name)
    if user is None or connection.session.get("v") != user.session_version:
        return None
    return user


def log_in(connection: HTTPConnection, user: User) -> None:
    # A new session on login (session fixation): keep nothing from before but a fresh CSRF token.
    connection.session.clear()
    connection.session.update({"user": user.name, "v": user.session_version})
    csrf_token(connection)


class FailureThrottle:
    """Failures cost a token per key (a client address, a user name): ``tries`` of them, then one more
    every ``per_seconds / tries``. Counted for the whole deployment (widget_server/shared_state), so that
    spreading attempts over the processes behind a load balancer gains nothing."""

    def __init__(self, state: SharedState, name: str, tries: int, per_seconds: float) -> None:
        self._state = state
        self._name = name
        self._rate = tries / per_seconds
        self._burst = tries

    async def blocked(self, key: str) -> bool:
        return await self._state.rate_limit(self._name, key, self._rate, self._burst, peek=True) > 0

    async def failed(self, key: str) -> None:
        await self._state.rate_limit(self._name, key, self._rate, self._burst)


class LoginThrottle:
    """Failed logins cost a token per client address and per user name: five tries, then one more every
    three minutes. Checked before the (deliberately slow) password hash runs."""

    def __init__(self, state: SharedState, tries: int = 5, per_seconds: float = 900.0) -> None:
        self._by_ip = FailureThrottle(state, "login_ip", tries, per_seconds)
        self._by_name = FailureThrottle(state, "login_name", tries, per_seconds)

    async def blocked(self, ip: str, name: str) -> bool:
        return await self._by_ip.blocked(ip) or await self._by_name.blocked(name.lower())

    async def failed(self, ip: str, name: str) -> None:
        await self._by_ip.failed(ip)
        await self._by_name.failed(name.lower())
