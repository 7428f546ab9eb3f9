"""The visitor sockets open in this process, so that a policy change reaches them: blocking an address
or removing an origin closes the sockets it no longer admits (1008). Their counts per client address (for
the gate's limit) and per site (for the admin page and API) are the deployment's: each process counts its
own in the shared state, and a read sums over the processes alive (widget_server/shared_state)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from widget_server.config import Site
from widget_server.shared_state import SOCKETS_PER_IP, SOCKETS_PER_SITE, SharedState
from widget_server.shared_state.memory import MemoryState

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
    def __init__(self, state: SharedState | None = None) -> None:
        self.state: SharedState = state or MemoryState()
        self._by_site: dict[str, set[LiveSocket]] = {}
        self._uncounting: set[asyncio.Task[Any]] = set()

    async def add(self, socket: LiveSocket) -> None:
        self._by_site.setdefault(socket.site_id, set()).add(socket)
        await self._count(socket, 1)

    async def remove(self, socket: LiveSocket) -> None:
        if self._forget(socket):
            await self._count(socket, -1)

    def _forget(self, socket: LiveSocket) -> bool:
        sockets = self._by_site.get(socket.site_id)
        if sockets is None or socket not in sockets:
            return False
        sockets.discard(socket)
        if not sockets:
            del self._by_site[socket.site_id]
        return True

    async def _count(self, socket: LiveSocket, delta: int) -> None:
        await self.state.add(SOCKETS_PER_SITE, socket.site_id, delta)
        if socket.ip is not None:
            await self.state.add(SOCKETS_PER_IP, socket.ip, delta)

    async def count_ip(self, ip: str) -> int:
        """Visitor sockets from this address, in every process."""
        return await self.state.total(SOCKETS_PER_IP, ip)

    def sockets(self, site_id: str) -> list[LiveSocket]:
        """This process's sockets of the site."""
        return list(self._by_site.get(site_id, ()))

    async def count_site(self, site_id: str) -> int:
        """Visitor sockets of the site, in every process."""
        return await self.state.total(SOCKETS_PER_SITE, site_id)

    async def counts(self) -> dict[str, int]:
        """Visitor sockets per site, in every process (sites with none left out)."""
        return await self.state.totals(SOCKETS_PER_SITE)

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
                if self._forget(socket):  # counted out now, so the next handshake finds its place free
                    task = asyncio.ensure_future(self._count(socket, -1))
                    self._uncounting.add(task)
                    task.add_done_callback(self._uncounting.discard)
                closed += 1
        return closed
