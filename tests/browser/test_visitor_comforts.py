"""What visitors expect of a chat widget besides chatting (issue 16, point 5), in Chromium: formatting both
ways with no way in for HTML, read receipts, "End chat" that asks first, the dark theme with the site's
colour kept readable, the usual reply time, and a sound and title badge for a message in a hidden tab."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, expect

from tests.browser.support import SITE, Browsing, Stack, Widget, serving_stack, shot
from tests.support.clients import Agent
from widget_server import model

pytestmark = pytest.mark.asyncio(loop_scope="session")

TITLE = "Trail Tent 2 · Nordic Outdoor"  # the host page's title at "/"

# The page's tab hidden and shown again at the test's word (a headless tab is always visible), and the
# chimes counted: every oscillator the page makes. The browser's own objects, not the widget's code.
HIDDEN_TAB_JS = """(() => {
  let hidden = false;
  const state = () => (hidden ? "hidden" : "visible");
  Object.defineProperty(Document.prototype, "visibilityState", { get: state });
  Object.defineProperty(Document.prototype, "hidden", { get: () => hidden });
  window.setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
  window.bells = 0;
  const make = window.AudioContext && AudioContext.prototype.createOscillator;
  if (make) AudioContext.prototype.createOscillator = function () { window.bells++; return make.call(this); };
})()"""

# Markers, lists, links, and what must never work: HTML, javascript: and data: links, nested markers.
HOSTILE = (
    "**bold** and _it_ <img src=x onerror=alert(1)> [x](javascript:alert(1)) javascript:alert(1) "
    "data:text/html,<script>alert(2)</script> **_both_** snake_case_name http://example.com/a_b_(c).\n"
    "- one\n- two **b**\n1. first\n2. second\nend <b>bold?</b> http://%zz"
)
LINK = 'target="_blank" rel="noopener noreferrer nofollow"'
FORMATTED = (
    "<strong>bold</strong> and <em>it</em> &lt;img src=x onerror=alert(1)&gt; [x](javascript:alert(1)) "
    "javascript:alert(1) data:text/html,&lt;script&gt;alert(2)&lt;/script&gt; <strong><em>both</em></strong> "
    f'snake_case_name <a href="http://example.com/a_b_(c)" {LINK}>http://example.com/a_b_(c)</a>.'
    '<ul><li>one</li><li>two <strong>b</strong></li></ul><ol start="1"><li>first</li><li>second</li></ol>'
    "end &lt;b&gt;bold?&lt;/b&gt; http://%zz"
)
REPLY = "**Yes**, see _https://example.com/x_ (not javascript:alert(3))"
REPLY_FORMATTED = (
    f'<strong>Yes</strong>, see <em><a href="https://example.com/x" {LINK}>https://example.com/x</a></em>'
    " (not javascript:alert(3))"
)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The browser suite's stack; a test parametrised indirectly gives the site more settings."""
    async with serving_stack(data_dir, **getattr(request, "param", {})) as stack:
        yield stack


async def hideable(browsing: Browsing, **options: Any) -> BrowserContext:
    context = await browsing.context(**options)
    await context.add_init_script(HIDDEN_TAB_JS)
    return context


async def test_formatting_both_ways_read_receipts_and_an_end_that_asks_first(browsing: Browsing) -> None:
    widget = await browsing.visitor("/", context=await hideable(browsing))
    await widget.open()
    await expect(widget.status).to_have_text("We'll reply as soon as we can")  # nobody online, no figure
    await widget.start("Kim")
    await widget.box.fill(HOSTILE)
    await widget.box.press("Enter")
    mine = widget.host.locator(".log .msg.me")
    await expect(mine).to_have_count(1)
    await expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    assert await widget.my_bubbles.first.inner_html() == FORMATTED
    await expect(widget.host.locator(".seen")).to_have_count(0)  # no agent has seen it

    console = await browsing.console()
    await console.accept("Kim")
    visitor_bubble = console.transcript.locator(".msg.visitor .bubble")
    assert await visitor_bubble.first.inner_html() == FORMATTED  # the console formats it alike
    # The console shows the chat: the visitor sees "Seen" under their message.
    await expect(mine.locator(".seen")).to_have_text("Seen")
    await widget.say("And the poles?")
    await expect(mine.last.locator(".seen")).to_be_visible()  # moved to the last one the agent has seen
    await expect(widget.host.locator(".seen")).to_have_count(1)

    # The tab is hidden when the reply comes: the site did not ask for alerts, the title stays.
    await widget.page.evaluate("setHidden(true)")
    await console.reply_box.fill(REPLY)
    await console.reply_box.press("Enter")
    await expect(widget.agent_bubbles).to_have_count(1)
    assert await widget.agent_bubbles.first.inner_html() == REPLY_FORMATTED
    assert await console.transcript.locator(".msg.agent .bubble").first.inner_html() == REPLY_FORMATTED
    assert await widget.page.title() == TITLE and await widget.page.evaluate("bells") == 0
    await widget.page.evaluate("setHidden(false)")
    for page in (widget.page, console.page):
        hrefs = await page.evaluate(
            "() => [...document.querySelectorAll('a'), ...document.querySelector('widget-server-chat')"
            "?.shadowRoot.querySelectorAll('a') || []].map(a => a.protocol)"
        )
        assert set(hrefs) <= {"http:", "https:"}, hrefs
    await shot(widget.page, "30-formatting-and-seen")
    await shot(console.page, "31-console-formatting")

    # A reload: the receipt comes again with the chat (replayed on resume).
    await widget.page.reload()
    await expect(mine.last.locator(".seen")).to_have_text("Seen")

    # "End chat" asks first, in the window, by keyboard; Escape takes the question back.
    end = widget.host.get_by_role("button", name="End chat")
    question = widget.host.get_by_role("alertdialog", name="End this chat?")
    await end.click()
    await expect(question).to_be_visible()
    await expect(question.get_by_role("button", name="Cancel")).to_be_focused()
    await shot(widget.page, "32-end-chat-asks")
    await widget.page.keyboard.press("Escape")
    await expect(question).to_be_hidden()
    await expect(end).to_be_focused()
    await expect(widget.window).to_be_visible()  # Escape closed the question, not the window
    await widget.page.keyboard.press("Enter")
    await expect(question).to_be_visible()
    await widget.page.keyboard.press("Shift+Tab")
    await expect(question.get_by_role("button", name="End chat")).to_be_focused()
    await widget.page.keyboard.press("Enter")
    await expect(widget.status).to_have_text("Chat ended")
    await expect(question).to_be_hidden()


def luminance(rgb: tuple[float, ...]) -> float:
    channels = [v / 255 for v in rgb[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


COLOURS_JS = """host => {
  const root = host.shadowRoot;
  const rgb = (selector, property) =>
    getComputedStyle(root.querySelector(selector))[property].match(/[\\d.]+/g).slice(0, 3).map(Number);
  return {
    brand: rgb('.head', 'backgroundColor'), ink: rgb('.head .title', 'color'),
    window: rgb('.pre', 'backgroundColor'), text: rgb('.pre .hi', 'color'), muted: rgb('.pre .lead', 'color'),
    button: rgb('.pre .primary', 'backgroundColor'), label: rgb('.pre .primary', 'color'),
  };
}"""


async def test_the_dark_theme_keeps_the_sites_colour_readable(browsing: Browsing, stack: Stack) -> None:
    async with Agent.connected(stack.server):  # the pre-chat form, with its start button in the colour
        for name, colour in [("navy", "#0b1f4d"), ("yellow", "#ffd43b")]:
            for scheme in ("light", "dark"):
                page = await (await browsing.context(color_scheme=scheme)).new_page()
                await page.goto(f"{stack.host}/?widget=0")
                await page.evaluate(
                    """([src, site, colour]) => {
                      const script = document.createElement('script');
                      Object.assign(script.dataset, { site, color: colour });
                      script.src = src;
                      document.body.append(script);
                    }""",
                    [f"{stack.widget}/widget.js", SITE, colour],
                )
                widget = Widget(page, stack.widget)
                await widget.open()
                seen = await widget.host.evaluate(COLOURS_JS)
                given = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
                where = f"{name} in {scheme}: {seen}"
                assert contrast(seen["ink"], seen["brand"]) >= 4.5, where
                assert contrast(seen["label"], seen["button"]) >= 4.5, where
                assert contrast(seen["text"], seen["window"]) >= 4.5, where
                assert contrast(seen["muted"], seen["window"]) >= 4.5, where
                if scheme == "dark":
                    assert luminance(seen["window"]) < 0.05, where  # dark indeed
                    assert contrast(seen["brand"], seen["window"]) >= 3, where  # stands out from it
                # Only a colour too dark for the dark window is changed, and only there.
                changed = tuple(seen["brand"]) != given
                assert changed == (name == "navy" and scheme == "dark"), where
                await shot(page, f"33-theme-{name}-{scheme}")


@pytest.mark.parametrize("stack", [{"notify": True}], indirect=True)
async def test_the_usual_reply_time_and_a_hidden_tabs_chime_and_title(
    browsing: Browsing, stack: Stack
) -> None:
    runtime = stack.server.runtime
    now = model.now_ms()
    for n in range(5):  # five chats answered within two minutes
        chat = model.Chat(f"old{n}", SITE, "local", model.ENDED, model.Visitor("V"), now - 120_000)
        await runtime.store.create_chat(chat, [model.message(model.AGENT, "Ana", "Hi")])
    await runtime.reply_times.refresh()
    async with Agent.connected(stack.server) as agent:
        german = await browsing.visitor("/?lang=de")
        await german.open()
        await expect(german.status).to_have_text("Antwortet meist in wenigen Minuten")
        widget = await browsing.visitor("/", context=await hideable(browsing))
        await widget.open()
        await expect(widget.status).to_have_text("Usually replies in a few minutes")
        await shot(widget.page, "34-usually-replies")
        await widget.start("Sam")  # clicks in the widget: sound is allowed from now on
        chat = await widget.chat_id()
        await agent.accept(chat)
        await expect(widget.status).to_have_text("Chatting with Admin")
        await widget.page.evaluate("setHidden(true)")
        await agent.say(chat, "Hello Sam", id="a1")
        await expect(widget.page).to_have_title(f"(1) {TITLE}")
        await agent.say(chat, "Still there?", id="a2")
        await expect(widget.page).to_have_title(f"(2) {TITLE}")
        assert await widget.page.evaluate("bells") == 2
        await widget.page.evaluate("setHidden(false)")
        await expect(widget.page).to_have_title(TITLE)
        await agent.say(chat, "Good, you're back", id="a3")  # seen at once: no chime, no badge
        await expect(widget.agent_bubbles).to_have_count(3)
        assert await widget.page.title() == TITLE and await widget.page.evaluate("bells") == 2
