"""Business hours, pure, and what the visitor's `hello` says about them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.clients import HOST_ORIGIN, Agent, Visitor, make_config, running
from widget_server.availability import DAYS, BusinessHours, HoursError
from widget_server.config import ConfigError, config_from_mapping

BERLIN = BusinessHours.from_table(
    {
        "timezone": "Europe/Berlin",
        "monday": ["09:00-12:30", "13:30-17:00"],
        "tuesday": ["09:00-17:00"],
        "wednesday": ["09:00-17:00"],
        "thursday": ["09:00-17:00"],
        "friday": ["09:00-15:00"],
        "saturday": ["10:00-24:00"],
        "holidays": ["2026-12-25"],
    }
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2026-11-23T08:00", True),  # Monday 09:00 in Berlin (UTC+1 in winter)
        ("2026-11-23T07:59", False),
        ("2026-11-23T11:29", True),  # 12:29
        ("2026-11-23T11:30", False),  # lunch
        ("2026-11-23T12:30", True),
        ("2026-11-23T16:00", False),  # 17:00 closes
        ("2026-11-28T22:59", True),  # Saturday 23:59
        ("2026-11-28T23:00", False),  # Sunday 00:00
        ("2026-11-29T12:00", False),  # Sunday: not named, closed
        ("2026-12-25T10:00", False),  # a Friday, but a holiday
        ("2026-06-22T07:00", True),  # Monday 09:00 in summer time (UTC+2)
        ("2026-06-22T06:59", False),
    ],
)
def test_open_hours(moment: str, open_: bool) -> None:
    assert BERLIN.is_open(utc(moment)) is open_


@pytest.mark.parametrize(
    ("moment", "opens"),
    [
        ("2026-11-23T07:00", "2026-11-23T08:00"),  # Monday before opening: at 09:00 local
        ("2026-11-23T11:45", "2026-11-23T12:30"),  # after lunch
        ("2026-11-27T14:30", "2026-11-28T09:00"),  # Friday after 15:00: Saturday 10:00
        ("2026-12-24T16:30", "2026-12-26T09:00"),  # Christmas Eve after hours; the 25th is a holiday
        ("2026-11-23T10:00", "2026-11-23T10:00"),  # open now
    ],
)
def test_next_opening(moment: str, opens: str) -> None:
    assert BERLIN.next_opening(utc(moment)) == utc(opens)


def test_never_open() -> None:
    assert BusinessHours.from_table({"timezone": "UTC"}).next_opening(utc("2026-01-01T00:00")) is None


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({}, "timezone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "UTC", "monday": "09:00-17:00"}, "monday"),
        ({"timezone": "UTC", "monday": ["9-17"]}, "monday[0]"),
        ({"timezone": "UTC", "monday": ["17:00-09:00"]}, "monday[0]"),
        ({"timezone": "UTC", "monday": ["09:00-12:00", "11:00-13:00"]}, "monday"),
        ({"timezone": "UTC", "holidays": ["25.12.2026"]}, "holidays[0]"),
        ({"timezone": "UTC", "mondays": []}, "mondays"),
    ],
)
def test_bad_hours_name_the_key(table: dict[str, object], where: str) -> None:
    with pytest.raises(HoursError) as error:
        BusinessHours.from_table(table)
    assert error.value.where == where
    with pytest.raises(ConfigError) as config_error:
        config_from_mapping({"sites": {"acme": {"name": "A", "hours": table}}})
    assert config_error.value.where == f"sites.acme.hours.{where}"


def tomorrow_only() -> dict[str, object]:
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    return {"timezone": "UTC", tomorrow: ["00:00-24:00"]}


async def test_hello_says_when_the_site_opens(data_dir: Path) -> None:
    sites = {
        "closed": {"name": "Closed", "allowed_origins": [HOST_ORIGIN], "hours": tomorrow_only()},
        "open": {"name": "Open", "allowed_origins": [HOST_ORIGIN], "backend": "local"},
    }
    # An agent whose console closed counts as away after `agents.away_after`: short here.
    config = make_config(data_dir, {"sites": sites, "agents": {"away_after": 0.2}})
    async with running(config) as server:
        async with Visitor.connected(server, site="closed") as visitor:
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
            assert visitor.hello["available"] is False and visitor.hello["reason"] == "hours"
            assert visitor.hello["opensAt"] == f"{tomorrow}T00:00:00Z"
            await visitor.start()  # a chat is accepted anyway: it waits in the queue
        async with Visitor.connected(server, site="open") as visitor:
            assert visitor.hello["available"] is False and "opensAt" not in visitor.hello  # nobody online
            assert visitor.hello["reason"] == "agents"
            # An agent logs in: the open widget is told at once, and can offer a live chat.
            async with Agent.connected(server):
                again = await visitor.expect("hello")
                assert again["available"] is True and "reason" not in again
            assert (await visitor.expect("hello"))["reason"] == "agents"  # and when the last one leaves


async def test_a_rating_is_stored_and_shown_to_the_agent(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, Agent.connected(server) as agent:
        async with Visitor.connected(server) as visitor:
            await visitor.start()
            chat = visitor.chat or ""
            await agent.accept(chat)
            await agent.send({"type": "end", "chat": chat})
            await visitor.expect("event", kind="state", state="ended")
            await visitor.send({"type": "rate", "rating": "bad", "comment": "Too slow."})
            rated = await visitor.expect("event", kind="rating")
            assert (rated["rating"], rated["comment"]) == ("bad", "Too slow.")
            seen = await agent.expect("event", kind="rating", chat=chat)
            assert seen["rating"] == "bad"
            await visitor.send({"type": "rate", "rating": "so-so"})
            assert (await visitor.expect("error"))["field"] == "rating"
            await visitor.send({"type": "rate", "rating": "good"})  # changed their mind
            await visitor.expect("event", kind="rating", rating="good")
        stored = await server.runtime.store.get_chat(chat)
        assert stored is not None and stored.meta["rating"] == "good" and stored.meta["comment"] is None


async def test_ratings_resent_after_a_reconnect_count_once(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, Visitor.connected(server) as visitor:
        await visitor.start()
        await visitor.send({"type": "end"})
        await visitor.expect("event", kind="state", state="ended")
        for _ in range(2):
            await visitor.send({"type": "rate", "rating": "good", "id": "r1"})
        await visitor.expect("event", kind="rating")
        await visitor.no_frame(0.3)
        events = await server.runtime.store.events_after(visitor.chat or "", 0)
        assert [e.kind for e in events].count("rating") == 1
