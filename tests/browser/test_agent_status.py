"""Agents' status in Chromium (issue 15): the agent sets away in the console's top bar (by keyboard and by
mouse), a visitor's open widget turns to the offline form and back when they are online again; offline
shows a banner with a way back; the choice survives a reload; the Team section shows a colleague who
signs in elsewhere, live, with their status and open chats. Screenshots of the menu and the Team section
in light and dark mode, and axe-core on the console with the menu open and the banner shown."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.support import Browsing, Console, Stack, Widget, shot
from tests.browser.test_accessibility import DESKTOP, PHONE, overflow, violations
from tests.browser.test_offline_and_rating import OfflineForm
from widget_server import model
from widget_server.passwords import hash_password

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "ana's long password"


class StatusControl:
    """The top bar's status button and its menu."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.button = page.get_by_role("button", name=re.compile(r"^Your status: "))
        self.menu = page.get_by_role("menu", name="Your status")
        self.banner = page.locator("#offline-banner")

    def option(self, status: str) -> Locator:
        return self.page.get_by_role("menuitemradio", name=status, exact=True)

    async def choose(self, status: str) -> None:
        await self.button.click()
        await expect(self.menu).to_be_visible()
        await self.option(status).click()
        await expect(self.menu).to_be_hidden()
        await expect(self.button).to_have_accessible_name(f"Your status: {status}")


async def sign_in(page: Page, widget_origin: str, name: str, password: str) -> Console:
    await page.goto(f"{widget_origin}/agent")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{widget_origin}/agent")
    console = Console(page)
    await expect(console.connection).to_have_text("Connected")
    return console


async def offers_a_chat(widget: Widget) -> None:
    await expect(widget.start_button).to_be_visible()
    await expect(OfflineForm(widget).form).to_be_hidden()


async def offers_the_offline_form(widget: Widget) -> None:
    await expect(OfflineForm(widget).form).to_be_visible()
    await expect(widget.start_button).to_be_hidden()


async def test_away_in_the_console_turns_the_widget_to_the_offline_form_and_online_back(
    browsing: Browsing, stack: Stack
) -> None:
    console = await browsing.console()
    page = console.page
    status = StatusControl(page)
    await expect(status.button).to_have_accessible_name("Your status: Online")
    await expect(status.button).to_have_attribute("aria-expanded", "false")
    await expect(status.banner).to_be_hidden()
    widget = await browsing.visitor("/trail-tent-2")
    await widget.open()
    await offers_a_chat(widget)

    # By keyboard: Enter opens the menu on the current status, Down moves, Enter chooses.
    await status.button.focus()
    await page.keyboard.press("Enter")
    await expect(status.menu).to_be_visible()
    await expect(status.button).to_have_attribute("aria-expanded", "true")
    await expect(status.option("Online")).to_be_focused()
    await expect(status.option("Online")).to_have_attribute("aria-checked", "true")
    await expect(status.option("Away")).to_have_accessible_description("No new chats; yours stay open")
    await status.option("Away").hover()  # the pointer over another option, as a person choosing
    await status.option("Online").focus()
    await shot(page, "status-01-menu-open")
    assert await violations(page) == [], "the console with the status menu open"
    await page.keyboard.press("ArrowDown")
    await expect(status.option("Away")).to_be_focused()
    await page.keyboard.press("ArrowUp")
    await page.keyboard.press("ArrowUp")  # round to the last
    await expect(status.option("Offline")).to_be_focused()
    await page.keyboard.press("Escape")  # nothing chosen: closed, back on the button
    await expect(status.menu).to_be_hidden()
    await expect(status.button).to_be_focused()
    await expect(status.button).to_have_accessible_name("Your status: Online")
    await page.keyboard.press("ArrowDown")
    await expect(status.option("Online")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    await expect(status.menu).to_be_hidden()
    await expect(status.button).to_be_focused()
    await expect(status.button).to_have_accessible_name("Your status: Away")

    # The visitor's open widget: nobody online any more, the offline form.
    await offers_the_offline_form(widget)
    user = await stack.server.runtime.store.get_user("admin")
    assert user is not None and user.status == "away"

    # By mouse, back online: the widget offers a chat again.
    await status.choose("Online")
    await offers_a_chat(widget)

    # Offline: a banner says so, with the way back.
    await status.choose("Offline")
    await expect(status.banner).to_be_visible()
    await expect(status.banner).to_contain_text("You are offline and not receiving new chats.")
    await offers_the_offline_form(widget)
    await shot(page, "status-02-offline-banner")
    assert await violations(page) == [], "the console with the offline banner"
    await page.set_viewport_size(PHONE)
    await expect(status.banner.get_by_role("button", name="Go online")).to_be_in_viewport(ratio=1)
    await shot(page, "status-03-phone-banner")
    await status.button.click()
    await expect(status.menu).to_be_in_viewport(ratio=1)
    assert await overflow(page) == [], "the status menu at 390 px"
    await shot(page, "status-04-phone-menu")
    await page.keyboard.press("Escape")
    await page.set_viewport_size(DESKTOP)
    await status.banner.get_by_role("button", name="Go online").click()
    await expect(status.banner).to_be_hidden()
    await expect(status.button).to_have_accessible_name("Your status: Online")
    await offers_a_chat(widget)

    # The choice is the server's: a reload shows it.
    await status.choose("Away")
    await offers_the_offline_form(widget)
    await page.reload()
    await expect(console.connection).to_have_text("Connected")
    await expect(status.button).to_have_accessible_name("Your status: Away")
    await status.choose("Online")
    await offers_a_chat(widget)


async def test_the_team_section_shows_a_colleague_live(browsing: Browsing, stack: Stack) -> None:
    store = stack.server.runtime.store
    await store.put_user(model.User("ana", model.AGENT_ROLE, hash_password(PASSWORD), "Ana Lindqvist"))
    await store.put_user(model.User("bo", model.AGENT_ROLE, hash_password(PASSWORD), "Bo Berg"))
    await store.set_user_status("bo", model.OFFLINE)

    console = await browsing.console()
    page = console.page
    team = page.locator("#team")
    ana = team.locator(".team-member", has_text="Ana Lindqvist")
    bo = team.locator(".team-member", has_text="Bo Berg")
    # Never signed in: Ana is away, Bo offline as stored; the Admin himself is not listed.
    await expect(team.locator(".team-member")).to_have_text(["Ana LindqvistAway", "Bo BergOffline"])
    await expect(page.locator("#team-heading")).to_have_text("Team 0 online")

    # Ana signs in on her own computer: online, at once, in the Admin's Team.
    ana_page = await (await browsing.context(viewport=DESKTOP)).new_page()
    ana_console = await sign_in(ana_page, stack.widget, "ana", PASSWORD)
    await expect(ana).to_have_text("Ana LindqvistOnline")
    await expect(team.locator(".team-member").first).to_have_text("Ana LindqvistOnline")  # online first
    await expect(page.locator("#team-heading")).to_have_text("Team 1 online")
    await expect(ana_page.locator("#team .team-member", has_text="Admin")).to_have_text("AdminOnline")

    # She takes a chat: her open chats show.
    widget = await browsing.visitor("/trail-tent-2")
    await widget.open()
    await widget.start("Kari")
    await ana_console.accept("Kari")
    await expect(ana).to_have_text("Ana Lindqvist1 chatOnline")

    # She steps away in her console: the Admin sees it live; her chat stays hers.
    await StatusControl(ana_page).choose("Away")
    await expect(ana).to_have_text("Ana Lindqvist1 chatAway")
    await expect(ana.locator(".agent-dot")).to_have_class(re.compile(r"\baway\b"))
    await page.set_viewport_size({"width": 1280, "height": 1000})  # room for the whole list column
    await team.scroll_into_view_if_needed()
    await shot(page, "status-05-team")
    await page.emulate_media(color_scheme="dark")
    await shot(page, "status-06-team-dark")
    status = StatusControl(page)
    await status.button.click()
    await expect(status.menu).to_be_visible()
    await status.option("Online").focus()
    await shot(page, "status-07-menu-open-dark")
    assert await violations(page) == [], "the console in dark mode with the status menu open"
    await page.keyboard.press("Escape")
    await page.emulate_media(color_scheme="light")

    # She signs out: offline at once.
    await ana_page.get_by_role("button", name="Sign out").click()
    await expect(ana_page).to_have_url(re.compile(r"/agent/login"))
    await expect(ana).to_have_text("Ana Lindqvist1 chatOffline")
    await expect(bo).to_have_text("Bo BergOffline")
