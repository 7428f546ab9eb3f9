"""The poller: one per live chat on a contact center without push, written once for every adapter.

A ``Poller`` is the only thing that talks to the contact center about its chat after the start, so
that everything about that chat there happens in order:

1. it delivers the visitor's messages, in ``seq`` order, each exactly once, retrying with backoff while
   the contact center is down (the chat log is the outbox: ``delivered_seq`` in the chat's
   ``backend_state`` says how far delivery got, and survives a restart);
2. it polls for agent activity (one ``adapter.poll`` request at a time) on the interval
   widget_server/poll_policy.py chooses, and puts what comes back into the chat log together with the
   new cursor, in one transaction, so a restart neither misses nor repeats anything;
3. it ends the chat when the contact center ended it, or when the visitor has been gone for the grace
   period, and then tells the contact center (after delivering what was still pending).

One poller per chat among all the processes sharing the store: ``Pollers.ensure`` starts one only for
the holder of the chat's lease (widget_server/poller_leases.py), keeps the leases renewed, and stops a
poller at once when its lease is lost. Every write of the chat's ``backend_state`` (and every end the
poller decides) carries the lease's fencing number, so a stale owner that has not noticed yet writes
nothing (``Fenced``) and stops: it never ends the chat, the new owner carries on from the stored cursor.
What reaches the owner from other processes comes on the chat's bus channel: the chat's events (a
visitor message to deliver, the end), ``presence`` (the visitor came or went), ``close`` (the chat was
deleted) and ``resync`` (the bus may have lost some of those: re-read the store).

Adapters only make the requests. The loop, the interval, the backoff and the retries are here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from widget_server import metrics, model
from widget_server.adapters import Adapter, BackendRefused, BackendUnavailable, ChatGone, Polled
from widget_server.attachments import ChatFiles
from widget_server.bus import Callback, Message
from widget_server.file_store import read_all
from widget_server.model import ENDED, OPEN_STATES, Chat, Event, NewEvent
from widget_server.poll_policy import Backoff, PollSettings, next_interval
from widget_server.poller_leases import LeaseError, MemoryLeases, PollerLeases
from widget_server.presence import Presence
from widget_server.store import Appended, Fenced, Store, WrongState


class PollerHost(Protocol):
    """What a poller needs of the chat service that starts it: the store, who is there, the chat's files
    and the pollers, and the writes and notices about a chat. A Protocol, so that this module does not
    import the service (widget_server/chat_service.py), which imports it."""

    @property
    def store(self) -> Store: ...

    @property
    def presence(self) -> Presence: ...

    @property
    def files(self) -> ChatFiles: ...

    @property
    def pollers(self) -> Pollers: ...

    async def subscribe(self, chat_id: str, callback: Callback) -> Callable[[], Awaitable[None]]: ...

    async def append(
        self,
        chat_id: str,
        events: Sequence[NewEvent],
        *,
        changes: dict[str, Any] | None = None,
        require_states: Sequence[str] | None = None,
        fence: int | None = None,
        at_most: tuple[str, int] | None = None,
    ) -> Appended: ...

    async def end_for_absence(self, chat_id: str, *, fence: int | None = None) -> None: ...

    async def end_by_contact_center(
        self, chat_id: str, before: list[NewEvent], *, fence: int | None = None
    ) -> None: ...

    async def backend_typing(self, chat: Chat, name: str, active: bool) -> None: ...

    async def backend_queue(self, chat: Chat, position: int) -> None: ...

    async def backend_unavailable(self, chat_id: str) -> None: ...

    async def not_delivered(self, chat_id: str, client_id: str) -> None: ...

    async def poller_finished(self, poller: Poller) -> None: ...


log = logging.getLogger(__name__)

# Failed attempts in a row, with the visitor's messages waiting, before the visitor is told.
UNAVAILABLE_NOTICE_AFTER = 3


class Poller:
    def __init__(
        self,
        chat: Chat,
        service: PollerHost,
        adapter: Adapter,
        settings: PollSettings,
        *,
        fence: int | None = None,
        visitor_online: bool = True,
    ) -> None:
        self.chat = chat
        #: The lease's fencing number: every write of the chat's backend state carries it.
        self.fence = fence
        self.service = service
        self.adapter = adapter
        self.settings = settings
        self.backoff = Backoff(settings)
        self.loop = asyncio.get_running_loop()
        now = self.loop.time()
        self.agent_typing = False
        self.last_activity = now
        self.next_poll = now
        self.retry_at = 0.0
        # Ambiguous attempt: the request for this seq may have reached the contact center (a timeout).
        self.maybe_sent: int | None = None
        self.visitor_gone_since: float | None = None if visitor_online else now
        self.undelivered_pending = True  # check the log once at start: a restart may have left some
        self.recheck_state = False  # after a bus resync: read the chat's state, it may have ended
        self.finishing = False
        self.closed = False  # deleted, or another process owns the chat now: stop, end nothing
        #: Until when (loop time) the lease is known to be ours; Pollers renews it.
        self.lease_until = now + service.pollers.leases.ttl
        self.finished = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self.requests = 0

    @property
    def state(self) -> dict[str, Any]:
        return self.chat.backend_state

    # --- control, from the chat service ---------------------------------------------------------------

    async def start(self) -> None:
        self._unsubscribe = await self.service.subscribe(self.chat.id, self._on_bus)
        self._task = asyncio.ensure_future(self._run())

    def visitor_left(self) -> None:
        self.visitor_gone_since = self.loop.time()
        self._wake.set()

    def visitor_back(self) -> None:
        self.visitor_gone_since = None
        self.next_poll = self.loop.time()  # they may have missed something: look at once
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._unsubscribe_once()

    def _on_bus(self, message: Message) -> None:
        if message["t"] == "presence":  # published by whichever process the visitor's socket is on
            if message["online"]:
                self.visitor_back()
            else:
                # Gone from that process; whether they are still on another is asked when the grace
                # period is over (_visitor_elsewhere), not here on the event loop's callback.
                self.visitor_left()
            return
        if message["t"] == "close":  # deleted: nothing more to do for it, here or at the contact center
            self.closed = True
            self._wake.set()
            return
        if message["t"] == "resync":
            # Missed messages may have been a visitor's (deliver what the log holds) or the end.
            self.undelivered_pending = True
            self.recheck_state = True
            self._wake.set()
            return
        if message["t"] != "event":
            return
        event = message["e"]
        if event["kind"] in (model.MESSAGE, model.ATTACHMENT) and event["data"].get("from") == model.VISITOR:
            self.undelivered_pending = True
            self._wake.set()
        elif event["kind"] == model.STATE and event["data"]["state"] == ENDED:
            self.finishing = True
            self._wake.set()

    # --- the loop -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not await self._step():
                await self._sleep()
        except asyncio.CancelledError:
            raise
        except Fenced as fenced:
            log.info("chat %s: another process polls it now (%s); this poller stops", self.chat.id, fenced)
        except Exception:
            log.exception("chat %s: the poller stopped on an unexpected error", self.chat.id)
        finally:
            self.finished.set()
            await self._unsubscribe_once()
            await self.service.poller_finished(self)

    async def _step(self) -> bool:
        """One round: deliver, poll if due, end if it is time. True when the poller is done."""
        if self.closed:
            return True
        now = self.loop.time()
        if now < self.retry_at:
            return False
        try:
            if self.recheck_state:
                await self._recheck_state()
            if self.undelivered_pending:
                await self._deliver()
            if self.finishing:
                # A message stored while the last delivery ran still goes before the end.
                while self.undelivered_pending:
                    await self._deliver()
                await self._tell_contact_center_it_ended()
                return True
            if self._visitor_gone_too_long(now) and not await self._visitor_elsewhere(now):
                log.info("chat %s: the visitor has been gone for the grace period", self.chat.id)
                await self.service.end_for_absence(self.chat.id, fence=self.fence)
                self.finishing = True
                return False
            if self.adapter.polls and now >= self.next_poll:
                await self._poll()
        except ChatGone as gone:
            log.info("chat %s: the contact center ended it (%s)", self.chat.id, gone.detail)
            await self._last_poll()
            await self.service.end_by_contact_center(self.chat.id, [], fence=self.fence)
            return True
        except BackendUnavailable as error:
            delay = self.backoff.failure(error.retry_after)
            if self.undelivered_pending and self.backoff.failures == UNAVAILABLE_NOTICE_AFTER:
                await self.service.backend_unavailable(self.chat.id)  # once an outage: nothing is lost
            self.retry_at = self.loop.time() + delay
            log.info(
                "chat %s: contact center unavailable (%s); retrying in %.1f s",
                self.chat.id,
                error.detail,
                delay,
            )
            return False
        except BackendRefused as error:
            # A poll refused for good is a configuration problem (wrong contact center id, say): keep
            # trying slowly, loudly, so that fixing the configuration revives the chat.
            delay = self.backoff.failure(error.retry_after)
            self.retry_at = self.loop.time() + delay
            log.warning("chat %s: contact center refused to poll: %s", self.chat.id, error.detail)
            return False
        self.backoff.success()
        return False

    async def _sleep(self) -> None:
        """Until the next thing is due, or something wakes us (a visitor message, the visitor coming or
        going, the chat ending). A timer handle sets the same event: no task per sleep."""
        now = self.loop.time()
        if now >= self.retry_at:
            if self.finishing or self.undelivered_pending or self.recheck_state or self.closed:
                return  # work to do now
            deadlines = [self.next_poll] if self.adapter.polls else []
            if self.visitor_gone_since is not None:
                deadlines.append(self.visitor_gone_since + self.settings.grace)
        else:
            deadlines = [self.retry_at]  # backing off: only the end of the backoff
        timer = self.loop.call_at(min(deadlines), self._wake.set) if deadlines else None
        try:
            await self._wake.wait()
        finally:
            self._wake.clear()
            if timer is not None:
                timer.cancel()

    async def _visitor_elsewhere(self, now: float) -> bool:
        """Whether the visitor is online in another process after all (they came back there, and only
        this process's sockets tell this poller): if so, look again after another grace period."""
        if not await self.service.presence.visitor_online(self.chat.id):
            return False
        self.visitor_gone_since = now
        return True

    async def _recheck_state(self) -> None:
        self.recheck_state = False
        chat = await self.service.store.get_chat(self.chat.id)
        if chat is None or chat.deleted_at is not None:
            self.closed = True
        elif chat.state == ENDED:
            self.finishing = True

    def _visitor_gone_too_long(self, now: float) -> bool:
        return self.visitor_gone_since is not None and now - self.visitor_gone_since >= self.settings.grace

    # --- delivery -------------------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """Send the visitor's messages that the contact center does not have yet, in order, noting after
        each one how far delivery got."""
        self.undelivered_pending = False
        if not self.adapter.delivers:
            return
        delivered = int(self.state.get("delivered_seq", 0))
        events = await self.service.store.events_after(self.chat.id, delivered)
        for event in events:
            # Only what the visitor sent: never an agent's internal note, nor anything else of ours.
            if event.data.get("from") != model.VISITOR or event.kind in model.AGENTS_ONLY:
                continue
            if event.kind == model.MESSAGE or (
                event.kind == model.ATTACHMENT and "attachments" in self.adapter.capabilities
            ):
                await self._deliver_one(event)
                await self._save_state(delivered_seq=event.seq)
        if events and events[-1].seq > int(self.state.get("delivered_seq", 0)):
            await self._save_state(delivered_seq=events[-1].seq)

    async def _deliver_one(self, event: Event) -> None:
        retry = self.maybe_sent == event.seq
        before = dict(self.state)
        try:
            self.requests += 1
            async with self.service.pollers.slots:
                if event.kind == model.ATTACHMENT:
                    file_id = event.data["file"]["id"]
                    found = await self.service.files.find(self.chat.id, file_id)
                    if found is None:
                        # Never past a file that cannot be read (a shared directory not mounted yet,
                        # a database hiccup): retried with backoff like a contact center's failure.
                        raise BackendUnavailable(f"cannot read attachment {file_id} from the file store")
                    await self.adapter.send_attachment(self.chat, event, await read_all(found[0]))
                else:
                    await self.adapter.send_message(self.chat, event, retry=retry)
        except BackendUnavailable as error:
            if error.ambiguous:
                self.maybe_sent = event.seq
            self.undelivered_pending = True
            if self.state != before:  # ids the contact center gave before it failed: keep them
                await self._save_state()
            raise
        except BackendRefused as error:
            log.warning("chat %s: message %s refused for good: %s", self.chat.id, event.seq, error.detail)
            client_id = event.data.get("id", "")
            # Kept, so that a visitor who was away when it happened learns it when they come back.
            undelivered = [*self.state.get("undelivered", []), client_id][-20:]
            await self._save_state(undelivered=undelivered)
            await self.service.not_delivered(self.chat.id, client_id)
            return
        self.maybe_sent = None
        self.state["delivered_count"] = int(self.state.get("delivered_count", 0)) + 1

    async def _save_state(self, **changes: Any) -> None:
        state = {**self.state, **changes}
        await self.service.store.update_chat(self.chat.id, {"backend_state": state}, fence=self.fence)
        self.chat = replace(self.chat, backend_state=state)

    # --- polling --------------------------------------------------------------------------------------

    async def _last_poll(self) -> None:
        """A chat refused as gone may still show what ended it: a send to a GWS chat the agent has just
        left fails before the poll that would have shown the agent leaving. Read it once more, so the
        visitor sees who left and what they said last; if that fails too, the chat ends without it."""
        if not self.adapter.polls:
            return
        try:
            await self._poll()
        except (BackendUnavailable, BackendRefused, ChatGone) as error:
            log.info("chat %s: no last poll (%s)", self.chat.id, error.detail)

    async def _poll(self) -> None:
        self.requests += 1
        started = self.loop.time()
        lag = started - self.next_poll
        metrics.POLL_LAG_SECONDS.observe(max(lag, 0.0))
        async with self.service.pollers.slots:
            try:
                polled = await self.adapter.poll(self.chat)
            except Exception as error:
                metrics.POLLS.labels(self.adapter.name, _outcome(error)).inc()
                raise
        metrics.POLLS.labels(self.adapter.name, "ok").inc()
        now = self.loop.time()
        for name, active in polled.typing:
            self.agent_typing = active
            await self.service.backend_typing(self.chat, name, active)
        if polled.queue_position is not None:
            await self.service.backend_queue(self.chat, polled.queue_position)
        if polled.events:
            self.agent_typing = False  # a message ends the typing it followed
        if polled.lively:
            self.last_activity = now
        await self._record(polled)
        recorded = self.loop.time()
        if polled.events:
            metrics.POLL_DELIVERY_SECONDS.observe(recorded - now)
        self.service.pollers.measure(lag, now - started, recorded - now)
        agent_present = bool(self.state.get("agents"))
        self.next_poll = now + next_interval(
            self.settings,
            agent_present=agent_present,
            agent_typing=self.agent_typing,
            quiet_for=now - self.last_activity,
        )

    async def _record(self, polled: Polled) -> None:
        state = {**self.state, **polled.cursor}
        events = list(polled.events)
        if polled.ended:
            events.append(model.state(ENDED))
        if not events:
            if state != self.state:
                await self._save_state(**polled.cursor)
            return
        changes: dict[str, Any] = {"backend_state": state}
        states = [e.data["state"] for e in events if e.kind == model.STATE]
        if states:
            changes["state"] = states[-1]
            if states[-1] == ENDED:
                changes["ended_at"] = model.now_ms()
        try:
            await self.service.append(
                self.chat.id, events, changes=changes, require_states=OPEN_STATES, fence=self.fence
            )
        except WrongState:
            self.finishing = True  # ended here meanwhile: what came back no longer matters
            return
        self.chat = replace(self.chat, backend_state=state)
        if polled.ended:
            self.finishing = True

    # --- the end --------------------------------------------------------------------------------------

    async def _tell_contact_center_it_ended(self) -> None:
        try:
            self.requests += 1
            async with self.service.pollers.slots:
                await self.adapter.end(self.chat)
        except (BackendUnavailable, BackendRefused, ChatGone) as error:
            log.info("chat %s: could not tell the contact center it ended: %s", self.chat.id, error.detail)

    async def _unsubscribe_once(self) -> None:
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            await unsubscribe()


def _outcome(error: Exception) -> str:
    """A failed poll's outcome, for the metrics: unavailable (may pass), refused, gone, or error (ours)."""
    if isinstance(error, BackendUnavailable):
        return "unavailable"
    if isinstance(error, BackendRefused):
        return "refused"
    if isinstance(error, ChatGone):
        return "gone"
    return "error"


class Pollers:
    """The pollers of this process, one per chat whose lease this process holds, and how well they keep
    up."""

    def __init__(
        self, service: PollerHost, settings: PollSettings, leases: PollerLeases | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self.leases: PollerLeases = leases or MemoryLeases(ttl=settings.lease_ttl)
        self._pollers: dict[str, Poller] = {}
        self._starting: set[str] = set()  # acquiring a lease: a second ensure of the chat meanwhile waits not
        self._keeper: asyncio.Task[None] | None = None
        # The last polls: how late each started, how long its request took, how long storing took.
        self._timings: deque[tuple[float, float, float]] = deque(maxlen=20_000)
        #: Requests in flight to contact centers, from all the process's chats (PollSettings).
        self.slots = asyncio.Semaphore(settings.max_in_flight)

    def measure(self, lag: float, request: float, record: float) -> None:
        self._timings.append((lag, request, record))

    def stats(self) -> dict[str, Any]:
        """Percentiles of the recent polls, for operators (the admin API) and benchmarks."""
        timings = list(self._timings)

        def percentiles(values: list[float]) -> dict[str, float]:
            if not values:
                return {}
            ordered = sorted(values)

            def pick(p: float) -> float:
                return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 4)

            return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 4)}

        return {
            "pollers": len(self._pollers),
            "recent_polls": len(timings),
            "lag_s": percentiles([t[0] for t in timings]),
            "request_s": percentiles([t[1] for t in timings]),
            "record_s": percentiles([t[2] for t in timings]),
        }

    def get(self, chat_id: str) -> Poller | None:
        return self._pollers.get(chat_id)

    def running(self, chat_id: str) -> bool:
        """Whether this process polls the chat, or is about to."""
        return chat_id in self._pollers or chat_id in self._starting

    async def ensure(self, chat: Chat, adapter: Adapter) -> None:
        """Start the chat's poller here if no process polls it (this one included). Failing to (Redis or
        the database away) is logged and left to the next sweep: the chat itself is fine."""
        if self.running(chat.id) or chat.state == ENDED or not (adapter.polls or adapter.delivers):
            return
        self._starting.add(chat.id)
        try:
            await self._start(chat, adapter)
        except Exception as error:
            log.warning(
                "chat %s: its poller could not start here (%s); the next sweep retries", chat.id, error
            )
        finally:
            self._starting.discard(chat.id)

    async def _start(self, chat: Chat, adapter: Adapter) -> None:
        acquired_at = asyncio.get_running_loop().time()
        fence = await self.leases.acquire(chat.id)
        if fence is None:
            return  # another process polls it
        try:
            fence = await self._claim(chat.id, fence)
            # Read after the claim: whatever an earlier owner wrote before it is in, nothing after it can be.
            fresh = await self.service.store.get_chat(chat.id) if fence is not None else None
        except BaseException:
            await self._release(chat.id)
            raise
        if fresh is None or fresh.state == ENDED or fresh.deleted_at is not None:
            await self._release(chat.id)
            return
        online = await self.service.presence.visitor_online(chat.id)
        poller = self._pollers[chat.id] = Poller(
            fresh, self.service, adapter, self.settings, fence=fence, visitor_online=online
        )
        poller.lease_until = acquired_at + self.leases.ttl
        if self._keeper is None:
            self._keeper = asyncio.ensure_future(self._keep_leases())
        await poller.start()

    async def _claim(self, chat_id: str, fence: int) -> int | None:
        """Make the fence the chat's in the store before reading its state; the fence to use, or None."""
        try:
            await self.service.store.update_chat(chat_id, {}, fence=fence)
        except Fenced as stale:
            # We hold the lease, yet the store saw a newer number: the numbers restarted (a Redis that lost
            # its keys, an in-process table after a restart). Continue above the store's.
            log.info("chat %s: fencing numbers restarted below the store's %s", chat_id, stale.current)
            higher = await self.leases.acquire(chat_id, above=stale.current)
            if higher is None:
                return None
            await self.service.store.update_chat(chat_id, {}, fence=higher)
            return higher
        return fence

    async def _release(self, chat_id: str) -> None:
        try:
            await self.leases.release(chat_id)
        except LeaseError as error:  # it expires by itself
            log.info("chat %s: its lease could not be released: %s", chat_id, error)

    async def _keep_leases(self) -> None:
        """Renew this process's leases every quarter of their TTL, in one request for all of them. A poller
        whose lease was lost stops at once; one whose lease could not be confirmed stops a period before
        it may expire (Redis unreachable), so that it is gone before another process can adopt the chat."""
        loop = asyncio.get_running_loop()
        period = self.leases.ttl / 4
        while True:
            await asyncio.sleep(period)
            pollers = list(self._pollers.values())
            if not pollers:
                continue
            sent = loop.time()
            deadline = min(poller.lease_until for poller in pollers) - period
            ours: set[str] | None = None
            try:
                async with asyncio.timeout_at(max(deadline, sent + 0.01)):
                    ours = await self.leases.renew([poller.chat.id for poller in pollers])
            except (LeaseError, TimeoutError) as error:
                log.warning("the pollers' leases could not be renewed: %s", str(error) or "no answer in time")
            stopping = []
            for poller in pollers:
                if ours is not None and poller.chat.id in ours:
                    poller.lease_until = sent + self.leases.ttl
                elif ours is not None:
                    log.info("chat %s: the lease went to another process; this poller stops", poller.chat.id)
                    stopping.append(poller)
                elif poller.lease_until - period <= loop.time():
                    log.warning(
                        "chat %s: the lease could not be confirmed; this poller stops", poller.chat.id
                    )
                    stopping.append(poller)
            await asyncio.gather(*(poller.stop() for poller in stopping))

    async def finished(self, poller: Poller) -> None:
        if self._pollers.get(poller.chat.id) is poller:
            del self._pollers[poller.chat.id]
            # Owner-checked: a lease already lost stays the new owner's.
            await self._release(poller.chat.id)

    def each(self, fn: Callable[[Poller], None]) -> None:
        for poller in list(self._pollers.values()):
            fn(poller)

    def __len__(self) -> int:
        return len(self._pollers)

    async def close(self) -> None:
        """Stop every poller, giving its lease back: another process adopts the chat at its next sweep."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        await asyncio.gather(*(poller.stop() for poller in list(self._pollers.values())))
        self._pollers.clear()
