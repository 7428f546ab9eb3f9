"""Offline messages, business hours and ratings in Chromium (issue 8): the widget's offline form when nobody
can answer, the message in the console's Messages list, and the visitor's rating of an ended chat, live in
the console and kept across a reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Locator, expect

from tests.browser.support import SITE, Browsing, Stack, Widget, serving_stack, shot
from tests.support.clients import Visitor
from widget_server.availability import DAYS

pytestmark = pytest.mark.asyncio(loop_scope="session")

NO_ONE_ONLINE = "No one is online right now. Leave a message and we'll get back to you by email."


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The browser suite's stack; a test parametrised indirectly gives the site more settings."""
    settings: Callable[[], dict[str, Any]] = getattr(request, "param", dict)
    async with serving_stack(data_dir, **settings()) as stack:
        yield stack


def open_only_tomorrow() -> dict[str, Any]:
    """Closed all day today (UTC), open all day tomorrow: `hello` says the site opens at midnight UTC."""
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    return {"hours": {"timezone": "UTC", tomorrow: ["00:00-24:00"]}}


class OfflineForm:
    """The widget's "leave a message" form."""

    def __init__(self, widget: Widget) -> None:
        host = widget.host
        self.form = host.locator("form.pre", has_text="Leave us a message")
        self.lead = self.form.locator(".lead")
        self.name = self.form.get_by_label("Name", exact=True)
        self.email = self.form.get_by_label("Email", exact=True)
        self.message = self.form.get_by_label("Message", exact=True)
        self.send = self.form.locator("button[type=submit]")  # "Send message", "Sending…" while out
        self.anyway = self.form.get_by_role("button", name="Start a chat anyway")
        self.error = self.form.locator("p.err[role=alert]")
        self.confirmation = host.locator("[role=status].pre")

    def error_of(self, field: str) -> Locator:
        return self.form.locator(f"#f-{field}-err")


async def test_with_no_agent_online_the_visitor_leaves_a_message_that_agents_find_under_messages(
    browsing: Browsing, stack: Stack
) -> None:
    widget = await browsing.visitor("/trail-tent-2")
    await widget.open()
    offline = OfflineForm(widget)
    await expect(offline.form).to_be_visible()
    await expect(offline.lead).to_have_text(NO_ONE_ONLINE)
    await expect(widget.start_button).to_have_count(0)  # instead of the pre-chat form...
    await expect(offline.anyway).to_be_visible()  # ...though an agent may log in any minute
    await expect(offline.send).to_have_accessible_name("Send message")
    await expect(offline.name).to_be_focused()
    await shot(widget.page, "30-offline-form")

    # Everything is checked in the browser first, each field with its own message.
    await offline.send.click()
    await expect(offline.error_of("oname")).to_have_text("Please enter your name.")
    await expect(offline.error_of("oemail")).to_have_text("Please enter your email address.")
    await expect(offline.error_of("omsg")).to_have_text("Please write your message.")
    await expect(offline.name).to_be_focused()
    await offline.name.fill("Jo")
    await offline.email.fill("jo@example")
    await offline.message.fill("Do you have the Trail Tent 2 in blue?\nAnd in a 3-person size?")
    await offline.send.click()
    await expect(offline.error_of("oname")).to_be_empty()
    await expect(offline.error_of("omsg")).to_be_empty()
    await expect(offline.error_of("oemail")).to_have_text("Please enter a valid email address.")
    await expect(offline.email).to_have_attribute("aria-invalid", "true")
    await expect(offline.email).to_have_accessible_description("Please enter a valid email address.")
    await expect(offline.email).to_be_focused()
    await shot(widget.page, "31-offline-form-invalid-email")
    assert await stack.server.runtime.store.list_chats(sites=[SITE]) == []

    await offline.email.fill("jo@example.org")
    await expect(offline.email).not_to_have_attribute("aria-invalid", "true")  # checked again while typing
    await offline.send.click()
    await expect(offline.confirmation).to_contain_text("Thanks — we got your message")
    await expect(offline.confirmation).to_contain_text("We'll reply by email to jo@example.org.")
    await expect(offline.form).to_have_count(0)
    await shot(widget.page, "32-offline-confirmation")

    [chat] = await stack.server.runtime.store.list_chats(sites=[SITE])
    assert (chat.type, chat.state) == ("offline_msg", "ended")
    assert (chat.visitor.nickname, chat.visitor.email) == ("Jo", "jo@example.org")
    events = await stack.server.runtime.store.events_after(chat.id, 0)
    assert [(e.kind, e.data.get("text") or e.data.get("url")) for e in events] == [
        ("visit", f"{stack.host}/trail-tent-2"),
        ("message", "Do you have the Trail Tent 2 in blue?\nAnd in a 3-person size?"),
    ]

    # An agent logs in afterwards: the message waits under Messages, unread (bold).
    console = await browsing.console()
    page = console.page
    item = page.locator("#messages .chat-item", has_text="Jo")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("jo@example.org")
    await expect(item).to_contain_text("Do you have the Trail Tent 2 in blue?")
    await expect(item).to_have_class(re.compile(r"\bhas-unread\b"))
    assert await item.locator(".ci-name").evaluate("el => getComputedStyle(el).fontWeight") == "700"
    await expect(page.locator("#messages-count")).to_have_text("1")
    await expect(page.locator("#queue .chat-item, #others .chat-item")).to_have_count(0)  # not a chat

    # A second message arrives while the console is open: live, at the top (newest first).
    async with Visitor.connected(stack.server, site=SITE, origin=stack.host) as other:
        await other.send(
            {
                "type": "leave_message",
                "id": "m-1",
                "name": "Ola",
                "email": "ola@example.net",
                "message": "Hei!",
            }
        )
        await other.expect("ack", id="m-1")
    await expect(page.locator("#messages .chat-item .ci-name")).to_have_text(["Ola", "Jo"])
    await expect(page.locator("#messages-count")).to_have_text("2")

    await item.click()
    pane = page.locator("#chat")
    await expect(pane.locator(".chat-title")).to_contain_text("Jo")
    await expect(pane.locator(".message-text")).to_have_text(
        "Do you have the Trail Tent 2 in blue?\nAnd in a 3-person size?"
    )
    details = pane.locator(".message-kv")
    await expect(details.get_by_role("link", name="jo@example.org")).to_have_attribute(
        "href", "mailto:jo@example.org"
    )
    await expect(details.get_by_role("link", name=f"{stack.host}/trail-tent-2")).to_be_visible()
    stamp = await details.locator("time").get_attribute("datetime")
    assert stamp and abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()) < 120
    await expect(pane.get_by_role("link", name="Reply by email")).to_have_attribute(
        "href", re.compile(r"^mailto:jo@example\.org\?subject=")
    )
    await expect(item).not_to_have_class(re.compile(r"\bhas-unread\b"))  # read once opened
    assert await item.locator(".ci-name").evaluate("el => getComputedStyle(el).fontWeight") == "500"
    await expect(page.locator("#messages-count")).to_have_text("1")
    await shot(page, "33-console-messages")


async def test_with_no_agent_online_a_chat_can_still_be_started_and_a_reload_resumes_it(
    browsing: Browsing, stack: Stack
) -> None:
    widget = await browsing.visitor("/")
    await widget.open()
    offline = OfflineForm(widget)
    await offline.anyway.click()
    await expect(offline.form).to_have_count(0)
    await expect(widget.name).to_be_focused()
    note = widget.host.locator(".note")
    await expect(note).to_contain_text("No one is online right now — your chat will wait in the queue.")
    await shot(widget.page, "41-chat-anyway-pre-chat-form")
    await note.get_by_role("button", name="Leave a message instead").click()  # and back again
    await expect(offline.name).to_be_focused()
    await offline.anyway.click()
    await widget.start("Sam")
    await widget.say("Anyone there?")

    # Nobody is online still, but the visitor has a chat: it wins over the offline form.
    await widget.page.reload()
    await expect(widget.window).to_be_visible()
    await expect(widget.my_bubbles).to_have_text(["Anyone there?"])
    await expect(widget.status).to_contain_text("Waiting for an agent")
    await expect(offline.form).to_have_count(0)


async def test_a_message_sent_while_the_connection_is_down_is_stored_once_when_it_is_back(
    browsing: Browsing, stack: Stack
) -> None:
    browsing.expect_console_error(r"^WebSocket connection to 'ws://localhost:\d+/ws/shop' failed")
    widget = await browsing.visitor("/")
    await widget.open()
    offline = OfflineForm(widget)
    await offline.name.fill("Kari")
    await offline.email.fill("kari@example.org")
    await offline.message.fill("Written on a train")
    async with stack.server_down():
        await expect(widget.status).to_have_text(re.compile("Reconnecting…|Offline"))
        await offline.send.click()
        await expect(offline.send).to_have_text("Sending…")
        await expect(offline.send).to_be_disabled()
    await expect(offline.confirmation).to_contain_text("Thanks — we got your message")
    chats = await stack.server.runtime.store.list_chats(sites=[SITE])
    assert [(chat.type, chat.visitor.nickname) for chat in chats] == [("offline_msg", "Kari")]


@pytest.mark.parametrize("stack", [lambda: {"limits": {"chats_per_ip_per_hour": 1}}], indirect=True)
async def test_a_refused_message_is_said_discreetly_and_can_be_sent_later(
    browsing: Browsing, stack: Stack
) -> None:
    widget = await browsing.visitor("/")
    await widget.open()
    offline = OfflineForm(widget)
    for attempt in ("First", "Second"):
        await offline.name.fill("Liv")
        await offline.email.fill("liv@example.org")
        await offline.message.fill(f"{attempt} message")
        await offline.send.click()
        if attempt == "First":
            await expect(offline.confirmation).to_be_visible()
            await widget.page.reload()
            await widget.open()
    # Over the site's new-chats limit: a sentence under the button, the form kept as typed.
    await expect(offline.error).to_have_text("Too many messages from here just now; please try again later.")
    await expect(widget.host.locator(".notice")).to_be_hidden()
    await expect(offline.send).to_be_enabled()
    await expect(offline.send).to_have_accessible_name("Send message")
    await expect(offline.message).to_have_value("Second message")
    await shot(widget.page, "34-offline-rate-limited")


@pytest.mark.parametrize("stack", [open_only_tomorrow], indirect=True)
@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
async def test_outside_business_hours_the_form_says_when_we_are_back(
    browsing: Browsing, stack: Stack, zone: str
) -> None:
    widget = await browsing.visitor("/", locale="en-GB", timezone_id=zone)
    await widget.open()
    offline = OfflineForm(widget)
    await expect(offline.form).to_be_visible()
    # Midnight UTC, tomorrow, as the visitor's own clock and calendar say it.
    opening = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    local = opening.astimezone(ZoneInfo(zone))
    days = (local.date() - datetime.now(ZoneInfo(zone)).date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else local.strftime("%A")
    await expect(offline.lead).to_have_text(
        f"We're back {day} at {local:%H:%M}. Leave a message and we'll answer by email."
    )
    await expect(offline.anyway).to_be_hidden()  # nobody will answer a chat for hours
    await expect(widget.start_button).to_have_count(0)
    if zone == "UTC":
        await shot(widget.page, "35-offline-form-closed")


async def test_the_visitor_rates_an_ended_chat_and_the_console_shows_it_live(
    browsing: Browsing, stack: Stack
) -> None:
    console = await browsing.console()  # an agent online: the pre-chat form
    phone = {"width": 360, "height": 740}
    widget = await browsing.visitor("/", viewport=phone, is_mobile=True, has_touch=True)
    await widget.open()
    await widget.start("Robin")
    await widget.say("Is the tent waterproof?")
    await console.accept("Robin")
    await console.send("Yes, up to 3000 mm.")
    await console.end_chat()

    good = widget.host.get_by_role("button", name="Good", exact=True)
    bad = widget.host.get_by_role("button", name="Bad", exact=True)
    rating_parts = widget.host.locator(".rate > *")
    await expect(rating_parts).to_have_text(["How was this chat?"])
    await expect(good).to_be_visible()
    await expect(bad).to_be_visible()
    await expect(widget.new_chat_button).to_be_in_viewport(ratio=1)
    await shot(widget.page, "36-rating-question")

    await bad.tap()
    await expect(rating_parts).to_have_text(["You rated this chatBad", "Thanks for your feedback", "Send"])
    comment = widget.host.get_by_label("Comment")
    await comment.fill("Took a while to get an answer")
    await expect(widget.new_chat_button).to_be_in_viewport(ratio=1)
    await shot(widget.page, "37-rating-comment")
    await widget.host.get_by_role("button", name="Send", exact=True).tap()
    await expect(comment).to_have_count(0)
    await expect(rating_parts).to_have_text(
        ["You rated this chatBad", "Took a while to get an answer", "Thanks for your feedback"]
    )
    await expect(widget.host.locator(".rate q")).to_have_text("Took a while to get an answer")
    await expect(widget.host.locator(".rate .rq .thumb")).to_have_text("Bad")
    await expect(good).to_have_count(0)
    await expect(widget.new_chat_button).to_be_in_viewport(ratio=1)
    await shot(widget.page, "38-rating-sent")

    # The console shows it at once, in the header and in the transcript.
    header = console.page.locator("#chat .chat-rating")
    await expect(header).to_contain_text("Rated bad")
    await expect(header.locator(".rating-comment")).to_have_text("Took a while to get an answer")
    await expect(console.transcript.locator(".sys.rated").last).to_contain_text(
        "Rated bad" + "Took a while to get an answer"
    )
    await shot(console.page, "39-console-rating")
    chat = await stack.server.runtime.store.get_chat(await widget.chat_id())
    assert chat is not None
    assert (chat.meta["rating"], chat.meta["comment"]) == ("bad", "Took a while to get an answer")

    # With nobody online any more (the agent signed out: offline at once), a reload still shows the chat
    # (not the offline form), and the rating as given instead of the buttons.
    await console.page.get_by_role("button", name="Sign out").click()
    await expect(console.page).to_have_url(re.compile(r"/agent/login"))
    await console.page.close()
    site = stack.server.runtime.sites.get(SITE)
    assert site is not None
    async with asyncio.timeout(10):
        while stack.server.runtime.service.presence.available(site):
            await asyncio.sleep(0.05)
    await widget.page.reload()
    await widget.opened()
    await expect(widget.my_bubbles).to_have_text(["Is the tent waterproof?"])
    await expect(rating_parts).to_have_text(["You rated this chatBad", "Took a while to get an answer"])
    await expect(widget.host.locator(".rate .rq .thumb")).to_have_text("Bad")
    await expect(good).to_have_count(0)
    await expect(bad).to_have_count(0)
    await expect(widget.host.get_by_text("Leave us a message")).to_have_count(0)
    await expect(widget.new_chat_button).to_be_in_viewport(ratio=1)
    await shot(widget.page, "40-rating-after-reload")
