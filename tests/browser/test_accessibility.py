"""Accessibility and the phone, in Chromium: axe-core (the engine behind Lighthouse's accessibility audit)
finds no violation on the agent console, the admin pages, the login page and the demo page, at a desktop
width and at a phone's 390 px; and at 390 px nothing is wider than the screen and the console's Sign out
is on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.browser.support import SITE, Browsing, Console, Stack, Widget, shot
from tests.support.clients import Server, make_config, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
AXE = Axe()


async def violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each with the elements concerned."""
    results = await AXE.run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
        for v in found
    ]


OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) out.push(`the page is ${page} px wide`);
  const held = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const clips = getComputedStyle(up).overflowX !== 'visible';
      if (clips && up.getBoundingClientRect().right <= width + 0.5) return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    const fixed = getComputedStyle(el).position === 'fixed';
    if (box.width && box.right > width + 0.5 && !fixed && !held(el)) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + [...el.classList].join('.');
      out.push(`${name} ends at ${Math.round(box.right)} px`);
    }
  }
  return out.slice(0, 10);
}"""


async def overflow(page: Page) -> list[str]:
    """What makes the page scroll sideways or cuts content off at the right edge: the page wider than the
    viewport, and elements that reach past it (but for those inside a box that scrolls or clips them
    within the viewport, like a code sample that scrolls on its own)."""
    result: list[str] = await page.evaluate(OVERFLOW_JS)
    return result


async def check(page: Page, name: str) -> None:
    """Both widths: no axe violation at either; at the phone's, nothing sideways. Screenshots of both."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(100)  # the layout settles after the resize (one frame is enough)
        await shot(page, f"a11y-{name}-{label}")
        assert await violations(page) == [], f"{name} at {label} width"
        if label == "phone":
            assert await overflow(page) == [], f"{name} at 390 px"


async def console_with_a_chat(browsing: Browsing) -> Console:
    """The console with one visitor waiting and that chat open in the pane."""
    widget = await browsing.visitor()
    await widget.open()
    await widget.start("Ada")
    await widget.say("Do you ship to Norway?")
    console = await browsing.console()
    await console.waiting("Ada").click()
    await expect(console.page.get_by_role("button", name="Accept", exact=True)).to_be_visible()
    return console


async def test_the_console_passes_axe_and_fits_a_phone(browsing: Browsing) -> None:
    console = await browsing.console()
    await check(console.page, "console-empty")
    page = (await console_with_a_chat(browsing)).page
    await check(page, "console-waiting-chat")
    await page.get_by_role("button", name="Accept", exact=True).click()
    await expect(page.get_by_label("Reply", exact=True)).to_be_enabled()
    await check(page, "console-active-chat")
    await page.set_viewport_size(PHONE)
    sign_out = page.get_by_role("button", name="Sign out")
    await expect(sign_out).to_be_in_viewport(ratio=1)


async def test_the_consoles_notes_canned_responses_shortcuts_and_earlier_chats_pass_axe(
    browsing: Browsing,
) -> None:
    """The composer in note mode, the "/" list, and each dialog of the console, open."""
    widget = await browsing.visitor()
    await widget.open()
    await widget.start("Ada")
    await widget.say("Where is my order?")
    console = await browsing.console()
    page = console.page
    await console.accept("Ada")
    await console.end_chat()
    await widget.new_chat_button.click()
    await widget.start("Ada")
    await console.accept("Ada")
    await page.get_by_role("radio", name="Note (only your team sees it)").check()
    await page.get_by_label("Note", exact=True).fill("Second chat today.")
    await check(page, "console-note-mode")
    await page.get_by_role("radio", name="Reply (the visitor sees it)").check()
    await console.reply_box.fill("")
    await console.reply_box.press_sequentially("/")
    await expect(page.locator(".canned-pop")).to_be_visible()
    await check(page, "console-canned-picker")
    await console.reply_box.press("Escape")

    await page.get_by_role("button", name="Canned responses").click()
    dialog = page.get_by_role("dialog", name="Canned responses")
    await check(page, "console-canned-dialog")
    await dialog.get_by_role("button", name="New response").click()
    browsing.expect_console_error("status of 400")  # the empty form is refused, as it should be
    await dialog.get_by_role("button", name="Add").click()  # the form with its error
    await expect(dialog.locator(".canned-field-error").first).to_be_visible()
    await check(page, "console-canned-form")
    await page.keyboard.press("Escape")

    await page.get_by_role("button", name="Keyboard shortcuts").click()
    await check(page, "console-shortcuts-dialog")
    await page.keyboard.press("Escape")

    await page.set_viewport_size(DESKTOP)
    await page.get_by_role("region", name="Earlier chats").get_by_role("button").click()
    await expect(page.get_by_role("dialog").locator(".msg.visitor")).to_have_count(1)
    await check(page, "console-earlier-chat")


async def test_the_admin_pages_pass_axe_and_fit_a_phone(browsing: Browsing, stack: Stack) -> None:
    console = await browsing.console()  # the default admin is an operator: the console's login serves both
    page = console.page
    for path, name in (
        ("/admin", "admin-sites"),
        (f"/admin/sites/{SITE}", "admin-site"),
        ("/admin/sites/new", "admin-new-site"),
        ("/admin/audit", "admin-audit"),
        ("/admin/users", "admin-users"),
    ):
        await page.goto(stack.widget + path)
        await check(page, name)


async def test_the_chat_history_passes_axe_and_fits_a_phone(browsing: Browsing, stack: Stack) -> None:
    console = await console_with_a_chat(browsing)
    page = console.page
    await page.get_by_role("link", name="History").click()
    await expect(page.get_by_role("heading", name="Chat history")).to_be_visible()
    await check(page, "history-search")
    await page.get_by_label("Words").fill("Norway")
    await page.get_by_role("button", name="Search").click()
    await page.locator(".history-table .when a").first.click()
    await expect(page.get_by_role("heading", name="Ada")).to_be_visible()
    await expect(page.get_by_text("Do you ship to Norway?")).to_be_visible()
    await check(page, "history-chat")
    browsing.expect_console_error("status of 400")  # the form with its error is a 400, as it should be
    await page.goto(stack.widget + "/agent/history?from=soon")
    await check(page, "history-search-error")


async def test_the_login_page_passes_axe_and_fits_a_phone(browsing: Browsing, stack: Stack) -> None:
    page = await (await browsing.context()).new_page()
    await page.goto(stack.widget + "/agent/login")
    await check(page, "login")
    await page.get_by_role("button", name="Sign in").click()  # empty fields: the page with its errors
    await check(page, "login-errors")


@pytest_asyncio.fixture(loop_scope="session")
async def demo_server(tmp_path: Path) -> AsyncIterator[Server]:
    """A server with no configuration: the demo site and its demo page."""
    async with running(make_config(tmp_path / "demo")) as server:
        yield server


async def test_the_demo_page_passes_axe_and_fits_a_phone(browsing: Browsing, demo_server: Server) -> None:
    browsing.allow_origin(demo_server.url)
    page = await (await browsing.context()).new_page()
    await page.goto(demo_server.url + "/")
    widget = Widget(page, demo_server.url)
    await expect(widget.launcher).to_be_visible()
    await check(page, "demo")
    await widget.open()  # and the widget's own window, in its shadow root (axe looks into open ones)
    await check(page, "demo-widget-open")
