"""Finding chats for the history API, over the store: List Chats' pages and Search Chats' results.

Both give chats newest first (by start time, then id), deleted ones left out.

List Chats pages with a cursor rather than page numbers, so that chats starting while a script pages
through the list neither shift nor repeat what it sees. A page holds ``limit`` chats (1 to ``MAX_LIMIT``,
``DEFAULT_LIMIT`` when not given). ``next_url`` continues with older chats, ``prev_url`` with newer ones;
each is null when there is nothing that way (a page reached through ``next_url`` has a ``prev_url``).
A page also stops before its JSON passes ``PAGE_BYTES`` (4 MiB; one chat at least), so that a page of
long transcripts neither fills the server's memory nor the client's: its cursor goes on from the last
chat it holds. The cursor is opaque: ``o.`` or ``n.`` (older or newer than) and the key of the chat
where the last page ended, base64url-encoded; only links the server made are accepted.

Search Chats pages by number, as documented (``page``, 40 a page, at most 250 pages). The query is
translated for the store: the time ranges, the chat type and the rating are exact conditions in SQL;
the visitor's email and the words are loose ones there (they keep every chat that may match), and the
chats they keep are decided by ``Query.matches`` here, in batches. ``count`` is the number of results,
at most ``MAX_RESULTS`` (10,000, the documented limit: narrow a search with a timestamp range to see more).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from widget_server.history import chat_object
from widget_server.history.errors import invalid
from widget_server.history.search import MAX_RESULTS, PAGE_SIZE, ExactTerm, Query, RangeTerm, WordsTerm
from widget_server.model import MESSAGE, Chat, Event
from widget_server.store import Store

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
PAGE_BYTES = 4 * 1024 * 1024  # a page of chats with long transcripts stops here (one chat at least)
READ_BATCH = 10  # transcripts read at once while a page is filled
BATCH = 500
CANDIDATES = 25_000
Key = tuple[int, str]
OLDER, NEWER = "o", "n"
_CURSOR = re.compile(r"([on])\.(-?\d{1,16})\.([A-Za-z0-9._:-]{1,128})")
_PLACES = {None: "any", "agent_names": "agents", "visitor_name": "visitor"}
_SEARCH_KINDS = (MESSAGE, "joined", "left")


# --- List Chats -----------------------------------------------------------------------------------------


def encode_cursor(direction: str, key: Key) -> str:
    raw = f"{direction}.{key[0]}.{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, Key]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise invalid(
            "cursor is not one this server made: follow next_url or prev_url as given, "
            "or start again without a cursor."
        )
    return match[1], (int(match[2]), match[3])


def page_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}.")
    return int(raw)


@dataclass
class ListPage:
    documents: list[bytes]  # each chat's JSON, as ``render`` made it, newest first
    older: str | None = None  # the cursor of next_url
    newer: str | None = None  # the cursor of prev_url


Render = Callable[[Chat, list[Event]], bytes]


async def list_page(store: Store, cursor: str | None, limit: int, render: Render) -> ListPage:
    """Up to ``limit`` chats after the cursor, and no more than fit in ``PAGE_BYTES`` of rendered JSON
    (always one at least): a page of long transcripts is shorter, and its cursor goes on from the last
    chat it holds. Transcripts are read ``READ_BATCH`` chats at a time, so a page never holds more than
    a page's worth of them."""
    direction, key = decode_cursor(cursor) if cursor is not None else (OLDER, None)
    if direction == OLDER:
        keys = await store.find_chat_keys(before=key, limit=limit + 1)
        more_older, keys = len(keys) > limit, keys[:limit]
        more_newer = (
            bool(keys) and key is not None and bool(await store.find_chat_keys(after=keys[0], limit=1))
        )
    else:
        keys = await store.find_chat_keys(after=key, limit=limit + 1)
        more_newer, keys = len(keys) > limit, keys[-limit:]
        more_older = bool(keys) and bool(await store.find_chat_keys(before=keys[-1], limit=1))
    # Fill the page from the cursor's side: going older from its start, going newer from its end.
    order = keys if direction == OLDER else keys[::-1]
    taken: list[tuple[Key, bytes]] = []
    size = 0
    for start in range(0, len(order), READ_BATCH):
        batch = order[start : start + READ_BATCH]
        ids = [chat_id for _, chat_id in batch]
        found = await store.get_chats(ids)
        events = await store.events_of_chats(ids)
        for batch_key in batch:
            chat = found.get(batch_key[1])
            if chat is None:
                continue
            document = render(chat, events.get(chat.id, []))
            if taken and size + len(document) > PAGE_BYTES:
                break
            taken.append((batch_key, document))
            size += len(document)
        else:
            continue
        if direction == OLDER:
            more_older = True
        else:
            more_newer = True
        break
    if direction == NEWER:
        taken.reverse()
    if not taken:
        return ListPage([])
    return ListPage(
        documents=[document for _, document in taken],
        older=encode_cursor(OLDER, taken[-1][0]) if more_older else None,
        newer=encode_cursor(NEWER, taken[0][0]) if more_newer else None,
    )


# --- Search Chats ---------------------------------------------------------------------------------------


def _ms_at_or_after(moment: datetime) -> int:
    """The first whole epoch millisecond at or after ``moment``: ``at >= moment`` for a time in ms is
    ``at_ms >= _ms_at_or_after(moment)``, and ``at < moment`` is ``at_ms < _ms_at_or_after(moment)``."""
    microseconds = (moment - chat_object.EPOCH) // timedelta(microseconds=1)
    return -(-microseconds // 1000)


def _narrow(current: tuple[int | None, int | None], term: RangeTerm) -> tuple[int | None, int | None]:
    start, end = current
    if term.start is not None:
        ms = _ms_at_or_after(term.start)
        start = ms if start is None else max(start, ms)
    if term.end is not None:
        ms = _ms_at_or_after(term.end)
        end = ms if end is None else min(end, ms)
    return start, end


@dataclass
class StoreFilter:
    """A query as ``Store.find_chat_keys`` takes it. ``exact``: the store's answer needs no checking;
    ``impossible``: the terms contradict each other (``rating:good AND rating:bad``)."""

    created: tuple[int | None, int | None] = (None, None)
    ended: tuple[int | None, int | None] | None = None
    types: tuple[str, ...] | None = None
    rating: str | None = None
    email: str | None = None
    words: list[tuple[str, str]] = field(default_factory=list)
    exact: bool = True
    impossible: bool = False
    needs_log: bool = False  # deciding needs the messages and agents' joins and leaves
    sites: Sequence[str] | None = None  # only these sites' chats (not in Zendesk's query language)


def store_filter(query: Query) -> StoreFilter:
    found = StoreFilter()
    exact_values: dict[str, str] = {}
    for term in query.terms:
        if isinstance(term, RangeTerm):
            if term.field == "timestamp":
                found.created = _narrow(found.created, term)
            else:
                found.ended = _narrow(found.ended or (None, None), term)
        elif isinstance(term, ExactTerm):
            if exact_values.setdefault(term.field, term.value) != term.value:
                found.impossible = True
            if term.field == "chat_type":
                found.types = (term.value,)
            elif term.field == "rating":
                found.rating = term.value
            else:
                found.email = term.value
                found.exact = False
        elif isinstance(term, WordsTerm):
            place = _PLACES[term.field]
            found.words.extend((place, word) for word in term.words)
            found.exact = False
            found.needs_log = found.needs_log or place != "visitor"
    for start, end in (found.created, found.ended or (None, None)):
        if start is not None and end is not None and start >= end:
            found.impossible = True
    return found


@dataclass
class SearchPage:
    chats: list[Chat]
    events: dict[str, list[Event]]  # the page's messages, for the previews
    count: int


async def search(store: Store, query: Query, page: int, sites: Sequence[str] | None = None) -> SearchPage:
    """One page of the chats that match, newest first; ``sites``, when given, keeps only those sites'
    chats (the console's search: its site filter, and the sites a person may see)."""
    where = store_filter(query)
    where.sites = sites
    if where.impossible:
        hits: list[Key] = []
    elif where.exact:
        hits = await _find(store, where, None, MAX_RESULTS)
    else:
        hits = await _matching(store, query, where)
    shown = [chat_id for _, chat_id in hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    found = await store.get_chats(shown)
    return SearchPage(
        chats=[found[chat_id] for chat_id in shown if chat_id in found],
        events=await store.events_of_chats(shown, kinds=(MESSAGE,)),
        count=len(hits),
    )


async def _find(store: Store, where: StoreFilter, before: Key | None, limit: int) -> list[Key]:
    return await store.find_chat_keys(
        created=where.created,
        ended=where.ended,
        types=where.types,
        rating=where.rating,
        email=where.email,
        words=where.words,
        sites=where.sites,
        before=before,
        limit=limit,
    )


async def _matching(store: Store, query: Query, where: StoreFilter) -> list[Key]:
    """The store's candidates, newest first, decided by the query a batch at a time, until ``MAX_RESULTS``
    are found or the candidates run out. Candidates are asked for many at a time: among many chats, the
    store finds words in one pass over all events, whatever the number asked for."""
    hits: list[Key] = []
    before: Key | None = None
    while len(hits) < MAX_RESULTS:
        candidates = await _find(store, where, before, CANDIDATES)
        for start in range(0, len(candidates), BATCH):
            keys = candidates[start : start + BATCH]
            ids = [chat_id for _, chat_id in keys]
            chats = await store.get_chats(ids)
            logs = await store.events_of_chats(ids, kinds=_SEARCH_KINDS) if where.needs_log else {}
            for key in keys:
                chat = chats.get(key[1])
                if chat is not None and query.matches(chat_object.search_doc(chat, logs.get(key[1], []))):
                    hits.append(key)
            if len(hits) >= MAX_RESULTS:
                break
        if len(candidates) < CANDIDATES:
            break
        before = candidates[-1]
    return hits[:MAX_RESULTS]
