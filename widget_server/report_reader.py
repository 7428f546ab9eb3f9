"""Reads the chats a report covers from the store and hands them to the report's pure core
(widget_server/reports.py), a page at a time.

Only what the store already offers the history API: ``find_chat_keys`` (the chats started in the range,
deleted ones left out, newest first, keyset-paged), ``get_chats`` and ``events_of_chats`` limited to the
kinds the figures need (messages and joins). A page of ``PAGE`` chats is read, added up and dropped
before the next: a year of 100,000 chats never holds more than one page's events, and each read is short,
so that on SQLite (one reading thread) visitors' and agents' reads pass between a report's pages.
Events are read only for the chats a filter keeps, and never for offline messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from widget_server import model
from widget_server.config import Site
from widget_server.reports import EVENT_KINDS, ReportBuilder, ReportQuery
from widget_server.store import Store
from widget_server.teams import Team

#: Chats per read: the SQLite store's own chunk for ``IN (...)`` lists.
PAGE = 500


async def read_report(
    store: Store,
    query: ReportQuery,
    *,
    names: Mapping[str, str] | None = None,
    sites: Iterable[Site] = (),
    page: int = PAGE,
) -> dict[str, Any]:
    """The report of ``query`` (``ReportBuilder.report``); ``names`` as in ``ReportBuilder``; ``sites``
    for their teams (a chat that names no team of its own is its site's team's)."""
    builder = ReportBuilder(query, names, {site.id: site.team for site in sites})
    start, end = query.span()
    before: tuple[int, str] | None = None
    while True:
        # The range's end moves down to the last page's oldest chat (and ``before`` drops the ties with
        # it): with ``before`` alone, each page's read began at the range's end, and a year's pages cost
        # the square of their number (1.3 s of the keys' reads over 100,000 chats in SQLite, 0.4 s with this).
        keys = await store.find_chat_keys(created=(start, end), before=before, limit=page)
        if not keys:
            break
        found = await store.get_chats([chat_id for _, chat_id in keys])
        chats = [found[chat_id] for _, chat_id in keys if chat_id in found]
        chats = [chat for chat in chats if query.may_include(chat)]
        wanted = [chat.id for chat in chats if chat.type != model.OFFLINE_MESSAGE]
        events = await store.events_of_chats(wanted, kinds=EVENT_KINDS) if wanted else {}
        for chat in chats:
            builder.add(chat, events.get(chat.id, ()))
        if len(keys) < page:
            break
        before = keys[-1]
        end = before[0] + 1
    return builder.report()


async def group_names(
    store: Store, sites: Iterable[Site], group_by: str | None, teams: Iterable[Team] = ()
) -> dict[str, str]:
    """The display names of a grouping's keys: sites' names; the names of the people who log in (an agent
    of another contact center is known by the name it gave, which is the key itself); teams' names."""
    if group_by == "team":
        return {team.id: team.name for team in teams}
    if group_by == "site":
        return {site.id: site.name for site in sites}
    if group_by == "agent":
        return {user.name: user.display_name for user in await store.list_users()}
    return {}
