"""Who runs a chat's poller: a lease per chat, so that among all the server processes sharing a store
exactly one polls each chat, and a fencing number, so that an owner that lost its lease without noticing
(paused, cut off from Redis) cannot overwrite what the next owner wrote.

- ``acquire(chat)`` takes the chat's lease for ``ttl`` seconds if nobody else holds it, and returns a
  fencing number higher than every one given out for the chat before (else None). The caller writes
  the chat's ``backend_state`` only with that number (``Store.update_chat(..., fence=)``,
  ``Store.append(..., fence=)``); the store refuses a number lower than the last one it saw
  (``Fenced``). ``above`` raises the number past one the store has seen: a Redis that lost its keys
  starts counting again at 1, and the store's number is then the truth.
- ``renew(chats)`` extends the leases this process still holds and says which those are; a lease not in
  the answer is lost, and its poller must stop at once (without ending the chat: another process adopts
  it).
- ``release(chat)`` gives a lease back, only if it is still ours (a poller that ended, a process that
  stops), so that another process may adopt the chat at once rather than after ``ttl``.
- ``held(chats)``: which of these chats have a poller anywhere.

``open_leases(bus_url)`` picks the implementation that goes with the bus: ``memory:`` (one process: an
in-process table) or ``redis://`` (``prefix:lease:{chat}`` holding the owner's id with a TTL,
``prefix:fence:{chat}`` counting up). Redis is imported only then. Every implementation passes
tests/test_poller_leases.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: How long a lease lasts without renewal: a dead process's chats are adopted this long after its last
#: renewal at most (plus a sweep). Pollers renew every quarter of it, so one lost renewal costs nothing.
DEFAULT_TTL = 6.0
#: Each Redis call of the leases waits at most this long: a renewal that cannot reach Redis must fail
#: well within the TTL, so that the poller stops before another process may adopt its chat.
REDIS_TIMEOUT = 1.0


class LeaseError(Exception):
    """The leases cannot be reached (Redis down): nothing is known, nothing was changed for sure."""


class PollerLeases(Protocol):
    #: This process's id as a lease owner: random, one per ``PollerLeases``.
    owner: str
    ttl: float

    async def acquire(self, chat_id: str, *, above: int = 0) -> int | None:
        """Take the chat's lease if it is free (or already ours); return a fencing number greater than
        every earlier one for this chat and than ``above``, or None when another owner holds it."""
        ...

    async def renew(self, chat_ids: Sequence[str]) -> set[str]:
        """Extend these leases by ``ttl`` where they are still ours; return those (the rest are lost)."""
        ...

    async def release(self, chat_id: str) -> None:
        """Give the lease back if it is still ours; otherwise change nothing."""
        ...

    async def held(self, chat_ids: Sequence[str]) -> set[str]:
        """Those of these chats whose lease someone (this process or another) holds now."""
        ...

    async def close(self) -> None: ...


def new_owner() -> str:
    return secrets.token_hex(8)


# --- one process ----------------------------------------------------------------------------------------


@dataclass
class LeaseTable:
    """The leases of one process: chat id → (owner, expiry), and the fencing numbers given out."""

    leases: dict[str, tuple[str, float]] = field(default_factory=dict)
    fences: dict[str, int] = field(default_factory=dict)


class MemoryLeases:
    """The embedded default: one process, so it owns every chat; the lease only keeps two pollers of the
    same chat apart within the process. Fencing numbers count up from where the store's are (``above``):
    they start again at 1 with every process start."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        table: LeaseTable | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = new_owner()
        self.ttl = ttl
        # A table may be shared by several instances, standing for several processes (the tests do).
        self._table = table if table is not None else LeaseTable()
        self._clock = clock

    def _holder(self, chat_id: str) -> str | None:
        lease = self._table.leases.get(chat_id)
        if lease is None or lease[1] <= self._clock():
            return None
        return lease[0]

    async def acquire(self, chat_id: str, *, above: int = 0) -> int | None:
        if self._holder(chat_id) not in (None, self.owner):
            return None
        self._table.leases[chat_id] = (self.owner, self._clock() + self.ttl)
        fence = self._table.fences[chat_id] = max(self._table.fences.get(chat_id, 0), above) + 1
        return fence

    async def renew(self, chat_ids: Sequence[str]) -> set[str]:
        ours = {chat_id for chat_id in chat_ids if self._holder(chat_id) == self.owner}
        for chat_id in ours:
            self._table.leases[chat_id] = (self.owner, self._clock() + self.ttl)
        return ours

    async def release(self, chat_id: str) -> None:
        if self._holder(chat_id) == self.owner:
            del self._table.leases[chat_id]

    async def held(self, chat_ids: Sequence[str]) -> set[str]:
        return {chat_id for chat_id in chat_ids if self._holder(chat_id) is not None}

    async def close(self) -> None:
        pass


# --- Redis ----------------------------------------------------------------------------------------------

# Each script is one atomic step in Redis: no other client's command runs in between.

# KEYS: lease, fence. ARGV: owner, ttl in ms, above. Returns the new fence, or nil.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return nil end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fence = redis.call('INCR', KEYS[2])
local above = tonumber(ARGV[3])
if fence <= above then
  fence = above + 1
  redis.call('SET', KEYS[2], fence)
end
return fence
"""

# KEYS: the leases. ARGV: owner, ttl in ms. Returns 1 or 0 per key: still ours (and extended) or not.
_RENEW = """
local ours = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    ours[i] = 1
  else
    ours[i] = 0
  end
end
return ours
"""

# KEYS: the lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    """Leases in Redis, shared by every process using the same Redis and prefix. Every call either
    answers or raises ``LeaseError`` within about ``REDIS_TIMEOUT``."""

    def __init__(self, url: str, *, ttl: float = DEFAULT_TTL) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from widget_server.redis_url import split_prefix

        redis_url, self.prefix = split_prefix(url)
        self.owner = new_owner()
        self.ttl = ttl
        # One immediate retry (a pooled connection found dead after a Redis restart), no more: the
        # renewal must know within the TTL.
        self._redis: Redis = Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    def _lease(self, chat_id: str) -> str:
        return f"{self.prefix}lease:{chat_id}"

    def _fence(self, chat_id: str) -> str:
        return f"{self.prefix}fence:{chat_id}"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def acquire(self, chat_id: str, *, above: int = 0) -> int | None:
        from redis.exceptions import RedisError

        try:
            fence = await self._acquire(
                keys=[self._lease(chat_id), self._fence(chat_id)], args=[self.owner, self._ttl_ms, above]
            )
        except RedisError as error:
            raise LeaseError(f"Redis: {error}") from error
        return None if fence is None else int(fence)

    async def renew(self, chat_ids: Sequence[str]) -> set[str]:
        from redis.exceptions import RedisError

        if not chat_ids:
            return set()
        try:
            answers = await self._renew(
                keys=[self._lease(chat_id) for chat_id in chat_ids], args=[self.owner, self._ttl_ms]
            )
        except RedisError as error:
            raise LeaseError(f"Redis: {error}") from error
        return {chat_id for chat_id, ours in zip(chat_ids, answers, strict=True) if int(ours) == 1}

    async def release(self, chat_id: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self._release(keys=[self._lease(chat_id)], args=[self.owner])
        except RedisError as error:
            raise LeaseError(f"Redis: {error}") from error

    async def held(self, chat_ids: Sequence[str]) -> set[str]:
        from redis.exceptions import RedisError

        if not chat_ids:
            return set()
        try:
            holders = await self._redis.mget([self._lease(chat_id) for chat_id in chat_ids])
        except RedisError as error:
            raise LeaseError(f"Redis: {error}") from error
        return {chat_id for chat_id, holder in zip(chat_ids, holders, strict=True) if holder is not None}

    async def close(self) -> None:
        await self._redis.aclose()


def open_leases(bus_url: str, *, ttl: float = DEFAULT_TTL) -> PollerLeases:
    """The leases that go with the bus: Redis for a Redis bus, the process itself for ``memory:``."""
    scheme = bus_url.partition(":")[0].lower()
    if scheme in ("redis", "rediss"):
        return RedisLeases(bus_url, ttl=ttl)
    return MemoryLeases(ttl=ttl)
