"""Shared state in Redis: per-process shares with a heartbeat and a TTL, and limits as one Lua script.

Keys, all under the URL's prefix:

- ``process:{id}``: this process is alive; set with a TTL and renewed by the heartbeat (every third of
  the TTL). ``processes``: the set of process ids, read by every sum; a reader drops an id whose
  ``process:`` key has expired.
- ``share:{counter}:{id}``: this process's share of a count, a hash of key → count, with the same TTL and
  renewed with it. A process that dies stops renewing both, and its share is gone after the TTL.
- ``limit:{name}:{key}``: a bucket as GCRA keeps it (the "theoretical arrival time" in ms; it expires when
  the bucket is full again); ``pause:{name}:{key}``: a pause, which expires by itself.

Every operation is one round trip (a script or a pipeline). Redis's own clock (``TIME``) times the
buckets, so the hosts' clocks need not agree. The scripts build key names from the prefix: fine on one
Redis server (or a primary with replicas), not on Redis Cluster.

The process's own share is also kept here in memory (``MemoryState``): it is the truth for this
process's sockets, written again in full whenever Redis lost it (the ``process:`` key was missing: Redis
restarted, or this process stalled past the TTL) or a write failed. While Redis is unreachable, reads
answer from this process's share and limits from this process's buckets, as a single process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from widget_server.redis_url import split_prefix
from widget_server.shared_state.memory import MemoryState

log = logging.getLogger(__name__)

# A failing Redis is logged at most once this often, however many calls find it so.
LOG_EVERY = 60.0

# KEYS: process key, processes set, share keys...; ARGV: process id, ttl ms.
# Renews the process and its shares; 0 if the process key had gone (the caller writes its share again).
HEARTBEAT = """
local alive = redis.call('PEXPIRE', KEYS[1], ARGV[2])
if alive == 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
end
redis.call('SADD', KEYS[2], ARGV[1])
for i = 3, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return alive
"""

# KEYS: the share key; ARGV: key, delta, ttl ms. Deltas commute, so two writes in flight on two
# connections give the same sum whichever lands first; a field is removed only at exactly zero.
ADD = """
local share = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if share == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return share
"""

# KEYS: processes set; ARGV: prefix, counter, keys... (none: every key). Sums the live processes' shares.
SUM = """
local prefix, counter = ARGV[1], ARGV[2]
local wanted = {}
for i = 3, #ARGV do wanted[#wanted + 1] = ARGV[i] end
local sums = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', prefix .. 'process:' .. id) == 1 then
    local share = prefix .. 'share:' .. counter .. ':' .. id
    if #wanted > 0 then
      local values = redis.call('HMGET', share, unpack(wanted))
      for i, value in ipairs(values) do
        if value then sums[wanted[i]] = (sums[wanted[i]] or 0) + tonumber(value) end
      end
    else
      local pairs_ = redis.call('HGETALL', share)
      for i = 1, #pairs_, 2 do
        sums[pairs_[i]] = (sums[pairs_[i]] or 0) + tonumber(pairs_[i + 1])
      end
    end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
local flat = {}
for key, value in pairs(sums) do
  flat[#flat + 1] = key
  flat[#flat + 1] = value
end
return flat
"""

# KEYS: bucket key, pause key; ARGV: ms per token, burst, cost, peek ("1" or "0").
# GCRA: the bucket is the time at which it would be full again ("tat"); a request fits if, moved on by
# its cost, that time is at most burst tokens ahead of now. Returns the seconds to wait, as a string
# (Redis turns a Lua number into an integer).
LIMIT = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return tostring(paused / 1000) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
local wait = new_tat - interval * tonumber(ARGV[2]) - now
if wait > 0 then return tostring(wait / 1000) end
if ARGV[4] ~= '1' then
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
end
return '0'
"""

# KEYS: pause key; ARGV: ms. A longer pause already running stands.
PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
"""


class RedisState:
    spans_processes = True

    def __init__(self, client: redis.Redis, prefix: str, ttl: float) -> None:
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.ttl = ttl
        self._ttl_ms = max(1, int(ttl * 1000))
        self._client = client
        self._prefix = prefix
        self._local = MemoryState(process_id=self.process_id)
        self._dirty = True  # the share in Redis must be written in full: at start, and after a failure
        self._heartbeat: asyncio.Task[None] | None = None
        self._failed_logged_at = -LOG_EVERY
        self._heartbeat_script = client.register_script(HEARTBEAT)
        self._add_script = client.register_script(ADD)
        self._sum_script = client.register_script(SUM)
        self._limit_script = client.register_script(LIMIT)
        self._pause_script = client.register_script(PAUSE)

    @classmethod
    async def open(cls, url: str, *, ttl: float) -> RedisState:
        redis_url, prefix = split_prefix(url)
        # Short timeouts: a Redis out of reach must not hold up a handshake or a message; past them, the
        # process answers from its own share and buckets (see above).
        client = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        state = cls(client, prefix, ttl)
        await state.beat()  # registered before the first socket counts; a failure here is the operator's
        state._heartbeat = asyncio.ensure_future(state._beat_forever())
        return state

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _share_key(self, counter: str) -> str:
        return self._key("share", counter, self.process_id)

    def _failed(self, doing: str, error: Exception) -> None:
        self._dirty = True
        now = time.monotonic()
        if now - self._failed_logged_at >= LOG_EVERY:
            self._failed_logged_at = now
            log.warning("Redis: could not %s (%s); this process goes on alone until it answers", doing, error)

    # --- the heartbeat --------------------------------------------------------------------------------

    async def beat(self) -> None:
        """Renew this process and its share; write the share in full if Redis lost it."""
        counters = self._local.counters()
        alive = await self._heartbeat_script(
            keys=[self._key("process", self.process_id), self._key("processes")]
            + [self._share_key(counter) for counter in counters],
            args=[self.process_id, self._ttl_ms],
        )
        if not alive or self._dirty:
            await self._write_share()

    async def _write_share(self) -> None:
        self._dirty = False
        async with self._client.pipeline(transaction=True) as pipe:
            for counter in self._local.counters():
                key = self._share_key(counter)
                pipe.delete(key)
                shares = self._local.shares(counter)
                if shares:
                    pipe.hset(key, mapping=shares)  # type: ignore[arg-type]
                    pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.beat()
            except (RedisError, OSError) as error:
                self._failed("renew this process's share", error)

    # --- counts ---------------------------------------------------------------------------------------

    async def add(self, counter: str, key: str, delta: int) -> int:
        before = self._local.share(counter, key)
        share = self._local.add_now(counter, key, delta)
        if share != before:
            try:
                await self._add_script(
                    keys=[self._share_key(counter)], args=[key, share - before, self._ttl_ms]
                )
            except (RedisError, OSError) as error:
                self._failed("count", error)  # the next heartbeat writes the whole share again
        return share

    async def _sums(self, counter: str, keys: list[str]) -> dict[str, int]:
        flat: list[Any] = await self._sum_script(
            keys=[self._key("processes")], args=[self._prefix, counter, *keys]
        )
        # A sum can dip below zero for a moment (a decrement landing before its increment).
        return {_text(flat[i]): max(0, int(flat[i + 1])) for i in range(0, len(flat), 2)}

    async def total(self, counter: str, key: str) -> int:
        return (await self.totals_of(counter, [key]))[key]

    async def totals_of(self, counter: str, keys: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        try:
            sums = await self._sums(counter, wanted)
        except (RedisError, OSError) as error:
            self._failed("read a count", error)
            return await self._local.totals_of(counter, wanted)
        return {key: sums.get(key, 0) for key in wanted}

    async def totals(self, counter: str) -> dict[str, int]:
        try:
            sums = await self._sums(counter, [])
        except (RedisError, OSError) as error:
            self._failed("read a count", error)
            return self._local.shares(counter)
        return {key: value for key, value in sums.items() if value > 0}

    # --- limits ---------------------------------------------------------------------------------------

    async def rate_limit(
        self, name: str, key: str, rate: float, burst: float, *, cost: float = 1.0, peek: bool = False
    ) -> float:
        try:
            wait = await self._limit_script(
                keys=[self._key("limit", name, key), self._key("pause", name, key)],
                args=[repr(1000 / rate), repr(float(burst)), repr(float(cost)), "1" if peek else "0"],
            )
        except (RedisError, OSError) as error:
            self._failed("check a limit", error)
            return self._local.rate_limit_now(name, key, rate, burst, cost=cost, peek=peek)
        return float(_text(wait))

    async def pause(self, name: str, key: str, seconds: float) -> None:
        self._local.pause_now(name, key, seconds)  # holds here even if Redis does not answer
        try:
            await self._pause_script(keys=[self._key("pause", name, key)], args=[max(1, int(seconds * 1000))])
        except (RedisError, OSError) as error:
            self._failed("pause a limit", error)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(
                    self._key("process", self.process_id),
                    *(self._share_key(counter) for counter in self._local.counters()),
                )
                pipe.srem(self._key("processes"), self.process_id)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("Redis: could not remove this process's share (%s); it expires by itself", error)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()
        await self._local.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
