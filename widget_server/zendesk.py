"""Offline messages forwarded to Zendesk Chat (Zendesk Chat's REST API: ``POST /api/v2/chat/chats``, ``type:
offline_msg``, OAuth bearer token), through the durable outbox.

A message left while nobody could answer is stored first, as a chat of type ``offline_msg``, and in the
same transaction an outbox item holding the Zendesk request is queued. ``Forwarder`` sends due items:

- 201: done (Zendesk's id is kept);
- 429: again after ``Retry-After`` (Zendesk Chat allows 200 requests a minute);
- 5xx, network errors, timeouts: again with exponential backoff, for as long as it takes (hours);
- 401/403: the token is wrong: again slowly, loudly, so that fixing it sends everything queued;
- any other 4xx: refused for good (the request would fail unchanged); kept as ``failed`` with the reason.

Nothing is sent twice. Several server processes share the outbox: an item is claimed for a while
(``lease``) before it is sent, so one process sends it. A request that timed out, or whose process died
while sending, may have arrived: before sending it again, the forwarder searches Zendesk for an offline
message from the same visitor at the same time with the same text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from widget_server import model
from widget_server.adapters import AdapterContext
from widget_server.model import Chat, OutboxItem
from widget_server.store import Store

log = logging.getLogger(__name__)

TARGET = "zendesk"
BACKOFF_BASE_MS = 5_000
BACKOFF_MAX_MS = 30 * 60_000
AUTH_RETRY_MS = 10 * 60_000


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Written by hand: Zendesk wants only the browser's and the platform's names, for display; a full
# user-agent parser (and its regular-expression database) would be much more than these few rules.
_BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
_PLATFORMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Mac OS X", "Mac OS"),
    ("Windows", "Windows"),
    ("CrOS", "Chrome OS"),
    ("Linux", "Linux"),
]


def browser_and_platform(user_agent: str | None) -> tuple[str, str]:
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), "")
    platform = next((name for token, name in _PLATFORMS if token in ua), "")
    return browser, platform


def offline_message(chat: Chat, text: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/v2/chat/chats`` for an offline message, as Zendesk Chat documents it."""
    visitor = chat.visitor
    browser, platform = browser_and_platform(visitor.user_agent)
    session: dict[str, Any] = {
        "ip": visitor.ip or "",
        "user_agent": visitor.user_agent or "",
        "browser": browser,
        "platform": platform,
        "start_date": _iso(chat.created_at),
        "end_date": _iso(chat.ended_at or chat.created_at),
    }
    body: dict[str, Any] = {
        "type": model.OFFLINE_MESSAGE,
        "visitor": {"name": visitor.nickname, "email": visitor.email or ""},
        "message": text,
        "session": session,
        "timestamp": chat.created_at // 1000,
    }
    if settings.get("department_id") is not None:
        body["department_id"] = settings["department_id"]
    return body


def outbox_item(site_id: str, chat: Chat, text: str, settings: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=0,  # given by the store
        target=TARGET,
        site=site_id,
        chat_id=chat.id,
        payload=offline_message(chat, text, settings),
        created_at=chat.created_at,
        due_at=chat.created_at,
    )


CLOSE_GRACE = 10.0  # seconds a stopping process gives the Zendesk send in flight


class Forwarder:
    """Sends the outbox's Zendesk items; one per server process, sharing the work through leases."""

    def __init__(
        self, store: Store, settings_for: Any, context: AdapterContext, *, lease_ms: int = 120_000
    ) -> None:
        self.store = store
        self.settings_for = settings_for  # site id -> the site's [zendesk] settings, or None
        self.context = context
        self.lease_ms = lease_ms
        self.backoff_base_ms = BACKOFF_BASE_MS
        self.backoff_max_ms = BACKOFF_MAX_MS
        self.idle = 5.0  # seconds between looks when nothing is due sooner
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.owner = f"{os.getpid()}-{random.getrandbits(32):08x}"

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self._wake.set()

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Let the send in flight finish (within ``grace``) and give back the items claimed but not yet
        sent, so that another process sends them now rather than when this one's claim runs out."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()  # its item comes back ambiguous when the claim runs out: no double
                await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            wait = self.idle
            try:
                await self.send_due()
                due = await self.store.next_outbox_due()
                if due is not None:
                    wait = min(wait, max(0.0, (due - model.now_ms()) / 1000))
            except Exception:
                log.exception("the Zendesk outbox failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def send_due(self) -> int:
        """Send what is due now; return how many items were handled."""
        handled = 0
        for item in await self.store.claim_outbox(TARGET, model.now_ms(), self.lease_ms, self.owner):
            if self._stopping:
                await self.store.update_outbox(item.id, {"state": "pending"}, owner=self.owner)
                continue
            await self._send(item)
            handled += 1
        return handled

    async def _send(self, item: OutboxItem) -> None:
        settings = self.settings_for(item.site)
        if settings is None:
            await self._retry(item, AUTH_RETRY_MS, "the site has no [zendesk] settings (any more)")
            return
        token = os.environ.get(settings["token_env"], "")
        if not token:
            await self._retry(item, AUTH_RETRY_MS, f"${settings['token_env']} is not set")
            return
        base = settings["base_url"].rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=float(settings.get("timeout") or 15))
        session = self.context.http_session()
        try:
            if item.ambiguous:
                found = await self._find(session, base, headers, timeout, item.payload)
                if found is not None:
                    await self._done(item, found, "it had arrived before")
                    return
            async with session.post(
                f"{base}/api/v2/chat/chats",
                json=item.payload,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                text = await response.text()
                retry_after = response.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            await self._backoff(item, f"no answer ({error!r}); it may have arrived", ambiguous=True)
            return
        except aiohttp.ClientError as error:
            await self._backoff(item, f"cannot reach Zendesk ({error!r})")
            return
        if status == 201:
            await self._done(item, _id_of(text), "created")
        elif status == 429:
            seconds = _seconds(retry_after)
            await self._retry(
                item, int((seconds if seconds is not None else 60) * 1000), "rate limited (429)"
            )
        elif status in (401, 403):
            log.warning(
                "Zendesk refused the token for site %s (HTTP %s): fix %s",
                item.site,
                status,
                settings["token_env"],
            )
            await self._retry(item, AUTH_RETRY_MS, f"HTTP {status}: {text[:200]}")
        elif status >= 500 or status == 408:
            await self._backoff(item, f"HTTP {status}: {text[:200]}")
        else:
            log.error("Zendesk refused offline message %s for good: HTTP %s %s", item.id, status, text[:300])
            await self._finish(
                item,
                {"state": "failed", "last_error": f"HTTP {status}: {text[:500]}", "done_at": model.now_ms()},
            )

    async def _find(
        self,
        session: aiohttp.ClientSession,
        base: str,
        headers: dict[str, str],
        limits: aiohttp.ClientTimeout,
        payload: dict[str, Any],
    ) -> str | None:
        """The id of an offline message already at Zendesk that is this one, if any."""
        stamp = int(payload["timestamp"])
        start, end = _iso(stamp * 1000 - 60_000), _iso(stamp * 1000 + 60_000)
        query = f"type:offline_msg AND timestamp:[{start} TO {end}]"
        email = payload["visitor"].get("email")
        if email:
            query += f' AND visitor_email:"{email}"'
        async with session.get(
            f"{base}/api/v2/chat/chats/search?q={quote(query)}",
            headers=headers,
            timeout=limits,
            allow_redirects=False,
        ) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
            results = (await response.json()).get("results") or []
        for result in results:
            chat_id = str(result.get("id", ""))
            async with session.get(
                f"{base}/api/v2/chat/chats/{quote(chat_id, safe='')}", headers=headers, timeout=limits
            ) as response:
                if response.status == 200 and (await response.json()).get("message") == payload["message"]:
                    return chat_id
        return None

    async def _done(self, item: OutboxItem, remote_id: str | None, how: str) -> None:
        changes = {"state": "sent", "done_at": model.now_ms(), "remote_id": remote_id, "ambiguous": 0}
        if await self._finish(item, changes):
            log.info("offline message %s forwarded to Zendesk (%s): %s", item.chat_id, how, remote_id)

    async def _finish(self, item: OutboxItem, changes: dict[str, Any]) -> bool:
        """Record the outcome of a claimed item, unless our lease ran out and another process claimed it
        meanwhile: that one now owns the item (and checks Zendesk before sending it again), so ours is
        dropped."""
        if await self.store.update_outbox(item.id, changes, owner=self.owner):
            return True
        log.info(
            "offline message %s was claimed by another process meanwhile; leaving it to it", item.chat_id
        )
        return False

    async def _retry(self, item: OutboxItem, delay_ms: int, reason: str) -> None:
        await self._finish(
            item,
            {
                "state": "pending",
                "due_at": model.now_ms() + delay_ms,
                "last_error": reason,
                "attempts": item.attempts + 1,
            },
        )

    async def _backoff(self, item: OutboxItem, reason: str, *, ambiguous: bool = False) -> None:
        delay = min(self.backoff_max_ms, self.backoff_base_ms * 2 ** min(item.attempts, 20))
        delay = random.randint(delay // 2, delay)  # jitter: a recovering Zendesk is not hit by all at once
        log.info(
            "offline message %s not forwarded yet (%s); again in %d s", item.chat_id, reason, delay // 1000
        )
        changes: dict[str, Any] = {
            "state": "pending",
            "due_at": model.now_ms() + delay,
            "last_error": reason,
            "attempts": item.attempts + 1,
        }
        if ambiguous:
            changes["ambiguous"] = 1
        await self._finish(item, changes)


def _id_of(text: str) -> str | None:
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def _seconds(value: str | None) -> float | None:
    if value is None or not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return None
    return float(value)
