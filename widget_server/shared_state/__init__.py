"""What the processes of one deployment must agree on besides the store: who is there, and the limits.

- **Counts** (visitors' sockets per chat, agents' consoles, sockets per client address, live sockets per
  site): each process owns its share and changes only that (``add``); a read (``total``, ``totals``) sums
  the shares of the processes alive now. A process that dies without a word stops renewing its share,
  and the share expires with it (redis.py: a heartbeat key and a TTL), so nobody counts a dead process's
  sockets for long.
- **Rate limits** (messages per minute per chat, the login and wrong-token throttles, a contact-center
  account's request budget): one bucket per limit and key for the whole deployment, spent atomically, so
  that a limit holds however many processes a visitor or an attacker reaches. A ``pause`` (a 429 from a
  contact center) shuts a bucket for everyone until it runs out.

It carries only what may be lost and rebuilt (the database is the record): if Redis is unreachable, each
process goes on with its own share and its own limits, as a single process would, and writes its share
again when Redis is back.

``SharedState`` is the interface; ``open_shared_state(url)`` picks an implementation by the URL of the
bus, since the bus and this state live in the same place: ``memory:`` keeps everything in this process
(the embedded default), ``redis://…?prefix=`` in Redis. Every implementation passes
tests/test_shared_state_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

#: The counts the server keeps (each a name for ``add`` and ``total``): the key is a chat id, a client
#: address, a site id, or an agent's name (their console sockets, each counted until a while after it
#: closed: widget_server/agent_status.py).
VISITORS = "visitors"
CONSOLES = "consoles"
SOCKETS_PER_IP = "ip"
SOCKETS_PER_SITE = "site"

#: Seconds a process's share outlives its last heartbeat; it renews it every third of that.
DEFAULT_TTL = 15.0


class SharedState(Protocol):
    #: Whether other processes can share this state (and a share can outlive its process): False for
    #: ``memory:``, whose every instance is a process of its own.
    spans_processes: bool
    #: This process's name among the others (host, pid and a random part), for logs.
    process_id: str

    async def add(self, counter: str, key: str, delta: int) -> int:
        """Change this process's share of a count; returns the share (never the total) afterwards, so a
        caller can tell its own first and last without a round trip."""
        ...

    async def total(self, counter: str, key: str) -> int:
        """The count summed over the processes alive now."""
        ...

    async def totals_of(self, counter: str, keys: Iterable[str]) -> dict[str, int]:
        """``total`` for many keys at once (one round trip); every key asked for is in the answer."""
        ...

    async def totals(self, counter: str) -> dict[str, int]:
        """Every key of the count with a total above zero."""
        ...

    async def rate_limit(
        self, name: str, key: str, rate: float, burst: float, *, cost: float = 1.0, peek: bool = False
    ) -> float:
        """Spend ``cost`` from the bucket ``(name, key)``, which holds ``burst`` and refills at ``rate``
        per second: 0.0 when allowed (and spent, unless ``peek``), else the seconds until it would be
        (nothing spent). A paused bucket answers with the rest of its pause."""
        ...

    async def pause(self, name: str, key: str, seconds: float) -> None:
        """Shut the bucket ``(name, key)`` for everyone for ``seconds`` (an earlier, longer pause stands)."""
        ...

    async def close(self) -> None:
        """Stop renewing this process's share and remove it, as a clean stop does."""
        ...


async def open_shared_state(url: str, *, ttl: float = DEFAULT_TTL) -> SharedState:
    """The state that goes with the bus at ``url``: ``memory:`` in this process, ``redis://…`` (and
    ``rediss://``, ``unix://``) in that Redis under the URL's ``prefix``. ``ttl``: how long a silent
    process's share is counted."""
    scheme = url.partition(":")[0]
    if scheme == "memory":
        from widget_server.shared_state.memory import MemoryState

        return MemoryState()
    if scheme in ("redis", "rediss", "unix"):
        from widget_server.shared_state.redis import RedisState

        return await RedisState.open(url, ttl=ttl)
    raise ValueError(f"unknown shared state URL scheme {scheme!r}: use memory: or redis://")
