"""The console's chat history over real HTTP (widget_server/web/history_pages.py): the search with each of
its filters, one chat's read-only transcript with the team's notes, and its exports without them."""

from __future__ import annotations

import html
import json
from pathlib import Path

import aiohttp
import pytest

from tests.support.clients import Agent, Server, Visitor, log_in, make_config, running
from widget_server.web.history_pages import build_query

SITES = {
    "acme": {"name": "ACME", "allowed_origins": ["https://acme.example"]},
    "globex": {"name": "Globex", "allowed_origins": ["https://globex.example"]},
}
EMPTY = dict.fromkeys(("q", "visitor", "email", "agent", "site", "rating", "type", "from", "to"), "")


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({}, "timestamp:[* TO *]"),
        ({"q": "refund"}, "refund"),
        ({"visitor": 'Ann "the" Lee'}, 'visitor_name:"Ann \\"the\\" Lee"'),
        ({"agent": "Bo", "rating": "good"}, 'agent_names:"Bo" AND rating:good'),
        (
            {"email": "a@x.example", "type": "offline_msg"},
            'visitor_email:"a@x.example" AND chat_type:offline_msg',
        ),
        ({"from": "2026-01-02"}, "timestamp:[2026-01-02 TO *]"),
        ({"q": "x", "from": "2026-01-02", "to": "2026-01-03"}, "x AND timestamp:[2026-01-02 TO 2026-01-03]"),
        ({"site": "acme"}, "timestamp:[* TO *]"),  # the site is a filter of its own, not in the language
    ],
)
def test_the_form_becomes_a_query_of_the_history_language(fields: dict[str, str], query: str) -> None:
    search = build_query({**EMPTY, **fields}, {"acme"})
    assert (search.error, search.query) == (None, query)


@pytest.mark.parametrize(
    ("fields", "field", "sentence"),
    [
        ({"from": "02/01/2026"}, "from", "Give a date as YYYY-MM-DD."),
        ({"from": "2026-02-02", "to": "2026-01-01"}, "to", "The range ends before it starts."),
        ({"site": "nope"}, "site", "There is no such site."),
        ({"rating": "great"}, "rating", "Choose good or bad, or any rating."),
        ({"type": "call"}, "type", "Choose chats or offline messages, or both."),
        ({"q": "x" * 201}, "q", "Keep it under 200 characters."),
    ],
)
def test_a_bad_field_is_named_with_a_sentence(fields: dict[str, str], field: str, sentence: str) -> None:
    search = build_query({**EMPTY, **fields}, {"acme"})
    assert (search.field, search.error) == (field, sentence)


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), response


async def test_search_read_and_export_past_chats(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server, Agent.connected(server) as agent:
        chats = {}
        for site, nickname, text in (
            ("acme", "Ann <b>Lee</b>", "Where is my chocolate order?"),
            ("acme", "Bo", "Can I return boots?"),
            ("globex", "Cy", "Chocolate for Globex please"),
        ):
            async with Visitor.connected(
                server, site=site, origin=SITES[site]["allowed_origins"][0]
            ) as visitor:
                started = await visitor.start(nickname, email=f"{nickname[:2].lower()}@x.example")
                chats[nickname] = started["chat"]
                await visitor.say(text, id="m1")
                if nickname == "Bo":
                    await agent.accept(started["chat"])
                    await agent.say(started["chat"], "Yes, within 60 days.", id="a1")
                    await agent.send(
                        {"type": "note", "chat": started["chat"], "id": "n1", "text": "VIP, be nice"}
                    )
                    await agent.expect("ack", id="n1")
                    await visitor.expect("event", kind="message", text="Yes, within 60 days.")
                    await agent.send({"type": "end", "chat": started["chat"]})
                    await visitor.expect("event", kind="state", state="ended")
                    await visitor.send({"type": "rate", "rating": "good"})
                    await visitor.expect("event", kind="rating")

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = server.url
            status, _, response = await get(http, f"{base}/agent/history?q=chocolate")
            assert (
                status == 303
                and "/agent/login?next=%2Fagent%2Fhistory%3Fq%3Dchocolate" in response.headers["location"]
            )
            await log_in(http, base, "admin", server.admin_password())

            async def found(query: str) -> set[str]:
                status, page, _ = await get(http, f"{base}/agent/history?{query}")
                assert status == 200, page
                return {name for name, chat_id in chats.items() if f"/agent/history/{chat_id}" in page}

            assert await found("") == {"Ann <b>Lee</b>", "Bo", "Cy"}
            assert await found("q=chocolate") == {"Ann <b>Lee</b>", "Cy"}
            assert await found("q=chocolate&site=acme") == {"Ann <b>Lee</b>"}
            assert await found("site=globex") == {"Cy"}
            assert await found("rating=good") == {"Bo"}
            assert await found("agent=Admin") == {"Bo"}
            assert await found("email=bo%40x.example") == {"Bo"}
            assert await found("visitor=Cy") == {"Cy"}
            assert await found("from=2000-01-01&to=2000-12-31") == set()
            assert await found("q=nice") == set(), (
                "a note's words are not searched: it is not the visitor's chat"
            )

            status, page, _ = await get(http, f"{base}/agent/history?from=yesterday")
            assert status == 400 and "Give a date as YYYY-MM-DD." in page and 'aria-invalid="true"' in page
            status, page, _ = await get(http, f"{base}/agent/history?q=OR+refund")
            assert status == 400 and "OR" in page

            status, page, _ = await get(http, f"{base}/agent/history")
            assert html.escape("Ann <b>Lee</b>") in page and "<b>Lee</b>" not in page

            bo = chats["Bo"]
            status, page, _ = await get(http, f"{base}/agent/history/{bo}")
            assert status == 200
            for text in (
                "Can I return boots?",
                "Yes, within 60 days.",
                "VIP, be nice",
                "Note",
                "rated the chat good",
            ):
                assert text in page, text

            status, text, response = await get(http, f"{base}/agent/history/{bo}/transcript.txt")
            assert status == 200 and response.headers["content-type"].startswith("text/plain")
            assert f'filename="chat-{bo}.txt"' in response.headers["content-disposition"]
            assert "Bo: Can I return boots?" in text and "Admin: Yes, within 60 days." in text
            assert "VIP" not in text, "an export is what the visitor saw: never a note"

            status, text, response = await get(http, f"{base}/agent/history/{bo}/chat.json")
            exported = json.loads(text)
            assert status == 200 and exported["id"] == bo and exported["rating"] == "good"
            assert "VIP" not in text

            assert (await get(http, f"{base}/agent/history/nope"))[0] == 404
            assert (await get(http, f"{base}/agent/history/nope/transcript.txt"))[0] == 404


async def test_the_history_needs_a_login(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/agent/history", "/agent/history/c1", "/agent/history/c1/chat.json"):
            status, _, response = await get(http, server.url + path)
            assert status == 303 and response.headers["location"].startswith("/agent/login?next=")
