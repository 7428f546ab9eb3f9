"""Proactive greetings without a browser (widget_server/greetings.py): the rules are checked with the key
named, in the file, the admin API and the admin page; they reach the widget in `hello`; and a chat started
from one stores the greeting as its first event, the site's words for a rule, the page's marked as such.
The widget's side is tests/browser/test_greetings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.gws import FakeGWS
from tests.support.asgi_server import serve
from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.test_admin_pages import browser, create, field_error
from widget_server import greetings
from widget_server.config import ConfigError, load_config, site_from_mapping
from widget_server.history.chat_object import chat_object
from widget_server.model import Actor
from widget_server.site_admin import site_table
from widget_server.web.history_pages import transcript_lines

PRICING = {"id": "pricing", "pages": ["/pricing*"], "after": 20, "text": "Questions about our plans?"}


def test_rules_are_settings_kept_in_order_with_their_defaults() -> None:
    rules = [
        PRICING,
        {"id": "all", "pages": ["*"], "text": "Hi!\nAsk away.", "from": "Sales", "offline": True},
    ]
    site = site_from_mapping("shop", {"greetings": rules})
    assert [rule.id for rule in site.greetings] == ["pricing", "all"]
    assert (site.greetings[1].after, site.greetings[1].again_after_days) == (10, 7)  # the defaults
    assert site.greetings[0].hello() == {**PRICING, "days": 7}
    again = site_from_mapping("shop", site_table(site))  # the admin API's and the database's shape
    assert again.greetings == site.greetings
    assert "greetings" not in site_table(site_from_mapping("other", {}))


@pytest.mark.parametrize(
    ("rules", "where", "problem"),
    [
        ({"id": "x"}, "sites.shop.greetings", "must be a list"),
        (
            [{**PRICING, "pages": ["pricing*"]}],
            "sites.shop.greetings[0].pages",
            "[0]: 'pricing*' is not a page",
        ),
        ([{**PRICING, "pages": []}], "sites.shop.greetings[0].pages", "1 to 20 page patterns"),
        ([{**PRICING, "pages": ["/a b"]}], "sites.shop.greetings[0].pages", "no spaces"),
        ([{**PRICING, "after": -1}], "sites.shop.greetings[0].after", "0 to 3600 seconds"),
        ([{**PRICING, "after": True}], "sites.shop.greetings[0].after", "must be a whole number or a number"),
        ([{**PRICING, "text": " "}], "sites.shop.greetings[0].text", "1 to 1000 characters"),
        ([{**PRICING, "text": "a\u0007b"}], "sites.shop.greetings[0].text", "control characters"),
        ([{**PRICING, "from": "x" * 65}], "sites.shop.greetings[0].from", "1 to 64 characters"),
        ([{**PRICING, "id": "Pricing"}], "sites.shop.greetings[0].id", "lowercase letters"),
        ([PRICING, PRICING], "sites.shop.greetings[1].id", "'pricing' is the id of an earlier greeting"),
        ([{**PRICING, "again_after_days": 400}], "sites.shop.greetings[0].again_after_days", "0 to 365"),
        ([{**PRICING, "delay": 3}], "sites.shop.greetings[0].delay", "unknown key"),
        ([{"id": "x", "pages": ["*"]}], "sites.shop.greetings[0].text", "is required"),
        ([{**PRICING, "id": str(n)} for n in range(21)], "sites.shop.greetings", "at most 20"),
    ],
)
def test_a_wrong_rule_is_named(rules: Any, where: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        site_from_mapping("shop", {"greetings": rules})
    assert refused.value.where == where
    assert problem in refused.value.problem


def test_the_configuration_file_takes_greetings(tmp_path: Path) -> None:
    path = tmp_path / "widget.toml"
    path.write_text(
        """
[sites.acme]
allowed_origins = ["https://acme.example"]

[[sites.acme.greetings]]
id = "pricing"
pages = ["/pricing*", "https://acme.example/plans?*"]
after = 20
text = "Questions about our plans?"
from = "Sales"
""",
        encoding="utf-8",
    )
    (rule,) = load_config(path).sites["acme"].greetings
    assert (rule.pages, rule.sender) == (("/pricing*", "https://acme.example/plans?*"), "Sales")
    path.write_text(path.read_text(encoding="utf-8").replace("after = 20", "after = 2h"))
    with pytest.raises(ConfigError, match=r"widget\.toml: not valid TOML"):
        load_config(path)
    path.write_text(path.read_text(encoding="utf-8").replace("after = 2h", 'after = "20"'))
    with pytest.raises(ConfigError, match=r"widget\.toml: sites\.acme\.greetings\[0\]\.after: must be"):
        load_config(path)


async def test_hello_carries_the_rules_and_a_chat_stores_the_one_answered(data_dir: Path) -> None:
    rules = [PRICING, {"id": "help", "pages": ["/help"], "text": "Need a hand?", "from": "Support"}]
    sites = {"shop": {"name": "Shop", "allowed_origins": [HOST_ORIGIN], "greetings": rules}}
    async with running(make_config(data_dir, {"sites": sites})) as server:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/hello/shop", headers={"Origin": HOST_ORIGIN}) as response,
        ):
            hello = await response.json()
        assert [rule["id"] for rule in hello["greetings"]] == ["pricing", "help"]
        assert hello["greetings"][1] == {
            "id": "help",
            "pages": ["/help"],
            "after": 10,
            "text": "Need a hand?",
            "from": "Support",
            "days": 7,
        }

        chats: list[str] = []

        async def first_events(greeting: Any) -> list[dict[str, Any]]:
            async with Visitor.connected(server, site="shop") as visitor:
                await visitor.send({"type": "start", "nickname": "Chris", "greeting": greeting})
                welcome = await visitor.expect("welcome")
                chats.append(welcome["chat"])
                events = await server.runtime.store.events_after(welcome["chat"], 0)
                return [{"kind": e.kind, **e.data} for e in events[:2]]

        async def history_api(chat: str) -> dict[str, Any]:
            found = await server.runtime.store.get_chat(chat)
            assert found is not None
            return chat_object(found, await server.runtime.store.events_after(chat, 0))

        # A rule by its id: the site's words, whatever the visitor's browser says.
        greeting, queued = await first_events("help")
        assert greeting == {"kind": "greeting", "name": "Support", "text": "Need a hand?", "rule": "help"}
        assert queued["kind"] == "state"
        found = await server.runtime.store.get_chat(chats[-1])
        assert found is not None  # the console's history page and its export say what it was
        lines = transcript_lines(found, await server.runtime.store.events_after(found.id, 0), notes=False)
        assert (lines[0]["who"], lines[0]["text"]) == ("Greeting · Support", "Need a hand?")
        shown = await history_api(chats[-1])  # Zendesk's shape: a trigger's message
        assert shown["triggered"] is True and shown["count"]["agent"] == 0
        assert [(e["type"], e["nick"], e["name"], e.get("msg")) for e in shown["history"][1:2]] == [
            ("chat.msg", "agent:trigger", "Support", "Need a hand?")
        ]
        assert (await first_events("pricing"))[0]["name"] == "Shop"  # no `from`: the site's name
        # A rule no longer configured starts the chat without one; no greeting, none stored.
        assert (await first_events("gone"))[0]["kind"] == "state"
        assert (await first_events(None))[0]["kind"] == "state"
        # The page's own: stored, marked as the page's, never as a rule's.
        page = await first_events({"text": "Free shipping!", "from": "Shop team", "rule": "help"})
        assert page[0] == {"kind": "greeting", "name": "Shop team", "text": "Free shipping!", "page": True}
        shown = await history_api(chats[-1])  # not the site's words: not in the history API
        assert shown["triggered"] is False and all(e["type"] != "chat.msg" for e in shown["history"])

        async with Visitor.connected(server, site="shop") as visitor:
            for bad in (["help"], {"text": ""}, {"text": "Hi", "from": "a\nb"}, "x" * 33):
                await visitor.send({"type": "start", "nickname": "Chris", "greeting": bad})
                error = await visitor.expect("error")
                assert (error["code"], error["field"]) == ("invalid_field", "greeting"), bad


async def test_gws_gets_the_greeting_in_user_data_and_the_log_keeps_it(data_dir: Path) -> None:
    gws = FakeGWS()
    async with serve(gws.app) as url:
        table = {"name": "ACME", "allowed_origins": [HOST_ORIGIN], "backend": "gws", "greetings": [PRICING]}
        table["gws"] = {"base_url": url, "contact_center_id": gws.contact_center_id}
        config = make_config(data_dir, {"sites": {"acme": table}})
        async with running(config) as server, Visitor.connected(server, site="acme") as visitor:
            await visitor.send({"type": "start", "nickname": "Chris", "greeting": "pricing"})
            welcome = await visitor.expect("welcome")
            events = await server.runtime.store.events_after(welcome["chat"], 0)
    assert (events[0].kind, events[0].data["text"]) == ("greeting", PRICING["text"])
    (chat,) = gws.chats.values()
    assert chat.user_data == {"greeting": PRICING["text"]}  # RequestChat's userData


def test_a_contact_center_gets_the_greeting_with_the_visitors_data() -> None:
    rules = greetings.greetings_from_list([PRICING], "g")
    event = greetings.answered(rules, "Shop", "pricing")
    assert greetings.for_contact_center({"plan": "pro"}, event) == {
        "plan": "pro",
        "greeting": "Questions about our plans?",
    }
    page = greetings.answered(rules, "Shop", greetings.PageGreeting("Free shipping!"))
    assert greetings.for_contact_center({}, page) == {"page_greeting": "Free shipping!"}
    assert greetings.for_contact_center({"plan": "pro"}, None) == {"plan": "pro"}


async def test_the_admin_api_sets_and_refuses_greetings(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        headers = {"Authorization": f"Bearer {secret}"}
        base = f"{server.url}/api/admin/sites"

        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, base + path, json=body, headers=headers) as response:
                return response.status, await response.json()

        status, site = await call("POST", "", {"id": "acme", "name": "ACME", "greetings": [PRICING]})
        assert status == 201 and site["greetings"][0]["pages"] == ["/pricing*"]
        status, error = await call("PATCH", "/acme", {"greetings": [{**PRICING, "pages": ["pricing"]}]})
        assert status == 400 and error["field"] == "acme.greetings[0].pages"
        assert "not a page pattern" in error["message"]
        status, site = await call("PATCH", "/acme", {"greetings": None})  # null: none
        assert status == 200 and "greetings" not in site


async def test_the_admin_page_edits_greetings_as_toml(server: Server) -> None:
    block = '[[greetings]]\nid = "pricing"\npages = ["/pricing*"]\nafter = 5\ntext = "Plans?"\n'
    async with browser(server) as page:
        assert (await create(page, greetings=block)).status == 303
        site = server.runtime.sites.get("acme")
        assert site is not None and [(g.id, g.after, g.text) for g in site.greetings] == [
            ("pricing", 5, "Plans?")
        ]
        _, text = await page.get("/admin/sites/acme")
        assert "pages = [&#34;/pricing*&#34;]" in text or "pages = [&quot;/pricing*&quot;]" in text
        edit = {"name": "ACME", "backend": "local"}
        refused = await page.post(
            "/admin/sites/acme", {**edit, "greetings": block.replace("after = 5", "after = -5")}
        )
        assert (
            field_error(await refused.text(), "f-greetings")
            == "greetings[0].after: Must be 0 to 3600 seconds."
        )
        refused = await page.post("/admin/sites/acme", {**edit, "greetings": "id = 'x'"})
        assert field_error(await refused.text(), "f-greetings") == (
            "Write each greeting as a [[greetings]] block, its keys below it."
        )
        assert (await page.post("/admin/sites/acme", edit)).status == 303  # emptied: none
        site = server.runtime.sites.get("acme")
        assert site is not None and site.greetings == ()


def test_the_admin_pages_text_is_the_files_toml() -> None:
    rules = greetings.greetings_from_list(
        [PRICING, {"id": "q", "pages": ["*"], "text": 'Say "hi"\nor not', "from": "Ana", "after": 1.5}], "g"
    )
    text = greetings.text_of_greetings(rules)
    assert text.startswith('[[greetings]]\nid = "pricing"\npages = [\n    "/pricing*",\n]\nafter = 20\n')
    assert 'text = """\nSay \\"hi\\"\nor not"""' in text  # several lines read as they will show
    assert greetings.greetings_from_list(greetings.greetings_from_text(text), "g") == rules
