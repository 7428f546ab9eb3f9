"""The Redis bus: the same fan-out as the in-process bus, across every process sharing one Redis.

Redis pub/sub moves the messages (JSON, on channels named ``prefix + channel``: pub/sub ignores the
database number, so the prefix is what keeps deployments, and tests, apart). What pub/sub does not give,
this module adds:

- **Confirmed subscriptions.** ``subscribe`` returns once Redis answered the SUBSCRIBE, so a message
  published anywhere after that is received.
- **One Redis subscription per channel per process**, however many local subscribers share it: the
  first local subscriber SUBSCRIBEs, the last one's unsubscribe UNSUBSCRIBEs (``Fanout.add``/``remove``
  say when). Both are sent under one lock, so the order on the wire is the order of the counts.
- **Resync after a reconnect.** Subscriptions live on one connection that only this module reads. When it
  breaks (Redis restarted, the connection killed, or no answer to a heartbeat PING), a task reconnects
  with backoff, subscribes every channel again, waits for Redis to confirm, and then gives every
  subscriber ``RESYNC``: whatever was published meanwhile is lost to pub/sub, and the store repairs it.
  The connection is ours, not redis-py's ``PubSub``, because that one resubscribes silently on a
  reconnect, and silence is exactly what a subscriber must not get.
- **Publishing never stalls the publisher.** Publishes go through a pool with short timeouts; while Redis
  is unreachable they are dropped with one log line per outage (the store holds the events; subscribers
  get ``RESYNC`` when the subscription connection is back).

Every local subscriber also receives its own process's messages through Redis, not by a shortcut: one
path, one order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from widget_server import metrics
from widget_server.bus import BusError, Callback, Message
from widget_server.bus.fanout import Fanout
from widget_server.json_output import dumps
from widget_server.redis_url import split_prefix

log = logging.getLogger(__name__)

#: A publish waits at most about this long per attempt for Redis (a visitor's ack waits for the publish).
PUBLISH_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0
PROBE_TIMEOUT = 2.0  # readiness asks Redis for a PONG within this
#: The subscription connection is PINGed this often; nothing heard back by the next PING means it is dead
#: (a network that drops packets instead of refusing them never closes the socket by itself).
HEARTBEAT = 10.0
RECONNECT_FIRST = 0.05
RECONNECT_MAX = 5.0  # seconds between attempts at most, while Redis is away

_SUBSCRIBE = b"subscribe"
_UNSUBSCRIBE = b"unsubscribe"


class RedisBus:
    def __init__(self, url: str, *, heartbeat: float = HEARTBEAT) -> None:
        redis_url, self.prefix = split_prefix(url)
        self._heartbeat = heartbeat
        # One retry without delay: after a Redis restart the pool's idle connections are dead, and the
        # first publish on each would otherwise be dropped long after the subscribers have resynced.
        self._publisher = Redis.from_url(
            redis_url,
            socket_timeout=PUBLISH_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        # No socket timeout: the subscription connection waits for messages as long as there are none.
        # (Said explicitly: redis-py 8 reads with a 5 s timeout by default, which would end a quiet
        # subscription connection every 5 s and resync every subscriber each time.)
        self._subscriber_pool = ConnectionPool.from_url(
            redis_url,
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        kwargs = self._subscriber_pool.connection_kwargs
        self.where = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"
        self._fanout = Fanout()
        self._connection: AbstractConnection | None = None  # the subscription connection, while it is up
        self._lock = asyncio.Lock()
        # Futures waiting for Redis to confirm a SUBSCRIBE or UNSUBSCRIBE, by (kind, wire channel). Redis
        # answers a connection's commands in order, so the oldest waiter is the one answered.
        self._confirmations: dict[tuple[bytes, bytes], deque[asyncio.Future[None]]] = {}
        self._heard = True
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0

    @classmethod
    async def open(cls, url: str, *, heartbeat: float = HEARTBEAT) -> RedisBus:
        """Connect, or raise ``BusError``: a Redis that does not answer at start is a configuration
        problem to report, not an outage to ride out."""
        bus = cls(url, heartbeat=heartbeat)
        try:
            connection = await bus._connect()
        except (RedisError, OSError) as error:
            await bus.close()
            raise BusError(f"cannot reach Redis for the bus at {bus.where}: {error}") from None
        bus._connection = connection  # subscriptions can be sent at once
        bus._task = asyncio.ensure_future(bus._run(connection))
        return bus

    # --- the Bus interface ----------------------------------------------------------------------------

    async def publish(self, channel: str, message: Message) -> None:
        metrics.BUS_PUBLISHED.inc()
        data = dumps(message)
        try:
            await self._publisher.publish(self._wire(channel), data)
        except (RedisError, OSError) as error:
            if self._dropped == 0:
                log.warning(
                    "bus: Redis at %s does not answer (%s); dropping messages until it does, then every"
                    " subscriber resyncs from the store",
                    self.where,
                    error,
                )
            self._dropped += 1
            return
        if self._dropped:
            log.warning("bus: Redis at %s answers again; %d messages were dropped", self.where, self._dropped)
            self._dropped = 0

    async def subscribe(self, channel: str, callback: Callback) -> Callable[[], Awaitable[None]]:
        async with self._lock:
            if self._fanout.add(channel, callback):
                confirmed = await self._send(_SUBSCRIBE, channel)
            else:  # shared: confirmed when the channel's own SUBSCRIBE is
                waiting = self._confirmations.get((_SUBSCRIBE, self._wire(channel)))
                confirmed = waiting[-1] if waiting else None
        if confirmed is not None:
            await asyncio.shield(confirmed)

        async def unsubscribe() -> None:
            async with self._lock:
                last = self._fanout.remove(channel, callback)
                confirmed = await self._send(_UNSUBSCRIBE, channel) if last else None
            if confirmed is not None:
                await asyncio.shield(confirmed)

        return unsubscribe

    async def problem(self) -> str | None:
        connection = self._connection
        if connection is None or not connection.is_connected:
            return "the subscription to Redis is down; reconnecting"
        try:
            await asyncio.wait_for(self._publisher.ping(), PROBE_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as error:
            return f"Redis does not answer ({type(error).__name__})"
        return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._fanout.clear()
        await self._publisher.aclose()
        await self._subscriber_pool.disconnect()

    # --- the subscription connection ------------------------------------------------------------------

    def _wire(self, channel: str) -> bytes:
        return (self.prefix + channel).encode()

    async def _connect(self) -> AbstractConnection:
        connection: AbstractConnection = self._subscriber_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return connection

    async def _send(self, kind: bytes, channel: str) -> asyncio.Future[None] | None:
        """SUBSCRIBE or UNSUBSCRIBE now, under the lock; the future is done when Redis confirmed it (or
        the connection was lost, after which the reconnect subscribes what is current and resyncs)."""
        connection = self._connection
        # Checked here, because redis-py would quietly reconnect a closed connection to send on it.
        if connection is None or not connection.is_connected:
            return None
        wire = self._wire(channel)
        future = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault((kind, wire), deque()).append(future)
        try:
            await connection.send_command(kind.decode().upper(), wire, check_health=False)
        except (RedisError, OSError):
            self._lost(connection)  # the reader sees it too, and the reconnect takes over
        return future

    async def _run(self, connection: AbstractConnection) -> None:
        """Serve one connection after another, for as long as the bus is open."""
        reconnected = False
        while True:
            await self._serve(connection, reconnected=reconnected)
            log.warning("bus: lost the subscription connection to Redis at %s; reconnecting", self.where)
            connection = await self._reconnect()
            log.warning("bus: reconnected to Redis at %s; every subscriber resyncs", self.where)
            reconnected = True

    async def _reconnect(self) -> AbstractConnection:
        delay = RECONNECT_FIRST
        failures = 0
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: processes do not come in step
            delay = min(delay * 2, RECONNECT_MAX)
            try:
                return await self._connect()
            except (RedisError, OSError) as error:
                failures += 1
                if failures == 1:
                    log.warning("bus: cannot reach Redis at %s (%s); still trying", self.where, error)

    async def _serve(self, connection: AbstractConnection, *, reconnected: bool) -> None:
        """Read one connection until it is lost. After a reconnect, first subscribe every channel again
        and, once Redis confirmed, resync every subscriber."""
        self._heard = True
        self._connection = connection  # before the reader starts, so that a loss it sees is this one's
        reader = asyncio.ensure_future(self._read(connection))
        keeper = asyncio.ensure_future(self._keep_alive(connection, reader))
        try:
            if reconnected:
                async with self._lock:
                    channels = self._fanout.channels()
                    confirmations = [await self._send(_SUBSCRIBE, channel) for channel in channels]
                await asyncio.gather(*(future for future in confirmations if future is not None))
                if self._connection is connection:
                    self._fanout.resync()
            await asyncio.wait([reader])
        finally:
            keeper.cancel()
            reader.cancel()
            await asyncio.gather(keeper, reader, return_exceptions=True)
            self._lost(connection)
            await connection.disconnect(nowait=True)

    async def _read(self, connection: AbstractConnection) -> None:
        try:
            while True:
                response = await connection.read_response()
                self._heard = True
                self._received(response)
        except (RedisError, OSError) as error:
            log.info("bus: the subscription connection to Redis at %s ended: %s", self.where, error)
        except asyncio.CancelledError:
            pass  # the heartbeat gave up on it, or the bus is closing
        except Exception:
            log.exception("bus: reading from Redis at %s failed", self.where)
        finally:
            self._lost(connection)

    async def _keep_alive(self, connection: AbstractConnection, reader: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            if not self._heard:
                log.warning("bus: Redis at %s did not answer a PING; reconnecting", self.where)
                reader.cancel()
                return
            self._heard = False
            if not connection.is_connected:
                return
            try:
                await connection.send_command("PING", check_health=False)
            except (RedisError, OSError):
                return  # the reader sees the same

    def _received(self, response: Any) -> None:
        kind, wire = response[0], response[1]
        if kind == b"message":
            channel = wire.decode()[len(self.prefix) :]
            try:
                message = orjson.loads(response[2])
            except ValueError:
                message = None
            if not isinstance(message, dict):
                log.warning("bus: a message on %s is not a JSON object; ignored", channel)
                return
            self._fanout.deliver(channel, message)
        elif kind in (_SUBSCRIBE, _UNSUBSCRIBE):
            waiting = self._confirmations.get((kind, wire))
            if waiting:
                future = waiting.popleft()
                if not waiting:
                    del self._confirmations[(kind, wire)]
                if not future.done():
                    future.set_result(None)
        # b"pong": the heartbeat's answer, counted in _heard

    def _lost(self, connection: AbstractConnection) -> None:
        """The connection is gone: nobody waits for a confirmation that cannot come. They return, and
        the reconnect subscribes their channels and resyncs them."""
        if self._connection is not connection:
            return
        self._connection = None
        for waiting in self._confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_result(None)
        self._confirmations.clear()
