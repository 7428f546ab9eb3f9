"""Reports: what the support team did, day by day, over a range of days. Pure: chats and their events come
in (``ReportBuilder.add``), figures go out (``ReportBuilder.report``); widget_server/report_reader.py
reads the chats from the store, and docs/reports.md tells operators the same definitions as here.

What counts where:

- A chat counts on the day it **started**, in the report's time zone (UTC unless the query names one),
  whatever day it ended; the range is whole days, ``first`` to ``last`` included. Deleted chats are not
  read (the reader's query leaves them out).
- ``chats``: live chats started (type ``"chat"``). ``offline_messages``: messages left while nobody could
  answer (type ``"offline_msg"``); never in ``chats``, and without times, agent or rating.
- ``answered``: chats with at least one agent message. ``missed``: chats that **ended** without any agent
  message (an agent who accepted and never wrote did not answer: the visitor got no reply).
  ``open``: chats not ended yet, answered or not. So ``answered + missed`` + (open and unanswered) =
  ``chats``. The history API's ``missed`` (Zendesk's) differs: there an agent joining is enough.
  Offline messages are the other way a visitor found nobody: they are counted apart, never in ``missed``.
- ``first_response``: from the chat's start to the first agent message, over the answered chats. A chat
  still waiting for its first answer is in no figure of it until answered (its wait is not known yet).
  Measured from the start, not from the visitor's first message: the visitor asks at ``start`` (its
  subject) and waits from then. (The history API's ``response_time`` measures from visitor messages.)
- ``resolution``: from the chat's start to its end, over the chats that ended, missed ones included
  (they were resolved, badly). A chat still open is in no figure of it.
- Both times: ``count`` of chats measured, ``median_s`` and ``p90_s`` in seconds (to the millisecond),
  ``null`` with no chat measured. Percentiles interpolate linearly between the two nearest ranks
  (``percentile``): the median of an even count is the mean of the middle two, as people expect. A
  range's or a group's percentile is computed over its chats, never averaged from days.
- ``ratings``: the chats' current ratings (``good``, ``bad``; the visitor may change theirs, the history
  API may edit it), counted on the chat's start day.
- Agent: the chat's agent in the built-in contact center (their login name, ``Chat.agent``); for a chat
  on another contact center, which names its agents only, the name of the first agent who wrote, else
  of the first who joined. A chat counts for one agent. A chat with no agent (missed before anyone
  accepted, an offline message) has none: ``agent`` filters leave it out, ``group_by=agent`` puts it in
  a group whose ``key`` is ``null``.

Edge cases: no chat at all gives zeros and ``null`` times, every day of the range listed (charts need
the empty days); a time below zero (clocks of another contact center) counts as zero.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from widget_server import model
from widget_server.model import Chat, Event
from widget_server.protocol import RATINGS

#: The longest range a report covers, in days (a leap year).
MAX_DAYS = 366
#: The range when none is given: the last 30 days, today included.
DEFAULT_DAYS = 30
#: What a filter value may be at most (a site id is 63 characters, a name 64).
MAX_FILTER = 200
#: The events the figures need: messages (the first answer), joins (the name of a contact center's agent).
EVENT_KINDS = (model.MESSAGE, model.JOINED)

#: The dates a query may name: no chat is older than 1970, and the day after the last must exist.
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The value below which ``fraction`` (0 to 1) of the values lie, interpolated linearly between the
    two nearest ranks: the "inclusive" method of ``statistics.quantiles``, numpy's default, Excel's
    PERCENTILE.INC. ``percentile(v, 0.5)`` is the median. None for no values. (``statistics.quantiles``
    itself refuses a single value before Python 3.13.)"""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the query ------------------------------------------------------------------------------------------


class QueryError(ValueError):
    """A report query that cannot be answered: ``code`` for machines, ``message`` for people, ``field``
    the parameter at fault."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ReportQuery:
    """Which chats a report covers (started from ``first`` to ``last``, whole days in ``zone``, of one
    site and one agent if given) and how it breaks them down (``group_by``, a key of ``GROUPINGS``)."""

    first: date
    last: date
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    site: str | None = None
    agent: str | None = None
    group_by: str | None = None

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def span(self) -> tuple[int, int]:
        """``[start, end)`` in epoch ms: from the first day's midnight to the midnight after the last."""
        return _midnight(self.first, self.zone), _midnight(self.last + timedelta(days=1), self.zone)

    def may_include(self, chat: Chat) -> bool:
        """False for a chat the filters surely leave out, decided from the chat alone (before its events
        are read); ``ReportBuilder.add`` decides the rest."""
        if self.site is not None and chat.site != self.site:
            return False
        if self.agent is not None:
            return chat.type != model.OFFLINE_MESSAGE and chat.agent in (None, self.agent)
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "tz": self.zone.key,
            "site": self.site,
            "agent": self.agent,
            "group_by": self.group_by,
        }


def _midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(), zone).timestamp() * 1000)


def parse_query(params: Mapping[str, str], *, now: int) -> ReportQuery:
    """A query from request parameters (``from``, ``to``: ``YYYY-MM-DD``; ``tz``: an IANA time zone;
    ``site``, ``agent``, ``group_by``), with the defaults: ``to`` today and ``from`` ``DEFAULT_DAYS`` days
    up to ``to``, in ``tz`` (UTC) at ``now`` (epoch ms). Empty parameters count as absent (a form's
    untouched fields). Raises ``QueryError``."""

    def given(name: str) -> str | None:
        value = params.get(name)
        return value.strip() if value is not None and value.strip() else None

    zone_name = given("tz") or "UTC"
    # Looked up in the list, not tried: ZoneInfo() would read whatever file a name leads to.
    if zone_name not in _zone_names():
        message = f"'tz' must be an IANA time zone such as Europe/Berlin, not {zone_name!r}."
        raise QueryError("invalid_timezone", message, "tz")
    zone = ZoneInfo(zone_name)
    today = datetime.fromtimestamp(now / 1000, zone).date()
    last = _date(given("to"), "to") or today
    first = _date(given("from"), "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise QueryError("invalid_range", "'to' must not be before 'from'.", "to")
    if (last - first).days + 1 > MAX_DAYS:
        raise QueryError("invalid_range", f"A report covers at most {MAX_DAYS} days.", "to")
    group_by = given("group_by")
    if group_by is not None and group_by not in GROUPINGS:
        message = f"'group_by' must be one of {', '.join(GROUPINGS)}, not {group_by!r}."
        raise QueryError("invalid_group_by", message, "group_by")
    filters: dict[str, str | None] = {}
    for name in ("site", "agent"):
        value = given(name)
        if value is not None and len(value) > MAX_FILTER:
            raise QueryError("invalid_filter", f"'{name}' is at most {MAX_FILTER} characters.", name)
        filters[name] = value
    return ReportQuery(first, last, zone, filters["site"], filters["agent"], group_by)


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise QueryError(
            "invalid_date", f"'{name}' must be a date written YYYY-MM-DD, not {text!r}.", name
        ) from None
    if not EARLIEST <= day <= LATEST:
        raise QueryError("invalid_date", f"'{name}' must be from {EARLIEST} to {LATEST}.", name)
    return day


# --- one chat -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatFacts:
    """What the figures need of one chat (see the module doc for each)."""

    site: str
    day: date
    offline: bool
    agent: str | None = None
    agent_name: str | None = None
    #: The team that answers the chat: its own (a transfer or the visitor's choice), else its site's.
    team: str | None = None
    ended: bool = False
    #: Milliseconds from the start to the first agent message; None when no agent wrote.
    first_response: int | None = None
    #: Milliseconds from the start to the end; None while open.
    resolution: int | None = None
    rating: str | None = None


def facts_of(chat: Chat, events: Iterable[Event], zone: ZoneInfo, site_team: str | None = None) -> ChatFacts:
    """``events``: the chat's log in ``seq`` order; only ``EVENT_KINDS`` are looked at. ``site_team``:
    the team of the chat's site (the site's ``team`` setting), for a chat that names none itself."""
    day = datetime.fromtimestamp(chat.created_at / 1000, zone).date()
    team = chat.team_of(site_team)
    if chat.type == model.OFFLINE_MESSAGE:
        return ChatFacts(chat.site, day, offline=True, team=team, ended=True)
    first_answer: int | None = None
    first_writer: str | None = None
    first_joined: str | None = None
    for event in events:
        if event.kind == model.MESSAGE and event.data.get("from") == model.AGENT:
            first_answer, first_writer = event.at, str(event.data.get("name") or "") or None
            break
        if event.kind == model.JOINED and first_joined is None:
            first_joined = str(event.data.get("name") or "") or None
    agent: str | None = chat.agent
    agent_name = chat.agent_name or chat.agent
    if agent is None:
        agent = agent_name = first_writer or first_joined
    rating = chat.meta.get("rating")
    return ChatFacts(
        site=chat.site,
        day=day,
        offline=False,
        team=team,
        agent=agent,
        agent_name=agent_name,
        ended=chat.ended_at is not None or chat.state == model.ENDED,
        first_response=max(0, first_answer - chat.created_at) if first_answer is not None else None,
        resolution=max(0, chat.ended_at - chat.created_at) if chat.ended_at is not None else None,
        rating=rating if rating in RATINGS else None,
    )


# --- adding up ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """The figures of some chats: counts, and every time measured (for exact percentiles)."""

    chats: int = 0
    answered: int = 0
    missed: int = 0
    open: int = 0
    offline_messages: int = 0
    first_response: list[int] = field(default_factory=list)
    resolution: list[int] = field(default_factory=list)
    ratings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    def add(self, facts: ChatFacts) -> None:
        if facts.offline:
            self.offline_messages += 1
            return
        self.chats += 1
        if facts.first_response is not None:
            self.answered += 1
            self.first_response.append(facts.first_response)
        elif facts.ended:
            self.missed += 1
        if not facts.ended:
            self.open += 1
        if facts.resolution is not None:
            self.resolution.append(facts.resolution)
        if facts.rating is not None:
            self.ratings[facts.rating] += 1

    def merge(self, other: Tally) -> None:
        self.chats += other.chats
        self.answered += other.answered
        self.missed += other.missed
        self.open += other.open
        self.offline_messages += other.offline_messages
        self.first_response.extend(other.first_response)
        self.resolution.extend(other.resolution)
        for rating, count in other.ratings.items():
            self.ratings[rating] += count

    def to_json(self) -> dict[str, Any]:
        return {
            "chats": self.chats,
            "answered": self.answered,
            "missed": self.missed,
            "open": self.open,
            "offline_messages": self.offline_messages,
            "first_response": _times(self.first_response),
            "resolution": _times(self.resolution),
            "ratings": dict(self.ratings),
        }


def _times(values: list[int]) -> dict[str, Any]:
    def seconds(ms: float | None) -> float | None:
        return None if ms is None else round(ms / 1000, 3)

    return {
        "count": len(values),
        "median_s": seconds(percentile(values, 0.5)),
        "p90_s": seconds(percentile(values, 0.9)),
    }


#: How a report may break its figures down: each grouping's key of a chat.
GROUPINGS: dict[str, Callable[[ChatFacts], str | None]] = {
    "site": lambda facts: facts.site,
    "agent": lambda facts: facts.agent,
    "team": lambda facts: facts.team,
}


class ReportBuilder:
    """Adds up chats, in any order, one at a time (the reader feeds it a page of the store at a time, so a
    long range never holds every chat's events at once; what it keeps per chat is its two times).

    ``names``: the display names of the grouping's keys (sites' names); agents' names default to those
    their chats recorded. ``site_teams``: each site's team, for the chats that name none themselves."""

    def __init__(
        self,
        query: ReportQuery,
        names: Mapping[str, str] | None = None,
        site_teams: Mapping[str, str | None] | None = None,
    ) -> None:
        self.query = query
        self.names = dict(names or {})
        self.site_teams = dict(site_teams or {})
        self._days: dict[date, Tally] = {}
        self._groups: dict[str | None, dict[date, Tally]] = {}
        self._seen_names: dict[str, str] = {}

    def add(self, chat: Chat, events: Iterable[Event]) -> None:
        """One chat and its events (``EVENT_KINDS`` suffice); a chat the query leaves out is ignored."""
        query = self.query
        if not query.may_include(chat):
            return
        facts = facts_of(chat, events, query.zone, self.site_teams.get(chat.site))
        if not query.first <= facts.day <= query.last:
            return
        if query.agent is not None and facts.agent != query.agent:
            return
        self._days.setdefault(facts.day, Tally()).add(facts)
        if query.group_by is not None:
            key = GROUPINGS[query.group_by](facts)
            self._groups.setdefault(key, {}).setdefault(facts.day, Tally()).add(facts)
            if query.group_by == "agent" and facts.agent is not None and facts.agent_name:
                self._seen_names.setdefault(facts.agent, facts.agent_name)

    def report(self) -> dict[str, Any]:
        """The report as the admin API answers it (docs/reports.md): the query, the range's totals, each
        day's figures, and each group's when grouped (most chats first, the group of no agent last)."""
        groups = []
        for key, days in self._groups.items():
            total = _sum(days.values())
            groups.append((key, self._name(key), total, days))
        # Most chats first, by name among equals; the chats of no agent last, whatever their number.
        groups.sort(key=lambda g: (g[0] is None, -(g[2].chats + g[2].offline_messages), g[1].casefold()))
        return {
            **self.query.to_json(),
            "totals": _sum(self._days.values()).to_json(),
            "days": self._day_list(self._days),
            "groups": [
                {"key": key, "name": name, "totals": total.to_json(), "days": self._day_list(days)}
                for key, name, total, days in groups
            ],
        }

    def _name(self, key: str | None) -> str:
        if key is None:
            return {"agent": "No agent", "team": "No team"}.get(self.query.group_by or "", "None")
        return self.names.get(key) or self._seen_names.get(key) or key

    def _day_list(self, days: Mapping[date, Tally]) -> list[dict[str, Any]]:
        return [{"date": day.isoformat(), **days.get(day, Tally()).to_json()} for day in self.query.days()]


def _sum(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total
