"""The visitor sockets open in this process, so that a policy change reaches them: blocking an address
or removing an origin closes the sockets it no longer admits (1008), and the admin page can show how many
are open per site."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Protocol

from widget_server.config import Site

log = logging.getLogger("widget_server.gate")


class LiveSocket(Protocol):
    site_id: str
    origin: str | None
    ip: str | None

    def kick(self, code: int, reason: str) -> None:
        """Close the socket from the server's side."""
        ...

    def send_hello(self) -> None:
        """Tell the widget again whether a live answer is likely."""
        ...


class LiveConnections:
    def __init__(self) -> None:
        self._by_site: dict[str, set[LiveSocket]] = {}
        self._per_ip: Counter[str] = Counter()

    def add(self, socket: LiveSocket) -> None:
        self._by_site.setdefault(socket.site_id, set()).add(socket)
        if socket.ip is not None:
            self._per_ip[socket.ip] += 1

    def remove(self, socket: LiveSocket) -> None:
        sockets = self._by_site.get(socket.site_id)
        if sockets is None or socket not in sockets:
            return
        sockets.discard(socket)
        if not sockets:
            del self._by_site[socket.site_id]
        if socket.ip is not None:
            self._per_ip[socket.ip] -= 1
            if self._per_ip[socket.ip] <= 0:
                del self._per_ip[socket.ip]

    def count_ip(self, ip: str) -> int:
        return self._per_ip[ip]

    def sockets(self, site_id: str) -> list[LiveSocket]:
        return list(self._by_site.get(site_id, ()))

    def count_site(self, site_id: str) -> int:
        return len(self._by_site.get(site_id, ()))

    def counts(self) -> dict[str, int]:
        return {site_id: len(sockets) for site_id, sockets in self._by_site.items()}

    def enforce(self, site_id: str, site: Site | None) -> int:
        """Close the site's sockets that its policy (now) refuses, or all of them if the site is gone.
        Returns how many were closed."""
        closed = 0
        for socket in list(self._by_site.get(site_id, ())):
            rule = "site_removed" if site is None else site.policy.refusal(socket.origin, socket.ip)
            if rule is not None:
                log.warning(
                    "closing visitor websocket after a policy change: site=%r origin=%r ip=%s rule=%s",
                    site_id,
                    socket.origin,
                    socket.ip,
                    rule,
                )
                socket.kick(1008, "policy")
                self.remove(socket)
                closed += 1
        return closed
