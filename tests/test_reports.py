"""Reports: the pure core (widget_server/reports.py) on hand-made chats, one figure and one edge case at a
time; the reader (widget_server/report_reader.py) on both stores; and the admin API's figures against what
really happened in chats between real visitors and a real agent."""

from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.support.clients import Agent, Server, Visitor, log_in
from widget_server import model
from widget_server.model import Chat, Event
from widget_server.report_reader import read_report
from widget_server.reports import (
    MAX_DAYS,
    QueryError,
    ReportBuilder,
    ReportQuery,
    parse_query,
    percentile,
)
from widget_server.store import Store, open_store

MIN = 60_000
DAY1 = date(2026, 4, 6)
DAY2 = date(2026, 4, 7)
UTC_ZONE = ZoneInfo("UTC")


def at(day: date, hour: int = 10, minute: int = 0, second: float = 0) -> int:
    """Epoch ms of a UTC wall-clock time."""
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return int(moment.timestamp() * 1000 + second * 1000)


def chat(
    chat_id: str,
    created: int,
    *,
    ended: int | None = None,
    site: str = "shop",
    agent: str | None = None,
    agent_name: str | None = None,
    rating: str | None = None,
    type: str = "chat",
    team: str | None = None,
) -> Chat:
    return Chat(
        id=chat_id,
        site=site,
        backend="local",
        state=model.ENDED if ended is not None else (model.ACTIVE if agent else model.QUEUED),
        visitor=model.Visitor("Ada"),
        created_at=created,
        ended_at=ended,
        agent=agent,
        agent_name=agent_name,
        type=type,
        meta={"rating": rating} if rating else {},
        team=team,
    )


def msg(chat_id: str, at_ms: int, sender: str, name: str = "Kim", seq: int = 0) -> Event:
    return Event(chat_id, seq, at_ms, model.MESSAGE, {"from": sender, "name": name, "text": "..."})


def joined(chat_id: str, at_ms: int, name: str) -> Event:
    return Event(chat_id, 0, at_ms, model.JOINED, {"name": name})


def query(first: date = DAY1, last: date = DAY2, **options: Any) -> ReportQuery:
    return ReportQuery(first, last, options.pop("zone", UTC_ZONE), **options)


def report_of(chats: list[tuple[Chat, list[Event]]], **options: Any) -> dict[str, Any]:
    names = options.pop("names", None)
    site_teams = options.pop("site_teams", None)
    builder = ReportBuilder(query(**options), names, site_teams)
    for one, events in chats:
        builder.add(one, events)
    return builder.report()


# --- percentiles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.5, 7),
        ([7], 0.9, 7),
        ([3, 1], 0.5, 2),  # the mean of the middle two, in any order
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.9, 3.7),
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9, 91),
        ([5, 5, 5], 0.9, 5),
    ],
)
def test_percentile_interpolates_between_the_nearest_ranks(
    values: list[int], fraction: float, expected: float | None
) -> None:
    assert percentile(values, fraction) == (pytest.approx(expected) if expected is not None else None)


def test_percentile_is_the_inclusive_method_of_the_standard_library() -> None:
    rng = random.Random(6)
    for size in (2, 3, 10, 101):
        values = [rng.randrange(100_000) for _ in range(size)]
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        assert percentile(values, 0.9) == pytest.approx(deciles[8])
        assert percentile(values, 0.5) == pytest.approx(statistics.median(values))


# --- each figure ---------------------------------------------------------------------------------------


def test_an_answered_chat_gives_its_first_response_resolution_and_rating() -> None:
    start = at(DAY1)
    one = chat("c1", start, ended=start + 10 * MIN, agent="kim", agent_name="Kim", rating="good")
    events = [
        msg("c1", start + 5_000, model.VISITOR),
        joined("c1", start + 20_000, "Kim"),
        msg("c1", start + 90_000, model.AGENT),  # the first answer: 90 s after the start
        msg("c1", start + 95_000, model.AGENT),
    ]
    report = report_of([(one, events)])
    totals = report["totals"]
    assert totals == {
        "chats": 1,
        "answered": 1,
        "missed": 0,
        "open": 0,
        "offline_messages": 0,
        "first_response": {"count": 1, "median_s": 90.0, "p90_s": 90.0},
        "resolution": {"count": 1, "median_s": 600.0, "p90_s": 600.0},
        "ratings": {"good": 1, "bad": 0},
    }
    assert [day["date"] for day in report["days"]] == ["2026-04-06", "2026-04-07"]
    assert report["days"][0]["chats"] == 1 and report["days"][1]["chats"] == 0


def test_the_times_of_several_chats_are_medians_and_p90s_of_the_range_not_of_days() -> None:
    chats = []
    for n, (day, wait) in enumerate([(DAY1, 10), (DAY1, 20), (DAY2, 30), (DAY2, 1000)]):
        start = at(day, 9 + n)
        one = chat(f"c{n}", start, ended=start + wait * 2000, agent="kim")
        chats.append((one, [msg(one.id, start + wait * 1000, model.AGENT)]))
    report = report_of(chats)
    first = report["totals"]["first_response"]
    assert first == {"count": 4, "median_s": 25.0, "p90_s": pytest.approx(0.7 * 1000 + 0.3 * 30)}
    assert report["totals"]["resolution"]["median_s"] == 50.0
    assert report["days"][0]["first_response"] == {"count": 2, "median_s": 15.0, "p90_s": 19.0}
    assert report["days"][1]["first_response"] == {"count": 2, "median_s": 515.0, "p90_s": 903.0}


def test_a_chat_that_ended_without_an_agent_message_is_missed() -> None:
    start = at(DAY1)
    nobody = chat("c1", start, ended=start + 2 * MIN)
    # Accepted, never answered: the visitor got no reply, so it is missed too (and the agent's).
    silent = chat("c2", start, ended=start + 3 * MIN, agent="kim", agent_name="Kim")
    # A notice of ours is no answer; neither is a note (not even a kind the reader asks for).
    notice = [msg("c1", start + MIN, model.SYSTEM), Event("c1", 0, start + MIN, model.NOTE, {"text": "x"})]
    totals = report_of([(nobody, notice), (silent, [joined("c2", start + 1000, "Kim")])])["totals"]
    assert (totals["chats"], totals["answered"], totals["missed"], totals["open"]) == (2, 0, 2, 0)
    assert totals["first_response"] == {"count": 0, "median_s": None, "p90_s": None}
    assert totals["resolution"] == {"count": 2, "median_s": 150.0, "p90_s": 174.0}


def test_open_chats_have_no_resolution_and_no_first_response_until_answered() -> None:
    start = at(DAY1)
    waiting = chat("c1", start)
    talking = chat("c2", start, agent="kim")
    totals = report_of([(waiting, []), (talking, [msg("c2", start + 30_000, model.AGENT)])])["totals"]
    assert (totals["chats"], totals["answered"], totals["missed"], totals["open"]) == (2, 1, 0, 2)
    assert totals["first_response"]["count"] == 1 and totals["first_response"]["median_s"] == 30.0
    assert totals["resolution"] == {"count": 0, "median_s": None, "p90_s": None}


def test_offline_messages_are_counted_apart_with_no_agent_time_or_rating() -> None:
    start = at(DAY1)
    left = chat("o1", start, ended=start, type=model.OFFLINE_MESSAGE, rating="good")
    report = report_of([(left, [msg("o1", start, model.VISITOR)])], group_by="agent")
    totals = report["totals"]
    assert (totals["chats"], totals["missed"], totals["offline_messages"]) == (0, 0, 1)
    assert totals["ratings"] == {"good": 0, "bad": 0} and totals["resolution"]["count"] == 0
    assert [(g["key"], g["name"], g["totals"]["offline_messages"]) for g in report["groups"]] == [
        (None, "No agent", 1)
    ]
    assert report_of([(left, [])], agent="kim")["totals"]["offline_messages"] == 0


def test_no_chats_gives_zeros_null_times_and_every_day() -> None:
    report = report_of([], first=date(2026, 2, 27), last=date(2026, 3, 2), group_by="site")
    assert [day["date"] for day in report["days"]] == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
        "2026-03-02",
    ]
    assert report["totals"]["chats"] == 0 and report["totals"]["first_response"]["median_s"] is None
    assert report["groups"] == []
    assert report["from"] == "2026-02-27" and report["tz"] == "UTC" and report["group_by"] == "site"


def test_ratings_are_the_current_ones_good_and_bad_only() -> None:
    start = at(DAY1)
    chats = [
        (chat("c1", start, ended=start + MIN, rating="good"), []),
        (chat("c2", start, ended=start + MIN, rating="bad"), []),
        (chat("c3", start, ended=start + MIN, rating="bad"), []),
        (chat("c4", start, ended=start + MIN), []),
        (chat("c5", start, ended=start + MIN, rating="meh"), []),  # not a rating the widget gives
    ]
    assert report_of(chats)["totals"]["ratings"] == {"good": 1, "bad": 2}


def test_a_time_before_the_start_counts_as_zero() -> None:
    start = at(DAY1)
    skewed = chat("c1", start, ended=start - 5000, agent="kim")  # another contact center's clock
    totals = report_of([(skewed, [msg("c1", start - 1000, model.AGENT)])])["totals"]
    assert totals["first_response"]["median_s"] == 0 and totals["resolution"]["median_s"] == 0


# --- days and time zones ---------------------------------------------------------------------------------


def test_a_chat_counts_on_the_day_it_started_in_the_reports_time_zone() -> None:
    late = at(DAY1, 23, 30)  # 23:30 UTC is 01:30 the next day in Berlin (summer time)
    one = chat("c1", late, ended=late + 60 * MIN)
    assert [d["chats"] for d in report_of([(one, [])])["days"]] == [1, 0]
    berlin = report_of([(one, [])], zone=ZoneInfo("Europe/Berlin"))
    assert [d["chats"] for d in berlin["days"]] == [0, 1] and berlin["tz"] == "Europe/Berlin"


def test_chats_outside_the_range_are_left_out() -> None:
    before = chat("c1", at(DAY1) - 11 * 3_600_000)  # the evening before DAY1
    after = chat("c2", at(date(2026, 4, 8), 0, 0))  # the midnight after DAY2
    assert report_of([(before, []), (after, [])])["totals"]["chats"] == 0


def test_the_span_is_from_local_midnight_to_the_midnight_after_the_last_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    span = query(date(2026, 3, 29), date(2026, 3, 29), zone=berlin).span()  # summer time starts: 23 h
    assert span == (at(date(2026, 3, 28), 23), at(date(2026, 3, 29), 22))
    assert query().span() == (at(DAY1, 0), at(date(2026, 4, 8), 0))


# --- agents, sites, filters, groups -----------------------------------------------------------------------


def test_the_agent_is_the_built_in_one_else_the_first_who_wrote_else_who_joined() -> None:
    start = at(DAY1)
    local = chat("c1", start, ended=start + MIN, agent="kim", agent_name="Kim Berg")
    bridged = chat("c2", start, ended=start + MIN)  # another contact center: names only
    joined_only = chat("c3", start, ended=start + MIN)
    chats = [
        (local, [msg("c1", start + 1000, model.AGENT, "Kim Berg")]),
        (bridged, [joined("c2", start, "Lee"), msg("c2", start + 1000, model.AGENT, "Max")]),
        (joined_only, [joined("c3", start, "Lee")]),
    ]
    report = report_of(chats, group_by="agent")
    assert [(g["key"], g["name"], g["totals"]["chats"]) for g in report["groups"]] == [
        ("kim", "Kim Berg", 1),  # as many chats each: by name
        ("Lee", "Lee", 1),
        ("Max", "Max", 1),
    ]
    assert report_of(chats, agent="Lee")["totals"]["chats"] == 1
    assert report_of(chats, agent="kim")["totals"]["answered"] == 1
    assert report_of(chats, agent="Kim Berg")["totals"]["chats"] == 0  # the key, not the display name


def test_groups_by_site_are_named_and_largest_first_and_filters_combine() -> None:
    start = at(DAY1)
    chats = [
        (chat("c1", start, ended=start + MIN, site="help", agent="kim"), []),
        (chat("c2", start, ended=start + MIN, site="shop", agent="kim"), []),
        (chat("c3", start, ended=start + MIN, site="shop", agent="lee"), []),
        (chat("o1", start, ended=start, site="docs", type=model.OFFLINE_MESSAGE), []),
    ]
    report = report_of(chats, group_by="site", names={"shop": "Nordic Outdoor"})
    assert [(g["key"], g["name"]) for g in report["groups"]] == [
        ("shop", "Nordic Outdoor"),
        ("docs", "docs"),
        ("help", "help"),
    ]
    shop = report["groups"][0]
    assert shop["totals"]["chats"] == 2 and [d["chats"] for d in shop["days"]] == [2, 0]
    assert report["totals"]["chats"] == 3 and report["totals"]["offline_messages"] == 1
    both = report_of(chats, site="shop", agent="kim")
    assert (both["site"], both["agent"], both["totals"]["chats"]) == ("shop", "kim", 1)


def test_a_chat_counts_for_its_own_team_else_its_sites() -> None:
    start = at(DAY1)
    chats = [
        (chat("c1", start, ended=start + MIN, site="shop", agent="kim"), []),  # the site's team
        (chat("c2", start, ended=start + MIN, site="shop", agent="lee", team="returns"), []),  # transferred
        (chat("c3", start, ended=start + MIN, site="help", agent="kim", team="sales"), []),  # chosen
        (chat("c4", start, ended=start + MIN, site="docs", agent="kim"), []),  # a site of no team
        (chat("o1", start, ended=start, site="help", type=model.OFFLINE_MESSAGE, team="returns"), []),
    ]
    report = report_of(
        chats,
        group_by="team",
        names={"sales": "Sales", "returns": "Returns desk"},
        site_teams={"shop": "sales", "help": None, "docs": None},
    )
    assert [
        (g["key"], g["name"], g["totals"]["chats"], g["totals"]["offline_messages"]) for g in report["groups"]
    ] == [
        ("returns", "Returns desk", 1, 1),  # as many as Sales: by name
        ("sales", "Sales", 2, 0),
        (None, "No team", 1, 0),
    ]


# --- the query -------------------------------------------------------------------------------------------

NOW = at(date(2026, 4, 30), 22, 30)  # 00:30 on 1 May in Berlin


def test_the_default_range_is_the_last_30_days_in_utc_or_the_zone_given() -> None:
    default = parse_query({}, now=NOW)
    assert (default.first, default.last, default.zone.key) == (date(2026, 4, 1), date(2026, 4, 30), "UTC")
    assert (default.site, default.agent, default.group_by) == (None, None, None)
    berlin = parse_query({"tz": "Europe/Berlin", "from": "", "site": " "}, now=NOW)
    assert (berlin.first, berlin.last, berlin.site) == (date(2026, 4, 2), date(2026, 5, 1), None)
    given = parse_query({"from": "2026-01-01", "group_by": "agent", "agent": "kim"}, now=NOW)
    assert (given.first, given.last, given.group_by, given.agent) == (
        date(2026, 1, 1),
        date(2026, 4, 30),
        "agent",
        "kim",
    )
    to_only = parse_query({"to": "2026-02-10"}, now=NOW)
    assert (to_only.first, to_only.last) == (date(2026, 1, 12), date(2026, 2, 10))
    longest = parse_query({"from": "2024-01-01", "to": "2024-12-31"}, now=NOW)  # a leap year: 366 days
    assert len(longest.days()) == MAX_DAYS


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2026-13-01"}, "invalid_date", "from"),
        ({"to": "yesterday"}, "invalid_date", "to"),
        (
            {"from": "20260401"},
            "invalid_date",
            "from",
        ),  # fromisoformat would take it; the API says YYYY-MM-DD
        ({"from": "0001-01-01"}, "invalid_date", "from"),
        ({"to": "9999-12-31"}, "invalid_date", "to"),
        ({"from": "2026-04-02", "to": "2026-04-01"}, "invalid_range", "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "invalid_range", "to"),  # 367 days
        ({"tz": "Mars/Olympus"}, "invalid_timezone", "tz"),
        ({"tz": "../../etc/passwd"}, "invalid_timezone", "tz"),
        ({"group_by": "department"}, "invalid_group_by", "group_by"),
        ({"site": "x" * 201}, "invalid_filter", "site"),
    ],
)
def test_a_query_that_cannot_be_answered_says_why(params: dict[str, str], code: str, field: str) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query(params, now=NOW)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert refused.value.message.endswith(".")


# --- the reader, on both stores --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        return f"{request.getfixturevalue('postgres_url')}?pool_max=4"
    return "sqlite:"


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(store_url, tmp_path)
    yield opened
    await opened.close()


async def test_the_reader_pages_through_the_range_and_leaves_deleted_chats_out(store: Store) -> None:
    start = at(DAY1)
    for n in range(7):  # three share their start time: paging must neither skip nor repeat a tie
        created = start + (n // 3) * MIN
        await store.create_chat(chat(f"c{n}", created), [model.message(model.VISITOR, "Ada", "Hi")])
        if n % 2 == 0:
            await store.append(
                f"c{n}",
                [model.joined("Kim"), model.message(model.AGENT, "Kim", "Hello")],
                changes={"state": model.ACTIVE, "agent": "kim", "agent_name": "Kim"},
            )
    await store.create_chat(chat("o1", start, ended=start, type=model.OFFLINE_MESSAGE), [])
    await store.create_chat(chat("old", at(DAY1, 0) - 1), [])  # a millisecond before the range
    await store.create_chat(chat("gone", start), [])
    await store.delete_chats(["gone"], model.AuditEntry.of(model.Actor("t", "cli"), "chat.delete", "gone"))
    whole = await read_report(store, query())
    paged = await read_report(store, query(), page=2)
    assert paged == whole
    totals = whole["totals"]
    assert (totals["chats"], totals["answered"], totals["open"], totals["offline_messages"]) == (7, 4, 7, 1)
    assert totals["first_response"]["count"] == 4
    by_agent = await read_report(store, query(group_by="agent"), page=3)
    groups = [(g["key"], g["totals"]["chats"], g["totals"]["offline_messages"]) for g in by_agent["groups"]]
    assert groups == [("kim", 4, 0), (None, 3, 1)]


# --- the admin API, end to end ----------------------------------------------------------------------------


async def api_get(server: Server, token: str, **params: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            server.url + "/api/admin/reports", params=params, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status, await response.json()


def seconds(ms: float) -> Any:
    """A time of the report: seconds to the millisecond."""
    return pytest.approx(ms / 1000, abs=0.0011)


async def test_the_apis_figures_are_what_happened(server: Server) -> None:
    """Visitors start chats on the demo site; the agent answers two, one visitor rates, one gives up
    unanswered, one still waits, one leaves an offline message: the report says exactly that."""
    _, token = await server.app.state.site_admin.create_token(model.Actor("test", "cli"), "reports")
    store = server.runtime.store
    async with Agent.connected(server) as agent:
        answered = []
        for name in ("Ada", "Ben"):
            async with Visitor.connected(server) as visitor:
                await visitor.start(name)
                chat_id = visitor.chat or ""
                await visitor.say("Do you ship to Norway?", id="q1")
                await agent.accept(chat_id)
                await agent.say(chat_id, "We do.", id=f"a-{name}")
                await agent.say(chat_id, "In two days.", id=f"b-{name}")
                if name == "Ada":
                    await visitor.send({"type": "rate", "rating": "good"})
                    await visitor.expect("event", kind="rating")
                    await visitor.send({"type": "end"})
                else:
                    await agent.send({"type": "end", "chat": chat_id})
                await visitor.expect("event", kind="state", state="ended")
                answered.append(chat_id)
        async with Visitor.connected(server) as visitor:
            await visitor.start("Cy")
            missed = visitor.chat or ""
            await visitor.send({"type": "end"})
            await visitor.expect("event", kind="state", state="ended")
        async with Visitor.connected(server) as visitor:
            message = {"type": "leave_message", "id": "o1", "name": "Di", "email": "di@example.com"}
            await visitor.send({**message, "message": "Call me back."})
            await visitor.expect("ack", id="o1")
        async with Visitor.connected(server) as waiting:
            await waiting.start("Eve")

            status, report = await api_get(server, token)
            by_agent = (await api_get(server, token, group_by="agent", tz="Europe/Berlin"))[1]
            by_team = (await api_get(server, token, group_by="team"))[1]  # a deployment of no teams
            only_admin = (await api_get(server, token, agent="admin"))[1]
            other_site = (await api_get(server, token, site="nowhere"))[1]

    # The times as the store recorded them: start, the first agent message, the end.
    first, ends = [], []
    for chat_id in [*answered, missed]:
        stored = await store.get_chat(chat_id)
        assert stored is not None and stored.ended_at is not None
        ends.append(stored.ended_at - stored.created_at)
        events = await store.events_after(chat_id, 0)
        replies = [e.at for e in events if e.kind == "message" and e.data["from"] == "agent"]
        if replies:
            first.append(replies[0] - stored.created_at)
    first.sort()
    ends.sort()
    assert status == 200
    totals = report["totals"]
    assert totals == {
        "chats": 4,
        "answered": 2,
        "missed": 1,
        "open": 1,
        "offline_messages": 1,
        "first_response": {
            "count": 2,
            "median_s": seconds((first[0] + first[1]) / 2),
            "p90_s": seconds(first[0] + 0.9 * (first[1] - first[0])),
        },
        "resolution": {
            "count": 3,
            "median_s": seconds(ends[1]),
            "p90_s": seconds(ends[1] + 0.8 * (ends[2] - ends[1])),
        },
        "ratings": {"good": 1, "bad": 0},
    }
    today = datetime.now(UTC).date().isoformat()
    assert report["to"] == today and len(report["days"]) == 30 and report["days"][-1]["date"] == today
    assert report["days"][-1]["chats"] == 4 and report["groups"] == [] and report["tz"] == "UTC"
    groups = {g["key"]: g for g in by_agent["groups"]}
    assert groups["admin"]["name"] == "Admin" and groups["admin"]["totals"]["answered"] == 2
    assert (groups[None]["totals"]["chats"], groups[None]["totals"]["offline_messages"]) == (2, 1)
    assert [(g["key"], g["name"], g["totals"]["chats"]) for g in by_team["groups"]] == [(None, "No team", 4)]
    assert only_admin["totals"]["chats"] == 2 and only_admin["totals"]["ratings"]["good"] == 1
    assert other_site["totals"]["chats"] == 0


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2026-02-30"}, "invalid_date", "from"),
        ({"from": "2024-01-01", "to": "2025-06-01"}, "invalid_range", "to"),
        ({"tz": "Nowhere/Special"}, "invalid_timezone", "tz"),
        ({"group_by": "department"}, "invalid_group_by", "group_by"),
    ],
)
async def test_the_api_refuses_what_it_cannot_answer(
    server: Server, params: dict[str, str], code: str, field: str
) -> None:
    _, token = await server.app.state.site_admin.create_token(model.Actor("test", "cli"), "reports")
    status, body = await api_get(server, token, **params)
    assert status == 400
    assert body["error"] == code and body["field"] == field and body["message"]
    status, body = await api_get(server, "wst_wrong")
    assert status == 401 and body["error"] == "unauthorized"


# --- the page: who may read it ----------------------------------------------------------------------------


async def test_operators_read_the_page_agents_are_refused_strangers_sent_to_log_in(server: Server) -> None:
    await server.app.state.site_admin.add_user(
        model.Actor("test", "cli"), "alice", model.AGENT_ROLE, "a long password"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/admin/reports?group_by=site", allow_redirects=False) as response,
    ):
        assert response.status == 303
        assert response.headers["Location"] == "/agent/login?next=/admin/reports%3Fgroup_by%3Dsite"
    for name, password, status in [
        ("alice", "a long password", 403),
        ("admin", server.admin_password(), 200),
    ]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await log_in(http, server.url, name, password)
            async with http.get(server.url + "/admin/reports?group_by=site") as response:
                assert response.status == status, name
                page = await response.text()
                csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    # The figures the charts draw come as data, not as a script: one array per series, a value per day.
    data = re.search(r'<script type="application/json" id="report-data">([^<]*)</script>', page)
    assert data is not None
    chart = json.loads(data.group(1))
    assert len(chart["dates"]) == 30 and chart["chats"] == [0] * 30 and chart["groups"] == []
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js" defer></script>' in page
    assert 'aria-current="page">Reports</a>' in page
