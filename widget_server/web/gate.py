"""The gate in front of the visitor websocket, ``/ws/{site}``: before the handshake is accepted, the site
must exist, the ``Origin`` must be one of its allowed origins, the client's address must not be blocked,
and it must not hold too many sockets already.

An admitted socket goes straight to the visitor handler, not through the rest of the middleware and the
router: each layer's coroutine frame would live as long as the socket, and thousands of sockets wait idle
(docs/performance.md has what this saves per visitor).

A refused handshake gets HTTP 403 with an empty body (what the ASGI server answers to a close before
accept): the response tells a prober nothing. The server log gets one line saying which rule refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from widget_server import metrics
from widget_server.config import Site
from widget_server.runtime import Runtime

log = logging.getLogger("widget_server.gate")

PREFIX = "/ws/"


class VisitorGate:
    def __init__(self, app: ASGIApp, handler: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        runtime = scope["app"].state.runtime
        await runtime.refresh_sites()  # a change made a moment ago, by any process, applies now
        site_id = scope["path"][len(PREFIX) :]
        origin = _header(scope, b"origin")
        ip = scope["client"][0] if scope.get("client") else None
        site = runtime.sites.get(site_id)
        rule = await refusal(runtime, site, origin, ip)
        # Counted in every process: reaching several of them does not get a visitor past the limit.
        if (
            site is not None
            and rule is None
            and ip is not None
            and await runtime.live.count_ip(ip) >= site.limits.sockets_per_ip
        ):
            rule = "sockets_per_ip"
        metrics.HANDSHAKES.labels("refused" if rule else "accepted", rule or "").inc()
        if rule is not None:
            log_refusal("visitor websocket", site_id, origin, ip, rule)
            await send({"type": "websocket.close", "code": 1008})
            return
        scope["widget.site"] = site
        scope["widget.ip"] = ip
        scope["widget.origin"] = origin
        await self.handler(WebSocket(scope, receive, send))


async def refusal(runtime: Runtime, site: Site | None, origin: str | None, ip: str | None) -> str | None:
    """The rule that refuses a visitor of this site from this origin and address, or None: for the
    websocket and for the widget's ``hello`` over HTTP alike."""
    if site is None:
        return "unknown_site"
    # An Omnidesk site with policy_source = true asks Omnidesk (widget_server/omnidesk_policy.py).
    if runtime.omnidesk.governs(site):
        return await runtime.omnidesk.refusal(site, origin, ip)
    return site.policy.refusal(origin, ip)


def log_refusal(what: str, site_id: str, origin: str | None, ip: str | None, rule: str) -> None:
    log.warning(
        "refused %s: site=%r origin=%r ip=%s rule=%s",
        what,
        site_id[:64],
        (origin or "")[:200],
        ip,
        rule,
        extra={"site": site_id[:64], "client": ip, "rule": rule, "origin": (origin or "")[:200]},
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
