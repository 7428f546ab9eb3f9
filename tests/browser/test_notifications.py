"""Never miss a visitor (issue 15), in Chromium: the console's chime and desktop notifications for a new
waiting chat and for a visitor's message in a chat of mine that the agent is not looking at; the unread
counts on the chats and in the title; the settings that turn each off, per agent, across a reload; and
nothing for what was there before a reload or a reconnect.

What the console does is recorded by instrumenting the browser's APIs in the page (`RECORDER_JS`), not
the console's code: every `Notification` constructed and every tone an `AudioContext` starts, with the
moment it happened."""

from __future__ import annotations

import re
import statistics
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.browser.support import ROOT, Browsing, Console, Stack, Widget, shot
from tests.browser.test_accessibility import DESKTOP, PHONE, overflow, violations
from tests.browser.test_agent_status import StatusControl
from tests.support.clients import Visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

TITLE = "Agent console"

# `performance.timeOrigin + performance.now()`: milliseconds on a clock every page of the browser shares.
# Headless Chromium keeps every page visible and focused; `__setHidden(true)` makes this one look like a
# tab in the background (visibilityState, hidden, hasFocus, and the visibilitychange event).
RECORDER_JS = """(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__notifications = [];
  window.__notificationObjects = [];
  window.__permissionRequests = 0;
  const RealNotification = window.Notification;
  class RecordedNotification extends RealNotification {
    constructor(title, options = {}) {
      super(title, options);
      const record = {title, body: options.body || '', tag: options.tag || '', silent: !!options.silent,
                      at: now(), wall: Date.now(), closed: false};
      window.__notifications.push(record);
      window.__notificationObjects.push(this);
      this.addEventListener('close', () => { record.closed = true; });
      const close = this.close.bind(this);
      this.close = () => { record.closed = true; close(); };
    }
    static get permission() { return RealNotification.permission; }
    static requestPermission(...args) {
      window.__permissionRequests += 1;
      return RealNotification.requestPermission(...args);
    }
  }
  window.Notification = RecordedNotification;

  window.__tones = [];
  const RealAudioContext = window.AudioContext;
  class RecordedAudioContext extends RealAudioContext {
    createOscillator() {
      const oscillator = super.createOscillator();
      const context = this;
      const start = oscillator.start;
      oscillator.start = function (...args) {
        window.__tones.push({frequency: oscillator.frequency.value, state: context.state, at: now()});
        return start.apply(this, args);
      };
      return oscillator;
    }
  }
  window.AudioContext = RecordedAudioContext;

  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', {get: () => hidden ? 'hidden' : 'visible'});
  Object.defineProperty(Document.prototype, 'hidden', {get: () => hidden});
  const hasFocus = Document.prototype.hasFocus;
  Document.prototype.hasFocus = function () { return !hidden && hasFocus.call(this); };
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event('visibilitychange')); };
})();"""

# On the visitor's page: when Enter sent the message, on the same clock.
SENT_AT_JS = """window.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  window.__sentAt = performance.timeOrigin + performance.now();
  window.__sentWall = Date.now();
}, true);"""


async def notifying_console(
    browsing: Browsing, stack: Stack, *, allow: bool = True, **options: Any
) -> Console:
    """The console in a context of its own, recorded, with desktop notifications allowed (or not asked)."""
    context = await browsing.context(**options)
    if allow:
        await context.grant_permissions(["notifications"], origin=stack.widget)
    await context.add_init_script(RECORDER_JS)
    page = await context.new_page()
    return await Console.log_in(page, stack.widget, stack.server.admin_password())


async def notifications(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.__notifications")
    return found


async def tones(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.__tones")
    return found


async def forget_recorded(page: Page) -> None:
    await page.evaluate("window.__notifications = []; window.__notificationObjects = []; window.__tones = []")


async def waiting_visitor(browsing: Browsing, name: str, subject: str = "", **options: Any) -> Widget:
    widget = await browsing.visitor("/", **options)
    await widget.open()
    await widget.start(name, subject=subject)
    return widget


def item(page: Page, list_id: str, name: str) -> Locator:
    return page.locator(f"#{list_id} .chat-item", has_text=name)


async def two_chats_of_mine(
    browsing: Browsing, console: Console, olga_context: BrowserContext | None = None
) -> tuple[Widget, Widget]:
    """Olga's and Piet's chats, both accepted in the console; Piet's is open. (The clicks are the gesture
    that lets the page make sounds.)"""
    olga = await waiting_visitor(browsing, "Olga", context=olga_context)
    piet = await waiting_visitor(browsing, "Piet")
    await console.accept("Olga")
    await console.accept("Piet")
    await expect(console.page.locator("#chat .chat-name")).to_have_text("Piet")
    await forget_recorded(console.page)
    return olga, piet


async def test_a_new_waiting_chat_notifies_once_and_a_reload_or_reconnect_does_not_again(
    browsing: Browsing, stack: Stack
) -> None:
    console = await notifying_console(browsing, stack)
    page = console.page
    nadia = await waiting_visitor(browsing, "Nadia", subject="Tent poles")
    await page.wait_for_function("() => window.__notifications.length > 0")
    await nadia.say("Do you have spare poles?")  # while waiting: no second notification for it
    await expect(console.waiting("Nadia")).to_contain_text("Do you have spare poles?")
    [notification] = await notifications(page)
    assert notification["title"] == "Nadia is waiting"
    assert notification["body"] == "Nordic Outdoor · Tent poles"
    # No click or key press in the page yet: the browser lets it make no sound, so the system's may.
    assert await tones(page) == []
    assert notification["silent"] is False

    # Clicking the notification brings the console forward with that chat open.
    await page.evaluate("window.__notificationObjects[0].dispatchEvent(new Event('click'))")
    await expect(page.locator("#chat .chat-name")).to_have_text("Nadia")
    assert (await notifications(page))[0]["closed"] is True

    # A reload: the chat and its message were there before; nothing is news.
    await page.reload()
    await expect(console.connection).to_have_text("Connected")
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(
        ["Do you have spare poles?"]
    )
    # A reconnect after a server restart: its hello lists the same chat; nothing is news either.
    async with stack.server_down():
        await expect(console.connection).to_have_text("Reconnecting…")
    await expect(console.connection).to_have_text("Connected")
    await nadia.say("Hello?")  # a round trip: the console has taken in everything before it
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(
        ["Do you have spare poles?", "Hello?"]
    )
    assert await notifications(page) == []

    # But a visitor who starts waiting now is news again.
    await waiting_visitor(browsing, "Otto")
    await page.wait_for_function("() => window.__notifications.length > 0")
    assert [n["title"] for n in await notifications(page)] == ["Otto is waiting"]

    # Away (or offline), an agent takes no new chats: a new waiting chat calls them neither with the
    # chime (the menu's clicks let the page make sounds) nor with a notification; the title counts it.
    await StatusControl(page).choose("Away")
    await forget_recorded(page)
    async with Visitor.connected(stack.server, site="shop", origin=stack.host) as petra:
        await petra.start("Petra")  # the widget would offer the offline form: nobody is online
        await expect(console.waiting("Petra")).to_be_visible()
    assert await notifications(page) == [] and await tones(page) == []


class CuttableSocket:
    """The console's socket passed through Playwright (`route_web_socket`) to the server, until the test
    cuts it: then the console's reconnect opens onto nothing (a socket the server never sees) until the
    test mends it, as a network that drops and comes back."""

    def __init__(self) -> None:
        self.cut = False
        self.current: WebSocketRoute | None = None

    async def route(self, socket: WebSocketRoute) -> None:
        self.current = socket
        if not self.cut:
            socket.connect_to_server()

    async def cut_off(self) -> None:
        self.cut = True
        await self._close()

    async def mend(self) -> None:
        self.cut = False
        await self._close()  # the console reconnects, to the server this time

    async def _close(self) -> None:
        if self.current is not None:
            await self.current.close()


async def test_what_came_while_the_console_was_cut_off_is_news_after_the_reconnect(
    browsing: Browsing, stack: Stack
) -> None:
    socket = CuttableSocket()
    context = await browsing.context()
    await context.grant_permissions(["notifications"], origin=stack.widget)
    await context.add_init_script(RECORDER_JS)
    await context.route_web_socket(re.compile(r"/agent/ws$"), socket.route)
    console = await Console.log_in(await context.new_page(), stack.widget, stack.server.admin_password())
    page = console.page
    olga, _ = await two_chats_of_mine(browsing, console)
    await olga.say("Before the drop")
    await page.wait_for_function("() => window.__notifications.length === 1")
    await forget_recorded(page)

    await socket.cut_off()
    await expect(console.connection).to_have_text("Reconnecting…")
    await olga.say("During the drop")
    await waiting_visitor(browsing, "Otto")
    assert await notifications(page) == []
    await socket.mend()

    # The new hello lists Otto's chat, new to this console; Olga's transcript catches up by seq: both
    # are news. Nothing from before the drop is told again.
    await expect(console.waiting("Otto")).to_be_visible()
    await expect(item(page, "mine", "Olga").locator(".unread")).to_have_text("2 unread messages")
    await page.wait_for_function("() => window.__notifications.length === 2")
    told = sorted((n["title"], n["body"]) for n in await notifications(page))
    assert told == [("Olga", "During the drop"), ("Otto is waiting", "Nordic Outdoor")]


async def test_a_message_in_my_chat_notifies_while_another_is_open_but_not_in_the_open_one(
    browsing: Browsing, stack: Stack
) -> None:
    console = await notifying_console(browsing, stack)
    page = console.page
    olga, piet = await two_chats_of_mine(browsing, console)
    olga_item = item(page, "mine", "Olga")

    await olga.say("Is the tent waterproof?")
    await page.wait_for_function("() => window.__notifications.length > 0")
    await page.wait_for_function("() => window.__tones.length >= 2")
    [notification] = await notifications(page)
    assert notification["title"] == "Olga"
    assert notification["body"] == "Is the tent waterproof?"
    assert notification["silent"] is True  # the console's chime played: not the system's sound as well
    chime = await tones(page)
    assert len(chime) == 2, chime  # two tones
    assert chime[0]["frequency"] < chime[1]["frequency"]  # rising
    assert {tone["state"] for tone in chime} == {"running"}  # audible: the context was allowed to start
    await expect(olga_item.locator(".unread")).to_have_text("1 unread message")
    await expect(page).to_have_title(f"(1) {TITLE}")

    await olga.say("And the poles?")
    await expect(olga_item.locator(".unread")).to_have_text("2 unread messages")
    await expect(page).to_have_title(f"(2) {TITLE}")
    await page.wait_for_function("() => window.__notifications.length === 2")
    assert (await notifications(page))[1]["body"] == "And the poles?"

    # In the chat the agent is looking at: the message shows, and nothing else happens.
    before = len(await tones(page))
    await piet.say("Are you there?")
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(["Are you there?"])
    assert len(await notifications(page)) == 2
    assert len(await tones(page)) == before
    await expect(item(page, "mine", "Piet").locator(".unread")).to_have_count(0)

    # Opening Olga's chat reads it: no badge, no count in the title, her notification gone.
    await olga_item.click()
    await expect(olga_item.locator(".unread")).to_have_count(0)
    await expect(page).to_have_title(TITLE)
    assert (await notifications(page))[-1]["closed"] is True

    # Unread again, then a reload: the count is still there (read marks), but no notification for it.
    await item(page, "mine", "Piet").click()
    await olga.say("One more thing")
    await expect(olga_item.locator(".unread")).to_have_text("1 unread message")
    await page.wait_for_function("() => window.__notifications.length === 3")
    await page.reload()
    await expect(console.connection).to_have_text("Connected")
    await expect(olga_item.locator(".unread")).to_have_text("1 unread message")
    await expect(page).to_have_title(f"(1) {TITLE}")
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(["Are you there?"])
    assert await notifications(page) == []


async def test_the_open_chat_notifies_while_the_tab_is_in_the_background(
    browsing: Browsing, stack: Stack
) -> None:
    console = await notifying_console(browsing, stack)
    page = console.page
    olga = await waiting_visitor(browsing, "Olga")
    await console.accept("Olga")
    await forget_recorded(page)

    await page.evaluate("window.__setHidden(true)")  # the agent switched to another tab
    await olga.say("Hello, anyone?")
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(["Hello, anyone?"])
    await page.wait_for_function("() => window.__notifications.length > 0")
    assert [(n["title"], n["body"]) for n in await notifications(page)] == [("Olga", "Hello, anyone?")]
    await expect(item(page, "mine", "Olga").locator(".unread")).to_have_text("1 unread message")
    await expect(page).to_have_title(f"(1) {TITLE}")

    await page.evaluate("window.__setHidden(false)")  # and came back
    await expect(item(page, "mine", "Olga").locator(".unread")).to_have_count(0)
    await expect(page).to_have_title(TITLE)
    assert (await notifications(page))[0]["closed"] is True


async def test_sound_and_desktop_notifications_turn_off_per_agent_and_stay_off(
    browsing: Browsing, stack: Stack
) -> None:
    console = await notifying_console(browsing, stack)
    page = console.page
    bell = page.get_by_role("button", name="Notification settings")
    panel = page.get_by_role("group", name="Notifications")
    sound = page.get_by_role("switch", name="Sound")
    desktop = page.get_by_role("switch", name="Desktop notifications")

    await bell.click()  # a click: from now on the page may make a sound
    await expect(panel).to_be_visible()
    await expect(bell).to_have_attribute("aria-expanded", "true")
    await expect(sound).to_be_checked()
    await expect(desktop).to_be_checked()
    await expect(page.get_by_role("button", name="Enable desktop notifications")).to_be_hidden()  # allowed
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(bell).to_be_focused()

    await waiting_visitor(browsing, "Ada")
    await page.wait_for_function("() => window.__tones.length >= 2")  # sound on: the chime
    assert [n["title"] for n in await notifications(page)] == ["Ada is waiting"]

    await bell.click()
    await sound.click()
    await expect(sound).not_to_be_checked()
    await page.mouse.click(700, 400)  # a click elsewhere closes the panel
    await expect(panel).to_be_hidden()

    await page.reload()  # remembered
    await expect(console.connection).to_have_text("Connected")
    await bell.click()
    await expect(sound).not_to_be_checked()
    await expect(desktop).to_be_checked()
    await bell.click()
    await waiting_visitor(browsing, "Ben")
    await page.wait_for_function("() => window.__notifications.length > 0")
    [notification] = await notifications(page)
    assert notification["title"] == "Ben is waiting"
    assert notification["silent"] is True  # sound off: not the system's sound either
    assert await tones(page) == []

    await bell.click()
    await desktop.click()
    await expect(desktop).not_to_be_checked()
    await bell.click()
    await waiting_visitor(browsing, "Cleo")
    await expect(console.waiting("Cleo")).to_be_visible()  # the console has taken the chat in
    assert len(await notifications(page)) == 1

    # The settings are the agent's: another agent in this browser starts with both on.
    other = await page.evaluate("Object.keys(localStorage).filter(k => k.includes('.notify.'))")
    assert other == ["widget_server.console.notify.admin"]


async def test_the_browser_is_asked_only_from_the_enable_button(browsing: Browsing, stack: Stack) -> None:
    console = await notifying_console(browsing, stack, allow=False)
    page = console.page
    bell = page.get_by_role("button", name="Notification settings")
    await expect(bell).to_have_class(re.compile(r"\battention\b"))  # wanted, not allowed yet: a dot
    await waiting_visitor(browsing, "Ada")
    await expect(console.waiting("Ada")).to_be_visible()
    assert await page.evaluate("window.__permissionRequests") == 0  # never asked on its own
    assert await notifications(page) == []

    await bell.click()
    await expect(page.get_by_text("This browser has not been allowed to show them yet.")).to_be_visible()
    enable = page.get_by_role("button", name="Enable desktop notifications")
    await enable.click()
    assert await page.evaluate("window.__permissionRequests") == 1
    # Headless Chromium answers a prompt nobody can see with "denied": the panel says where to allow them.
    await expect(page.get_by_text(re.compile("The browser blocks them for this site"))).to_be_visible()
    await expect(enable).to_be_hidden()
    await expect(bell).not_to_have_class(re.compile(r"\battention\b"))


async def test_notification_latency(browsing: Browsing, stack: Stack) -> None:
    """From the visitor's Enter to the Notification constructor in the console: the median of ten."""
    console = await notifying_console(browsing, stack)
    page = console.page
    visitor_context = await browsing.context()
    await visitor_context.add_init_script(SENT_AT_JS)
    olga, _ = await two_chats_of_mine(browsing, console, visitor_context)
    latencies: list[float] = []
    wall: list[float] = []
    for n in range(1, 11):
        await olga.box.fill(f"Question {n}")
        await olga.box.press("Enter")
        await page.wait_for_function(f"() => window.__notifications.length === {n}")
        sent = await olga.page.evaluate("[window.__sentAt, window.__sentWall]")
        shown = (await notifications(page))[-1]
        assert shown["body"] == f"Question {n}"
        latencies.append(shown["at"] - sent[0])
        wall.append(shown["wall"] - sent[1])
    median = statistics.median(latencies)
    report = (
        f"notification latency, visitor's Enter to the console's Notification(), 10 messages: "
        f"median {median:.1f} ms, min {min(latencies):.1f}, max {max(latencies):.1f} "
        f"(performance.timeOrigin + now()); median {statistics.median(wall):.0f} ms by Date.now()\n"
    )
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "notification-latency.txt").write_text(report, encoding="utf-8")
    assert 0 < median < 1000, report


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_settings_and_the_unread_badges_look_right(
    browsing: Browsing, stack: Stack, scheme: str
) -> None:
    console = await notifying_console(browsing, stack, allow=False, color_scheme=scheme, viewport=DESKTOP)
    page = console.page
    olga, _ = await two_chats_of_mine(browsing, console)
    await olga.say("Is the tent waterproof?")
    await olga.say("And how heavy is it?")
    mia = await waiting_visitor(browsing, "Mia", subject="Delivery to Norway")
    await mia.say("Hi! Do you ship to Tromsø?")
    await expect(item(page, "mine", "Olga").locator(".unread")).to_have_text("2 unread messages")
    await expect(item(page, "queue", "Mia").locator(".unread")).to_have_text("1 unread message")
    await expect(page).to_have_title(f"(3) {TITLE}")  # one waiting, two unread in my chats
    # The new chat's highlight over (its time, orange on the highlight's tint, is 4.4:1 for those 4 s).
    await expect(item(page, "queue", "Mia")).not_to_have_class(re.compile(r"\bflash\b"))
    await shot(page, f"70-unread-badges-{scheme}")

    await page.get_by_role("button", name="Notification settings").click()
    await expect(page.get_by_role("button", name="Enable desktop notifications")).to_be_visible()
    await shot(page, f"71-notification-settings-{scheme}")
    assert await violations(page) == []
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(100)
    await shot(page, f"72-notification-settings-phone-{scheme}")
    assert await violations(page) == []
    assert await overflow(page) == []
    await expect(page.get_by_role("group", name="Notifications")).to_be_in_viewport(ratio=1)
