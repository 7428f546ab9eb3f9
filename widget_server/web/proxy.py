"""Behind a reverse proxy: the client's address and scheme as the proxy saw them, and only from proxies
the operator trusts (``trusted_proxies``). Everything downstream (the gate, logs, cookies) reads
``scope["client"]`` and ``scope["scheme"]`` and so gets the real values.

Modelled on uvicorn's ProxyHeadersMiddleware, which reads only X-Forwarded-For; this one also reads RFC
7239 ``Forwarded``, and walks the chain as widget_server.access.client_address describes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from widget_server.access import NetworkSet, client_address


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: NetworkSet) -> None:
        self.app = app
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            peer = scope["client"][0]
            if self.trusted.contains(peer):
                headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
                scope = dict(scope)
                address = client_address(peer, headers, self.trusted)
                scope["client"] = (address or peer, 0)
                proto = forwarded_proto(headers)
                if proto is not None:
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = "https" if secure else "http"
        await self.app(scope, receive, send)


def forwarded_proto(headers: list[tuple[str, str]]) -> str | None:
    """The scheme the client used, from the nearest proxy's ``Forwarded: proto=`` or X-Forwarded-Proto."""
    for name, value in reversed(headers):
        if name == "forwarded":
            for element in reversed(value.split(",")):
                for pair in element.split(";"):
                    key, _, raw = pair.strip().partition("=")
                    if key.lower() == "proto" and raw.strip('"').lower() in ("http", "https"):
                        return raw.strip('"').lower()
    for name, value in reversed(headers):
        if name == "x-forwarded-proto":
            last = value.split(",")[-1].strip().lower()
            if last in ("http", "https"):
                return last
    return None
