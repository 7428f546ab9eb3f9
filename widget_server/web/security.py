"""The web layer's security helpers: sessions of logged-in people, CSRF tokens, same-origin checks, login
throttling and the headers of our own pages.

CSRF protection is a per-session synchronizer token plus an Origin check, written by hand because
Starlette has none built in and the whole mechanism is these few functions.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import replace
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


# How long a login lasts, at most: a working day. The cookie says so to the browser, and the signed login
# time inside it says so to the server, which a copy of the cookie cannot change.
SESSION_LIFETIME = 12 * 3600


async def session_user(connection: HTTPConnection, store: Store) -> User | None:
    """The person logged in with this session cookie, unless the session is older than
    ``SESSION_LIFETIME`` or they have since been removed, changed their password or signed out
    (``session_version``: each of these ends every session of theirs, on the server)."""
    name = connection.session.get("user")
    since = connection.session.get("at")
    if not isinstance(name, str) or not isinstance(since, int) or time.time() - since > SESSION_LIFETIME:
        return None
    user = await store.get_user(name)
    if user is None or connection.session.get("v") != user.session_version:
        return None
    return user


def log_in(connection: HTTPConnection, user: User) -> None:
    # A new session on login (session fixation): keep nothing from before but a fresh CSRF token.
    connection.session.clear()
    connection.session.update({"user": user.name, "v": user.session_version, "at": int(time.time())})
    csrf_token(connection)


async def log_out(connection: HTTPConnection, store: Store) -> User | None:
    """End the session here and, since a signed cookie cannot be recalled, every session of this person:
    a copy of the cookie (another device, a stolen one) stops working too. Returns who signed out."""
    user = await session_user(connection, store)
    if user is not None:
        await store.put_user(replace(user, session_version=user.session_version + 1))
    connection.session.clear()
    return user


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
    """Failed logins slow down guessing without locking out the person who knows the password.

    An address gets five failures, then one more every three minutes, whatever the names it tries. A
    name under attack from many addresses (five failures in all) is not locked, which would lock its
    owner out from everywhere: instead, from then on, an address that has failed at all recently gets no
    further try for that name, while an address with no recent failure (the owner's, typically) still
    logs in with the right password. Checked before the (deliberately slow) password hash runs."""

    def __init__(self, state: SharedState, tries: int = 5, per_seconds: float = 900.0) -> None:
        self._by_ip = FailureThrottle(state, "login_ip", tries, per_seconds)
        self._ip_failed = FailureThrottle(state, "login_ip_failed", 1, per_seconds)
        self._by_name = FailureThrottle(state, "login_name", tries, per_seconds)

    async def blocked(self, ip: str, name: str) -> bool:
        if await self._by_ip.blocked(ip):
            return True
        return await self._by_name.blocked(name.lower()) and await self._ip_failed.blocked(ip)

    async def failed(self, ip: str, name: str) -> None:
        await self._by_ip.failed(ip)
        await self._ip_failed.failed(ip)
        await self._by_name.failed(name.lower())
