"""The widget's languages (issue 16), without a browser: every locale file says every string with the same
placeholders and stays small, the widget and the server agree on the languages, a site's `locale` and
`strings` are checked with a message naming the key, and they reach the visitor in `hello`."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.test_admin_pages import browser, create, field_error
from widget_server.config import ConfigError, load_config, site_from_mapping
from widget_server.model import Actor
from widget_server.site_admin import site_table
from widget_server.widget_strings import (
    ENGLISH,
    LANGUAGE_NAMES,
    LOCALE_DIR,
    LOCALES,
    PLURAL_CATEGORIES,
    RIGHT_TO_LEFT,
    placeholders,
)

ROOT = Path(__file__).resolve().parents[1]
WIDGET = (ROOT / "static" / "widget.js").read_text(encoding="utf-8")
LOCALE_BUDGET = 2 * 1024  # gzip bytes of one language's file
TRANSLATED = [code for code in LOCALES if code != "en"]


def locale(code: str) -> dict[str, Any]:
    table: dict[str, Any] = json.loads((LOCALE_DIR / f"{code}.json").read_text(encoding="utf-8"))
    return table


def test_the_widget_speaks_english_and_at_least_twelve_other_languages() -> None:
    assert set(LOCALES) >= {"en", "de", "fr", "es", "pt", "it", "nl", "pl", "ru", "tr", "ja", "ar", "he"}
    listed = re.search(r"const LOCALES = \[(.*?)\];", WIDGET)
    assert listed, "widget.js lists its languages"
    assert sorted(re.findall(r'"(\w+)"', listed.group(1))) == list(LOCALES)  # the files and the widget agree
    rtl = re.search(r"root\.dir = /\^\((.*?)\)\$/", WIDGET)
    assert rtl and set(rtl.group(1).split("|")) == RIGHT_TO_LEFT
    assert not set(ENGLISH) & set(LOCALES), (
        "a string id that is a language code would be ambiguous in `strings`"
    )


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_language_says_every_string_with_its_placeholders(code: str) -> None:
    table = locale(code)
    assert sorted(table) == sorted(ENGLISH)
    for string_id, text in table.items():
        english = ENGLISH[string_id]
        if isinstance(text, dict):
            assert set(text) <= set(PLURAL_CATEGORIES) and "other" in text, string_id
            # A form may spell its number out ("one minute"); "other" says every placeholder.
            assert placeholders(text["other"]) == placeholders(english), string_id
            assert all(placeholders(form) <= placeholders(english) for form in text.values()), string_id
        else:
            assert isinstance(text, str) and text.strip(), string_id
            assert placeholders(text) == placeholders(english), string_id
        # The widget's unread count puts the number before this text, as in English.
        if string_id == "unread":
            forms = text.values() if isinstance(text, dict) else [text]
            assert all(not placeholders(form) for form in forms)


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_language_file_is_small(code: str) -> None:
    size = len(gzip.compress((LOCALE_DIR / f"{code}.json").read_bytes(), 9))
    assert size <= LOCALE_BUDGET, f"{code}.json: {size} bytes gzip (budget {LOCALE_BUDGET})"


async def test_each_language_is_served_like_the_widget_itself(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        for code in TRANSLATED:
            url = f"{server.url}/widget-locales/{code}.json"
            async with http.get(url, headers={"Origin": HOST_ORIGIN}, auto_decompress=False) as response:
                assert response.status == 200, code
                assert response.headers["Content-Type"] == "application/json"
                assert response.headers["Access-Control-Allow-Origin"] == "*"  # fetch() from any page
                assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
                assert "max-age" in response.headers["Cache-Control"]
                assert response.headers["Content-Encoding"] == "gzip"
                assert len(await response.read()) <= LOCALE_BUDGET, code
                etag = response.headers["ETag"]
            async with http.get(url) as response:
                assert await response.json() == locale(code)
            async with http.get(url, headers={"If-None-Match": etag}) as response:
                assert response.status == 304
        for missing in ("en.json", "xx.json", "de", "de.js", "..%2Fwidget.js"):
            async with http.get(f"{server.url}/widget-locales/{missing}") as response:
                assert response.status == 404, missing


def test_a_sites_language_and_own_strings_are_settings() -> None:
    table = {
        "allowed_origins": ["https://shop.example"],
        "locale": "de",
        "strings": {
            "greeting": "Welcome!",
            "back_minutes": {"one": "Back in a minute.", "other": "Back in {n} minutes."},
            "de": {"greeting": "Willkommen!", "typing": "{name} tippt gerade…"},
        },
    }
    site = site_from_mapping("shop", table)
    assert site.locale == "de"
    assert site.strings == table["strings"]
    again = site_from_mapping("shop", site_table(site))  # the admin API's and the database's shape
    assert (again.locale, again.strings) == (site.locale, site.strings)
    assert "locale" not in site_table(site_from_mapping("other", {}))


@pytest.mark.parametrize(
    ("settings", "where", "problem"),
    [
        ({"locale": "sv"}, "sites.shop.locale", "unknown language 'sv' (known: ar, de, en"),
        ({"locale": 7}, "sites.shop.locale", "must be a string"),
        (
            {"strings": {"greting": "Hi"}},
            "sites.shop.strings.greting",
            "unknown string id (did you mean 'greeting'?",
        ),
        ({"strings": {"de": {"helo": "Hallo"}}}, "sites.shop.strings.de.helo", "unknown string id"),
        ({"strings": {"greeting": 3}}, "sites.shop.strings.greeting", "must be a string"),
        ({"strings": {"de": "Hallo"}}, "sites.shop.strings.de", "a language's strings are a table"),
        ({"strings": {"typing": "{who} types"}}, "sites.shop.strings.typing", "unknown placeholder {who}"),
        ({"strings": {"back_minutes": {"one": "Soon."}}}, "sites.shop.strings.back_minutes", "need 'other'"),
        (
            {"strings": {"back_minutes": {"lots": "x", "other": "y"}}},
            "sites.shop.strings.back_minutes.lots",
            "",
        ),
        ({"strings": "Hi"}, "sites.shop.strings", "must be a table"),
    ],
)
def test_a_wrong_language_or_string_is_named(settings: dict[str, Any], where: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        site_from_mapping("shop", settings)
    assert refused.value.where == where
    assert problem in refused.value.problem


def test_the_configuration_file_takes_a_strings_table(tmp_path: Path) -> None:
    path = tmp_path / "widget.toml"
    path.write_text(
        """
[sites.acme]
allowed_origins = ["https://acme.example"]
locale = "fr"

[sites.acme.strings]
greeting = "Hello from ACME!"

[sites.acme.strings.fr]
greeting = "Bonjour de la part d'ACME !"
""",
        encoding="utf-8",
    )
    site = load_config(path).sites["acme"]
    assert site.locale == "fr"
    assert site.strings == {"greeting": "Hello from ACME!", "fr": {"greeting": "Bonjour de la part d'ACME !"}}
    path.write_text(path.read_text(encoding="utf-8").replace('greeting = "Hello', 'greetings = "Hello'))
    with pytest.raises(
        ConfigError, match=r"widget\.toml: sites\.acme\.strings\.greetings: unknown string id"
    ):
        load_config(path)


async def test_hello_carries_the_sites_language_and_words(data_dir: Path) -> None:
    strings = {"greeting": "Hej!", "de": {"greeting": "Moin!"}}
    sites = {
        "shop": {"allowed_origins": [HOST_ORIGIN], "locale": "de", "strings": strings},
        "plain": {"allowed_origins": [HOST_ORIGIN]},
    }
    async with running(make_config(data_dir, {"sites": sites})) as server:
        async with Visitor.connected(server, site="shop") as visitor:
            assert (visitor.hello["locale"], visitor.hello["strings"]) == ("de", strings)
        async with Visitor.connected(server, site="plain") as visitor:
            assert "locale" not in visitor.hello and "strings" not in visitor.hello
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/hello/shop", headers={"Origin": HOST_ORIGIN}) as response,
        ):
            hello = await response.json()
        assert (hello["locale"], hello["strings"]) == ("de", strings)


async def test_the_admin_api_sets_changes_and_removes_a_sites_language_and_words(data_dir: Path) -> None:
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        headers = {"Authorization": f"Bearer {secret}"}
        base = f"{server.url}/api/admin/sites"

        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, base + path, json=body, headers=headers) as response:
                return response.status, await response.json()

        status, site = await call("POST", "", {"id": "acme", "name": "ACME", "locale": "nl"})
        assert status == 201 and site["locale"] == "nl"
        status, site = await call("PATCH", "/acme", {"strings": {"nl": {"greeting": "Hoi!"}}})
        assert status == 200 and (site["locale"], site["strings"]) == ("nl", {"nl": {"greeting": "Hoi!"}})
        status, error = await call("PATCH", "/acme", {"strings": {"nl": {"groet": "Hoi!"}}})
        assert status == 400 and error["field"] == "acme.strings.nl.groet"
        assert "unknown string id" in error["message"]
        status, site = await call("PATCH", "/acme", {"locale": None, "strings": None})  # null: back to none
        assert status == 200 and "locale" not in site and "strings" not in site
        assert server.runtime.sites.get("acme").locale is None  # type: ignore[union-attr]


async def test_the_admin_page_sets_a_sites_language_and_own_words(server: Server) -> None:
    async with browser(server) as page:
        words = (
            "greeting = Welcome to ACME!\nde.greeting = Willkommen bei ACME!\n\nback_minutes.one = Soon.\n"
        )
        assert (
            await create(page, locale="de", strings=words + "back_minutes.other = In {n} min.")
        ).status == 303
        site = server.runtime.sites.get("acme")
        assert site is not None and site.locale == "de"
        assert site.strings == {
            "greeting": "Welcome to ACME!",
            "de": {"greeting": "Willkommen bei ACME!"},
            "back_minutes": {"one": "Soon.", "other": "In {n} min."},
        }
        # Plural forms need "other": the problem stands under the field, naming the line's id.
        refused = await page.post("/admin/sites/acme", {"name": "ACME", "backend": "local", "strings": words})
        assert refused.status == 400
        assert field_error(await refused.text(), "f-strings") == "back_minutes: Plural forms need 'other'."
        edit = {"name": "ACME", "backend": "local", "locale": "fr", "strings": "fr.greeting = Bonjour !"}
        assert (await page.post("/admin/sites/acme", edit)).status == 303
        site = server.runtime.sites.get("acme")
        assert site is not None and (site.locale, site.strings) == ("fr", {"fr": {"greeting": "Bonjour !"}})
        _, text = await page.get("/admin/sites/acme")
        assert '<option value="fr" selected>French (Français)</option>' in text
        assert "fr.greeting = Bonjour !</textarea>" in text
        refused = await page.post("/admin/sites/acme", {**edit, "strings": "fr.greting = Salut"})
        assert field_error(await refused.text(), "f-strings") == (
            "fr.greting: Unknown string id (did you mean 'greeting'? the ids are listed in docs/embedding.md)"
        )
        refused = await page.post("/admin/sites/acme", {**edit, "strings": "just words"})
        assert (field_error(await refused.text(), "f-strings") or "").startswith("Line 1: write one string")
        # Emptied: no language, no own words.
        assert (await page.post("/admin/sites/acme", {"name": "ACME", "backend": "local"})).status == 303
        site = server.runtime.sites.get("acme")
        assert site is not None and (site.locale, site.strings) == (None, None)


def test_every_language_has_a_name_for_the_admin_page() -> None:
    assert set(LANGUAGE_NAMES) == set(LOCALES)


def test_the_embedding_guide_lists_every_string_with_its_english() -> None:
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", guide.split("### The strings", 1)[1], re.MULTILINE))
    assert sorted(listed) == sorted(ENGLISH)
    for string_id, english in ENGLISH.items():
        forms = english.values() if isinstance(english, dict) else [english]
        assert all(form in listed[string_id] for form in forms), string_id
