"""Business hours: whether a site answers live now, and when it opens next. Pure: the time is passed in.

A site's ``[sites.ID.hours]`` table names a time zone, the opening hours of each weekday, and holidays:

    [sites.acme.hours]
    timezone = "Europe/Berlin"
    monday = ["09:00-12:30", "13:30-17:00"]
    saturday = []                       # closed (so is any day not named)
    holidays = ["2026-12-25", "2026-12-26"]

Without an ``hours`` table a site is always open. Times are local wall-clock times in the site's zone,
so opening hours follow daylight-saving changes; "24:00" closes at midnight.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class HoursError(ValueError):
    """A problem in an hours table: ``where`` the key, the message the problem."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    #: Per weekday (0 = Monday), the open intervals as minutes since midnight, [start, end).
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_table(cls, table: Any) -> BusinessHours:
        if not isinstance(table, dict):
            raise HoursError("", "must be a table")
        unknown = set(table) - {"timezone", "holidays", *DAYS}
        if unknown:
            raise HoursError(
                sorted(unknown)[0], f"unknown key (known: timezone, holidays, {', '.join(DAYS)})"
            )
        zone_name = table.get("timezone")
        if not isinstance(zone_name, str):
            raise HoursError("timezone", "is required: an IANA time zone such as 'Europe/Berlin'")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError("timezone", f"{zone_name!r} is not a known time zone") from None
        week = []
        for day in DAYS:
            ranges = table.get(day, [])
            if not isinstance(ranges, list):
                raise HoursError(day, 'must be a list of ranges like "09:00-17:00"')
            intervals = []
            for index, text in enumerate(ranges):
                match = _RANGE.match(text) if isinstance(text, str) else None
                if not match:
                    raise HoursError(f"{day}[{index}]", f'{text!r} is not a range like "09:00-17:00"')
                start = int(match[1]) * 60 + int(match[2])
                end = int(match[3]) * 60 + int(match[4])
                if end > 24 * 60 or end <= start:
                    raise HoursError(f"{day}[{index}]", f"{text!r} must end after it starts, by 24:00")
                intervals.append((start, end))
            intervals.sort()
            for (_, first_end), (second_start, _) in itertools.pairwise(intervals):
                if second_start < first_end:
                    raise HoursError(day, "ranges overlap")
            week.append(tuple(intervals))
        holidays = table.get("holidays", [])
        if not isinstance(holidays, list):
            raise HoursError("holidays", 'must be a list of dates like "2026-12-25"')
        days = set()
        for index, text in enumerate(holidays):
            try:
                days.add(date.fromisoformat(text) if isinstance(text, str) else date.fromisoformat(""))
            except ValueError:
                raise HoursError(f"holidays[{index}]", f'{text!r} is not a date like "2026-12-25"') from None
        return cls(zone, tuple(week), frozenset(days))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def next_opening(self, at: datetime) -> datetime | None:
        """When it is open next (``at`` itself if open now), in UTC; None if never within a year."""
        if self.is_open(at):
            return at.astimezone(UTC)
        local = at.astimezone(self.zone)
        for offset in range(366):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _ in self.week[day.weekday()]:
                opening = datetime.combine(day, time(start // 60, start % 60), self.zone)
                if opening > at:
                    return opening.astimezone(UTC)
        return None
