"""The widget in the visitor's language (issue 16): every language it has, rendered in Chromium through
the offline form, the pre-chat form, a chat with a queue place and an agent joining, and the rating,
with no English left and nothing overflowing; right to left for Arabic and Hebrew; plural forms by
Intl.PluralRules, dates and times by Intl.DateTimeFormat; which language it picks; a site's own words;
and errors said in the visitor's language."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import WebSocketRoute, expect

from tests.browser.support import SITE, Browsing, Stack, Widget, attach, serving_stack, shot
from tests.support.clients import Agent, Visitor
from widget_server.availability import DAYS
from widget_server.widget_strings import ENGLISH, LOCALE_DIR, LOCALES

pytestmark = pytest.mark.asyncio(loop_scope="session")

RIGHT_TO_LEFT = {"ar", "he"}
SCREENSHOTS = {"ar", "he", "de", "ja"}  # looked at by a person: two of each direction


def strings(code: str) -> dict[str, Any]:
    if code == "en":
        return dict(ENGLISH)
    return {**ENGLISH, **json.loads((LOCALE_DIR / f"{code}.json").read_text(encoding="utf-8"))}


def say(code: str, string_id: str, plural: str = "other", **values: object) -> str:
    """A string as the widget shows it in that language (numbers as written here: plain digits)."""
    text = strings(code)[string_id]
    if isinstance(text, dict):
        text = text.get(plural, text["other"])
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The browser suite's stack; a test parametrised indirectly gives the site more settings."""
    settings: Callable[[], dict[str, Any]] = getattr(request, "param", dict)
    async with serving_stack(data_dir, **settings()) as stack:
        yield stack


# Every text a person or a screen reader gets from the widget as it is now: text nodes of rendered
# elements and the labels, placeholders and titles of controls (a time's title is a date, not words).
VISIBLE_TEXT_JS = """host => {
  const root = host.shadowRoot, found = [];
  const shown = el => el.checkVisibility();  // screen-reader-only text counts: it is clipped, not hidden
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    const el = node.parentElement;
    if (el && shown(el) && node.data.trim() && !el.closest('style')) found.push(node.data.trim());
  }
  for (const el of root.querySelectorAll('[aria-label], [placeholder], [title]:not(time)')) {
    if (!shown(el)) continue;
    for (const name of ['aria-label', 'placeholder', 'title']) {
      if (el.getAttribute(name)) found.push(el.getAttribute(name));
    }
  }
  return found;
}"""

# What sticks out of the widget's window: an element wider than the window or beyond its sides, text
# wider than its box (cut off or spilling over), a button's label on two lines (links may wrap), anything
# but the scrolled parts beyond the window's top or bottom.
OVERFLOW_JS = """host => {
  const root = host.shadowRoot, win = root.querySelector('.win').getBoundingClientRect(), bad = [];
  for (const el of root.querySelectorAll('.win *')) {
    if (!el.checkVisibility() || el.closest('.sr') || el instanceof SVGElement) continue;
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    const name = el.localName + '.' + el.className + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
    if (r.left < win.left - 1 || r.right > win.right + 1) bad.push('sideways: ' + name);
    else if (!el.closest('.scroll, .pre') && (r.top < win.top - 1 || r.bottom > win.bottom + 1)) {
      bad.push('out: ' + name);
    }
    if (el.clientWidth && el.scrollWidth > el.clientWidth + 1) bad.push('text wider than its box: ' + name);
    if (el.localName === 'button' && !el.classList.contains('link') && el.textContent.trim()) {
      const range = document.createRange();
      range.selectNodeContents(el);
      const lines = new Set([...range.getClientRects()].map(line => Math.round(line.top)));
      if (lines.size > 1) bad.push('a button of one line on two: ' + name);
    }
  }
  return bad;
}"""


class Tour:
    """A visitor going through every view of the widget in one language, noting what they saw."""

    def __init__(self, widget: Widget, code: str) -> None:
        self.widget = widget
        self.code = code
        self.seen: list[str] = []

    def text(self, string_id: str, plural: str = "other", **values: object) -> str:
        return say(self.code, string_id, plural, **values)

    async def look(self, view: str) -> None:
        """Note the texts on screen; nothing may overflow; a screenshot for a person in some languages."""
        self.seen += await self.widget.host.evaluate(VISIBLE_TEXT_JS)
        overflowing = await self.widget.host.evaluate(OVERFLOW_JS)
        assert overflowing == [], f"{self.code}, {view}: {overflowing}"
        if self.code in SCREENSHOTS:
            await shot(self.widget.page, f"80-{self.code}-{view}")

    def english_left(self) -> list[str]:
        """English strings on screen where this language has its own: none may be left."""
        if self.code == "en":
            return []
        screen = "\n".join(self.seen)
        left = []
        ours = strings(self.code)
        # A word the language's own strings use is its word too (French "Comment s'est passée…").
        own = "\n".join(
            v for value in ours.values() for v in (value.values() if isinstance(value, dict) else [value])
        )
        for string_id, english in ENGLISH.items():
            if ours[string_id] == english:
                continue  # the same word in both ("Name" in German, "KB")
            for form in english.values() if isinstance(english, dict) else [english]:
                parts = [part.strip(" .…") for part in re.split(r"\{\w+\}", form)]
                # A whole string however short ("Send"); the words around a placeholder when they are
                # words of a sentence, not one that other languages share ("{n} file": Italian "file").
                for part in parts if len(parts) == 1 else [p for p in parts if " " in p]:
                    word = re.compile(rf"(?<!\w){re.escape(part)}(?!\w)")
                    if len(part) >= 3 and word.search(screen) and not word.search(own):
                        left.append(f"{string_id}: {part!r}")
        return left


@pytest.mark.parametrize("code", LOCALES)
async def test_every_language_renders_with_no_english_left_and_nothing_overflowing(
    browsing: Browsing, stack: Stack, code: str
) -> None:
    widget = await browsing.visitor(f"/?lang={code}")
    tour = Tour(widget, code)
    host = widget.host
    direction = "rtl" if code in RIGHT_TO_LEFT else "ltr"
    await expect(widget.launcher).to_have_attribute("aria-label", tour.text("open"))
    await expect(host.locator(".root")).to_have_attribute("lang", code)
    await expect(host.locator(".root")).to_have_attribute("dir", direction)
    await widget.open()
    await expect(widget.launcher).to_have_attribute("aria-label", tour.text("close"))

    # Nobody online: the offline form, its checks, then the pre-chat form "anyway", with its note.
    form = host.locator("form.pre")
    await expect(form.locator(".hi")).to_have_text(tour.text("offline_title"))
    await expect(form.locator(".lead")).to_have_text(tour.text("offline_lead"))
    await form.locator("button[type=submit]").click()
    await expect(host.locator("#f-oname-err")).to_have_text(tour.text("need_name"))
    await expect(host.locator("#f-omsg-err")).to_have_text(tour.text("need_message"))
    await host.locator("#f-oemail").fill("kim@example")
    await expect(host.locator("#f-oemail-err")).to_have_text(tour.text("bad_email"))
    await tour.look("offline")
    await host.locator("#f-oemail").fill("")
    await form.get_by_role("button", name=tour.text("anyway")).click()
    await expect(host.locator(".note")).to_contain_text(tour.text("queue_note"))
    await expect(form.locator(".hi")).to_have_text(tour.text("greeting"))
    await tour.look("pre-chat")

    async with (
        Visitor.connected(stack.server, site=SITE, origin=stack.host) as first,
        Agent.connected(stack.server) as agent,
    ):
        await first.start("Ola")  # so that ours is number 2 in the queue
        await expect(host.locator(".note")).to_be_hidden()  # an agent is online now
        await host.locator("#f-name").fill("Kim")
        await form.locator("button[type=submit]").click()
        await expect(widget.status).to_have_text(tour.text("waiting_place", n=2))
        await expect(host.locator(".log .sys").first).to_contain_text(tour.text("started"))
        await tour.look("queued")

        chat = await widget.chat_id()
        await agent.accept(chat)
        await expect(widget.status).to_have_text(tour.text("chatting", name="Admin"))
        await expect(host.locator(".log .sys").last).to_contain_text(tour.text("joined", name="Admin"))
        await host.locator("#msg").fill("Hej!")
        await host.locator("#msg").press("Enter")
        await agent.say(chat, "Hej, Kim :)", id="a1")
        await expect(host.locator(".log .msg.agent .bubble")).to_have_text(["Hej, Kim :)"])
        await agent.send({"type": "typing", "chat": chat, "active": True})
        await expect(widget.typing).to_have_text(tour.text("typing", name="Admin"))
        await expect(host.locator(".log .msg.me:not(.pending)")).to_have_count(1)
        await tour.look("chat")
        await mirrored_as_the_language_reads(widget, code)

        await agent.send({"type": "end", "chat": chat})
        await expect(widget.status).to_have_text(tour.text("ended"))
        rate = host.locator(".rate")
        await expect(rate.locator(".rq")).to_have_text(tour.text("rate_question"))
        await rate.get_by_role("button", name=tour.text("good"), exact=True).click()
        await expect(rate.locator("[role=status]")).to_have_text(tour.text("thanks"))
        await expect(rate.locator(".rq")).to_have_text(tour.text("rated") + tour.text("good"))
        await tour.look("rating")

    assert tour.english_left() == []
    # The language's own words were on screen: the checks above did not pass on English by chance.
    for string_id in ("close", "name", "send_message", "placeholder", "new_chat", "comment_placeholder"):
        assert tour.text(string_id) in tour.seen, string_id


async def mirrored_as_the_language_reads(widget: Widget, code: str) -> None:
    """Right to left: the agent's messages on the right, mine on the left, the window's buttons on the
    left of its title; the launcher and the window stay on the side the site chose (the right)."""
    boxes = await widget.host.evaluate(
        """host => Object.fromEntries(['.msg.me .bubble', '.msg.agent .bubble', '.head .title',
            '.head .hbtn:last-child', '.launcher', '.win'].map(s => {
          const r = host.shadowRoot.querySelector(s).getBoundingClientRect();
          return [s, [r.left, r.right]];
        }))"""
    )
    width = widget.page.viewport_size["width"] if widget.page.viewport_size else 1280
    mine, agents = boxes[".msg.me .bubble"], boxes[".msg.agent .bubble"]
    title, minimize = boxes[".head .title"], boxes[".head .hbtn:last-child"]
    if code in RIGHT_TO_LEFT:
        assert mine[0] < agents[0] and agents[1] > mine[1], boxes
        assert minimize[1] <= title[0], boxes
    else:
        assert mine[1] > agents[1] and agents[0] < mine[0], boxes
        assert title[1] <= minimize[0], boxes
    assert abs(boxes[".launcher"][1] - (width - 20)) <= 1, boxes  # the site's side, not the language's
    assert abs(boxes[".win"][1] - (width - 20)) <= 1, boxes


def open_only_tomorrow() -> dict[str, Any]:
    """Closed all day today (UTC), open all day tomorrow: `hello` says the site opens at midnight UTC."""
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    return {"hours": {"timezone": "UTC", tomorrow: ["00:00-24:00"]}}


def opening_tomorrow() -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)


# "We're back in N minutes" by each language's plural rules: Polish and Russian have one, few and many,
# Arabic one, two, few and many as well.
BACK_IN_MINUTES = {
    "pl": {
        1: "Wracamy za 1 minutę.",
        2: "Wracamy za 2 minuty.",
        5: "Wracamy za 5 minut.",
        22: "Wracamy za 22 minuty.",
    },
    "ru": {
        1: "Вернёмся через 1 минуту.",
        3: "Вернёмся через 3 минуты.",
        11: "Вернёмся через 11 минут.",
        21: "Вернёмся через 21 минуту.",
    },
    "ar": {
        1: "سنعود خلال دقيقة واحدة.",
        2: "سنعود خلال دقيقتين.",
        5: "سنعود خلال 5 دقائق.",
        11: "سنعود خلال 11 دقيقة.",
    },
    "en": {1: "We're back in 1 minute.", 5: "We're back in 5 minutes."},
}


@pytest.mark.parametrize("stack", [open_only_tomorrow], indirect=True)
@pytest.mark.parametrize("code", sorted(BACK_IN_MINUTES))
async def test_plural_forms_follow_the_languages_rules(browsing: Browsing, stack: Stack, code: str) -> None:
    context = await browsing.context(timezone_id="UTC")
    page = await context.new_page()
    opens = opening_tomorrow()
    for minutes, sentence in BACK_IN_MINUTES[code].items():
        # The visitor's clock says the site opens in so many minutes (the server's hours are real).
        await page.clock.set_fixed_time(opens - timedelta(minutes=minutes))
        await page.goto(f"{stack.host}/?lang={code}")
        widget = Widget(page, stack.widget)
        await widget.open()
        await expect(widget.host.locator("form.pre .lead")).to_have_text(
            say(code, "back_lead", back=sentence)
        )


@pytest.mark.parametrize("code", ["ru", "pl"])
async def test_the_unread_count_says_its_plural(browsing: Browsing, stack: Stack, code: str) -> None:
    widget = await browsing.visitor(f"/?lang={code}")
    words = {
        "ru": {1: "1 непрочитанное", 2: "2 непрочитанных", 5: "5 непрочитанных"},
        "pl": {1: "1 nieprzeczytana", 2: "2 nieprzeczytane", 5: "5 nieprzeczytanych"},
    }[code]
    async with Agent.connected(stack.server) as agent:
        await widget.open()
        await widget.host.locator("#f-name").fill("Kim")
        await widget.host.locator("form.pre button[type=submit]").click()
        await expect(widget.status).to_contain_text(say(code, "waiting"))
        chat = await widget.chat_id()
        await agent.accept(chat)
        await widget.host.locator(".hbtn:not(.end)").click()  # minimise
        for count in range(1, 6):
            await agent.say(chat, f"#{count}", id=f"a{count}")
            if count in words:
                await expect(widget.badge).to_have_text(words[count])
                await expect(widget.launcher).to_have_accessible_description(words[count])


WEEKDAYS = {
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "ja": ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def open_in_three_days() -> dict[str, Any]:
    day = DAYS[(datetime.now(UTC) + timedelta(days=3)).weekday()]
    return {"hours": {"timezone": "UTC", day: ["09:30-17:00"]}}


@pytest.mark.parametrize("stack", [open_in_three_days], indirect=True)
@pytest.mark.parametrize("code", sorted(WEEKDAYS))
async def test_the_day_and_time_of_opening_are_the_visitors(
    browsing: Browsing, stack: Stack, code: str
) -> None:
    """Intl.DateTimeFormat in the widget's language and the visitor's time zone: a weekday and a time."""
    zone = "Asia/Kolkata"  # UTC+5:30: the time shown is the visitor's own
    widget = await browsing.visitor(f"/?lang={code}", locale="en-GB", timezone_id=zone)
    await widget.open()
    opens = datetime.combine(datetime.now(UTC).date() + timedelta(days=3), datetime.min.time(), UTC)
    local = (opens + timedelta(hours=9, minutes=30)).astimezone(ZoneInfo(zone))
    back = say(code, "back_on", day=WEEKDAYS[code][local.weekday()], time=f"{local:%H:%M}")
    # English in en-GB's 24-hour clock: the browser's own variant of the widget's language.
    await expect(widget.host.locator("form.pre .lead")).to_have_text(say(code, "back_lead", back=back))


SITE_DEFAULT_FRENCH = {"locale": "fr"}


@pytest.mark.parametrize("stack", [lambda: SITE_DEFAULT_FRENCH], indirect=True)
@pytest.mark.parametrize(
    ("query", "browser_languages", "chosen"),
    [
        ("?locale=de&lang=es", "it-IT", "de"),  # data-locale first
        ("?lang=es-MX", "it-IT", "es"),  # then the page's lang
        ("?lang=", "it-IT", "it"),  # then the browser's languages
        ("?lang=sv", "pt-BR", "pt"),  # a lang we do not have is passed over
        ("?lang=", "en-US", "en"),  # English is a language the browser asked for
        ("?lang=", "sv-SE", "fr"),  # nothing we have: the site's default
        ("?locale=xx&lang=fi", "sv-SE", "fr"),
    ],
)
async def test_the_language_is_chosen_in_order(
    browsing: Browsing, stack: Stack, query: str, browser_languages: str, chosen: str
) -> None:
    widget = await browsing.visitor("/" + query, locale=browser_languages)
    await expect(widget.launcher).to_have_attribute("aria-label", say(chosen, "open"))
    await expect(widget.host.locator(".root")).to_have_attribute("lang", chosen)


OWN_WORDS = {
    "strings": {
        "greeting": "Welcome to Nordic Outdoor!",
        "start": "Talk to a ranger",
        "de": {"greeting": "Willkommen bei Nordic Outdoor!"},
    }
}


@pytest.mark.parametrize("stack", [lambda: OWN_WORDS], indirect=True)
async def test_a_sites_own_words_show_in_every_language_they_are_given_for(
    browsing: Browsing, stack: Stack
) -> None:
    async with Agent.connected(stack.server):
        english = await browsing.visitor("/")
        await english.open()
        await expect(english.host.locator(".hi")).to_have_text("Welcome to Nordic Outdoor!")
        await expect(english.host.locator("form.pre button[type=submit]")).to_have_text("Talk to a ranger")
        german = await browsing.visitor("/?lang=de")
        await german.open()
        await expect(german.host.locator(".hi")).to_have_text("Willkommen bei Nordic Outdoor!")
        await expect(german.host.locator("form.pre button[type=submit]")).to_have_text("Talk to a ranger")
        await expect(german.host.locator(".lead")).to_have_text(say("de", "intro"))  # the rest, German
        await shot(german.page, "81-de-own-words")


async def test_errors_are_said_in_the_visitors_language_unless_the_code_is_new(
    browsing: Browsing, stack: Stack
) -> None:
    page = await (await browsing.context()).new_page()
    routes: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        """The widget's socket, passed through to the server, with frames of ours slipped in."""
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))
        server.on_message(lambda message: ws.send(message))
        routes.append(ws)

    await page.route_web_socket(re.compile(r"/ws/shop$"), through)
    await page.goto(f"{stack.host}/?lang=de")
    widget = Widget(page, stack.widget)
    await widget.open()
    await expect(widget.host.locator("form.pre .lead")).to_have_text(say("de", "offline_lead"))
    server_says = "The contact center refused this message."
    routes[-1].send(json.dumps({"type": "error", "code": "not_delivered", "message": server_says}))
    await expect(widget.notice).to_have_text(say("de", "error_not_delivered"))
    routes[-1].send(json.dumps({"type": "error", "code": "teapot", "message": "I'm a teapot."}))
    await expect(widget.notice).to_have_text("I'm a teapot.")  # a code this widget does not know yet
    await shot(page, "82-de-unknown-error")


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(240)  # a Windows .exe


async def test_files_are_said_in_the_visitors_language_too(browsing: Browsing, stack: Stack) -> None:
    """widget-files.js, the upload part, speaks the widget's language: its button, the upload under way,
    the size of a file and the refusals, with the site's limits."""
    browsing.expect_console_error(r"status of (400|413) ")  # Chrome logs fetch()'s error answers
    widget = await browsing.visitor("/?lang=de")
    async with Agent.connected(stack.server):
        await widget.open()
        await widget.host.locator("#f-name").fill("Kim")
        await widget.host.locator("form.pre button[type=submit]").click()
        await expect(widget.status).to_contain_text(say("de", "waiting"))
    clip = widget.host.get_by_role("button", name=say("de", "attach"))
    await attach(widget.page, clip, "setup.png", PROGRAM, "image/png")
    await expect(widget.notice).to_have_text(say("de", "file_type"))
    await attach(widget.page, clip, "handbuch.pdf", PDF + b"0" * (2 * 1024 * 1024), "application/pdf")
    await expect(widget.notice).to_have_text(say("de", "file_too_large", size="2 MB"))
    await attach(widget.page, clip, "preise.pdf", PDF + b"0" * 3000, "application/pdf")
    await expect(widget.host.locator(".log .msg.me a.file")).to_have_text("preise.pdf 4 KB")
