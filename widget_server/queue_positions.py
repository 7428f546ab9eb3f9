"""Places in the built-in contact center's queue: which one a waiting chat has, and telling every waiting
visitor theirs when the queue moves.

Places are told, not stored: they change for everyone whenever anyone leaves the queue, and storing each
change would put a queue's length of events into every waiting chat's log.

Nor are they counted in the database. Each process keeps the order of every site queue it serves (a
sorted list of the waiting chats' keys: ``created_at``, then id, as the queue is served), read from the
store once and kept up to date from the site's queue channel: whoever puts a chat into the queue or takes
it out publishes its key, a burst in one message. A place is then a binary search, where counting the
chats ahead in the database's index took a scan of the queue for every start and resume, and listing the
queue to tell everyone their place at every move was most of the server's work with thousands waiting (the
soak in docs/performance.md). After a bus ``resync`` the list is read again.

Written by hand: the state is one sorted list per site, and no library keeps a queue's order in step
across processes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Awaitable, Callable

from widget_server.bus import Bus, Message
from widget_server.model import QUEUED, Chat
from widget_server.store import Store

log = logging.getLogger(__name__)

COALESCE = 0.2  # seconds: a burst of accepts is one message, and moves each visitor once
EXACT = 20  # places told exactly; behind these, a place is told again once it moved by a twentieth
FORGET_LEFT = 600.0  # seconds a leaver's key is remembered, in case its "entered" arrives after it

Key = tuple[int, str]  # (created_at, id): the queue's order


def queue_channel(site_id: str) -> str:
    return f"queue:{site_id}"


def key_of(chat: Chat) -> Key:
    return (chat.created_at, chat.id)


Tell = Callable[[int], None]


class SiteQueue:
    """One site's queue as this process knows it, and the waiting visitors connected here."""

    def __init__(self) -> None:
        self.keys: list[Key] = []  # sorted
        self.loaded = False
        self.early: list[Message] = []  # received while the list was being read: applied after it
        self.left: dict[Key, float] = {}  # recent leavers (monotonic time), so a late "entered" stays out
        self.watchers: dict[Watch, None] = {}  # insertion-ordered set
        self.unsubscribe: Callable[[], Awaitable[None]] | None = None
        self.loading: asyncio.Future[None] | None = None
        self.stale = False  # a resync came while the list was being read

    def place(self, key: Key) -> int:
        """1 for the first in the queue; a key not (yet) in the list gets the place it would take."""
        at = bisect.bisect_left(self.keys, key)
        return at + 1

    def enter(self, key: Key) -> bool:
        if key in self.left:
            return False
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            return False
        self.keys.insert(at, key)
        return True

    def leave(self, key: Key, now: float) -> bool:
        self.left[key] = now
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]
            return True
        return False

    def forget_old_leavers(self, now: float) -> None:
        if len(self.left) > 1000:
            self.left = {key: at for key, at in self.left.items() if now - at < FORGET_LEFT}


class QueuePlaces:
    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus
        self._sites: dict[str, SiteQueue] = {}
        self._outgoing: dict[str, tuple[list[Key], list[Key]]] = {}  # site -> (entered, left) to publish
        self._publishing: set[asyncio.Task[None]] = set()

    # --- what the chat service reports ------------------------------------------------------------------

    async def place_of_new(self, chat: Chat) -> int:
        """The place a new chat of the built-in contact center will take (for its first event)."""
        return (await self._loaded(chat.site)).place(key_of(chat))

    def entered(self, chat: Chat) -> None:
        """A new chat is stored and waits: everyone hears of it soon."""
        queue = self._sites.get(chat.site)
        if queue is not None and queue.loaded:
            # Nobody is told: a new chat is the newest, behind everyone (but for clocks of several
            # hosts that differ by a moment, which the next move mends).
            queue.enter(key_of(chat))
        self._publish_soon(chat.site, entered=key_of(chat))

    def left(self, chat: Chat) -> None:
        """The chat has left its site's queue (accepted, ended, abandoned): the others move up, told with
        the burst it belongs to (telling each waiting visitor at every accept of a burst would be a
        queue's length of frames per accept)."""
        queue = self._sites.get(chat.site)
        if queue is not None:
            queue.leave(key_of(chat), time.monotonic())
        self._publish_soon(chat.site, left=key_of(chat))

    # --- the visitors' side ----------------------------------------------------------------------------

    async def watch(self, chat: Chat, tell: Tell) -> Watch | None:
        """Tell the chat's visitor its place (1 is next) now and whenever it changes, until the chat leaves
        the queue or ``Watch.stop``. None when the chat is not waiting or its contact center gives no
        place (a polling contact center's places come with its poller, on the chat's channel)."""
        if chat.state != QUEUED:
            return None
        if chat.backend != "local":  # the last place its contact center gave, if it gives places
            position = chat.backend_state.get("queue_position")
            if isinstance(position, int):
                tell(position)
            return None
        queue = await self._loaded(chat.site)
        if key_of(chat) in queue.left:  # accepted or ended since the caller read it
            return None
        watch = Watch(queue, key_of(chat), tell)
        queue.watchers[watch] = None
        watch.tell_if_moved()
        return watch

    async def close(self) -> None:
        """Publish what has moved and is not told yet (a graceful shutdown), and stop listening."""
        for task in list(self._publishing):
            task.cancel()
        await asyncio.gather(*self._publishing, return_exceptions=True)
        for queue in self._sites.values():
            if queue.unsubscribe is not None:
                await queue.unsubscribe()

    # --- keeping each site's list ----------------------------------------------------------------------

    async def _loaded(self, site_id: str) -> SiteQueue:
        queue = self._sites.get(site_id)
        if queue is None:
            queue = self._sites[site_id] = SiteQueue()
        if not queue.loaded:
            if queue.loading is None:
                queue.loading = asyncio.ensure_future(self._load(site_id, queue))
            await asyncio.shield(queue.loading)
        return queue

    async def _load(self, site_id: str, queue: SiteQueue) -> None:
        """Listen first, then read the list: what moves meanwhile is applied after it (entering and
        leaving are idempotent, so a move the list already holds changes nothing)."""
        try:
            if queue.unsubscribe is None:
                queue.unsubscribe = await self.bus.subscribe(
                    queue_channel(site_id), lambda message: self._on_bus(site_id, queue, message)
                )
            queue.stale = True
            while queue.stale:  # a resync while reading: read again
                queue.stale, queue.early = False, []
                waiting = await self.store.list_chats(sites=[site_id], states=[QUEUED], limit=1_000_000)
            queue.keys = sorted(key_of(chat) for chat in waiting if chat.backend == "local")
            queue.loaded = True
            for message in queue.early:
                self._apply(queue, message)
            queue.early = []
            for watch in list(queue.watchers):
                watch.tell_if_moved()
        finally:
            queue.loading = None

    def _on_bus(self, site_id: str, queue: SiteQueue, message: Message) -> None:
        if message["t"] == "resync":  # moves may have been lost: read the list again
            queue.loaded, queue.stale = False, True
            if queue.loading is None:
                queue.loading = asyncio.ensure_future(self._reload(site_id, queue))
        elif not queue.loaded:
            if queue.loading is not None:  # else the next read holds it
                queue.early.append(message)
        else:
            self._apply(queue, message)

    async def _reload(self, site_id: str, queue: SiteQueue) -> None:
        try:
            await self._load(site_id, queue)
        except Exception as error:  # the store is down: places stay as they were until the next resync
            log.warning("site %s: cannot read its queue: %s", site_id, error)
            queue.loaded = True

    def _apply(self, queue: SiteQueue, message: Message) -> None:
        now = time.monotonic()
        left = {(raw[0], raw[1]) for raw in message.get("left", ())}
        moved = [key for key in left if queue.leave(key, now)]
        for raw in message.get("entered", ()):
            if queue.enter((raw[0], raw[1])):
                moved.append((raw[0], raw[1]))
        queue.forget_old_leavers(now)
        if moved or left:
            self._tell(queue, min(moved) if moved else None, left)

    def _tell(self, queue: SiteQueue, lowest: Key | None, left: set[Key]) -> None:
        """Tell the watchers behind ``lowest`` (the first key that changed) their new place; those whose
        chat left hear no more."""
        for watch in list(queue.watchers):
            if watch.key in left:
                watch.detach()
            elif lowest is not None and watch.key > lowest:
                watch.tell_if_moved()

    def _publish_soon(self, site_id: str, *, entered: Key | None = None, left: Key | None = None) -> None:
        pending = self._outgoing.get(site_id)
        if pending is None:
            pending = self._outgoing[site_id] = ([], [])
            task = asyncio.ensure_future(self._publish(site_id))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
        if entered is not None:
            pending[0].append(entered)
        if left is not None:
            pending[1].append(left)

    async def _publish(self, site_id: str) -> None:
        try:
            await asyncio.sleep(COALESCE)
        finally:  # on shutdown too: the others hear of the moves before this process goes
            entered, left = self._outgoing.pop(site_id, ([], []))
            queue = self._sites.get(site_id)
            if queue is not None and left:  # this process's visitors now, the others' when it arrives
                self._tell(queue, min(left), set(left))
            if entered or left:
                await self.bus.publish(
                    queue_channel(site_id), {"t": "queue", "entered": entered, "left": left}
                )


class Watch:
    """One waiting visitor connection's place."""

    __slots__ = ("_queue", "_tell", "_told", "key")  # one per waiting visitor: thousands

    def __init__(self, queue: SiteQueue, key: Key, tell: Tell) -> None:
        self._queue = queue
        self.key = key
        self._tell = tell
        self._told: int | None = None

    def tell_if_moved(self) -> None:
        """Tell the place if it changed: exactly near the front, and further back once it moved by a
        twentieth. Number 2,000 does not need to hear 1,999, 1,998, ... five times a second: with
        thousands waiting, that was tens of thousands of frames a second (the soak)."""
        place = self._queue.place(self.key)
        told = self._told
        if told is None or (place != told and (place <= EXACT or abs(told - place) * 20 >= told)):
            self._told = place
            self._tell(place)

    def detach(self) -> None:
        self._queue.watchers.pop(self, None)

    async def stop(self) -> None:
        self.detach()
