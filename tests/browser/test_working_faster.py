"""Working faster in the console (issue 15, point 4), in Chromium with the real widget on its host page:
internal notes (the team sees them, the visitor's widget never), canned responses ("/" and a shortcut
insert the filled-in text), keyboard shortcuts (move, accept, end), and a returning visitor's earlier chats
beside the new one. Screenshots of each, light and dark."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.support import Browsing, Stack, Widget, shot
from tests.support.clients import Agent
from tests.test_agent_console import add_agent
from widget_server.model import CannedResponse, now_ms

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def shots(page: Page, name: str) -> None:
    """The page as it is, light and dark."""
    await shot(page, f"{name}-light")
    await page.emulate_media(color_scheme="dark")
    await shot(page, f"{name}-dark")
    await page.emulate_media(color_scheme="light")


async def waiting_chat(browsing: Browsing, name: str, text: str, **start: str) -> Widget:
    widget = await browsing.visitor()
    await widget.open()
    await widget.start(name, **start)
    await widget.say(text)
    return widget


async def test_a_note_is_for_the_team_and_never_reaches_the_widget(browsing: Browsing, stack: Stack) -> None:
    widget = await waiting_chat(browsing, "Ada", "Is the Trail Tent waterproof?", subject="Trail Tent 2")
    console = await browsing.console()
    await console.accept("Ada")
    page = console.page

    note_mode = page.get_by_role("radio", name="Note (only your team sees it)")
    await note_mode.check()
    note_box = page.get_by_label("Note", exact=True)
    await expect(page.locator(".composer.note-mode")).to_be_visible()
    await expect(page.locator(".composer").get_by_text("Only your team sees notes")).to_be_visible()
    await expect(note_box).to_have_attribute("placeholder", "Write a note for your team…")
    await expect(page.get_by_role("button", name="Add note")).to_be_visible()
    await note_box.fill("Asked about seams: promised a call back on Monday.")
    await shots(page, "notes-composer")
    await note_box.press("Enter")
    mine = console.transcript.locator(".note", has_text="promised a call back on Monday")
    await expect(mine).to_have_count(1)
    await expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(mine.locator(".note-meta")).to_have_text(re.compile(r"^Note·You·\d\d:\d\d$"))
    await expect(console.transcript.locator(".msg.agent")).to_have_count(0)  # no message, a note

    # A colleague's note arrives with their name; the visitor sees neither.
    await add_agent(stack.server, "ana", "Ana")
    async with Agent.connected(stack.server, "ana", "correct horse") as ana:
        await ana.send(
            {"type": "note", "chat": await widget.chat_id(), "id": "n1", "text": "VIP: free shipping ok"}
        )
        await ana.expect("ack", id="n1")
    theirs = console.transcript.locator(".note", has_text="VIP: free shipping ok")
    await expect(theirs.locator(".note-meta")).to_have_text(re.compile(r"^Note·Ana·\d\d:\d\d$"))

    # Alt+N goes back to replying; the reply reaches the visitor, the notes never do.
    await page.keyboard.press("Alt+KeyN")
    await expect(console.reply_box).to_be_focused()
    await expect(page.locator(".composer.note-mode")).to_have_count(0)
    await console.send("Yes: 3000 mm, taped seams.")
    await expect(widget.agent_bubbles).to_have_text(["Yes: 3000 mm, taped seams."])
    await shots(page, "notes-transcript")
    for view in (widget, await browsing.visitor(context=widget.page.context)):  # and a new tab's resume
        await view.open()
        await expect(view.agent_bubbles).to_have_text(["Yes: 3000 mm, taped seams."])
        text = await view.host.evaluate("host => host.shadowRoot.textContent")
        assert "call back on Monday" not in text and "VIP" not in text


async def test_a_slash_and_a_shortcut_insert_the_filled_in_text(browsing: Browsing, stack: Stack) -> None:
    at = now_ms()
    mine = CannedResponse(
        "p1", "admin", "hours", "Opening hours", "We are open 9 to 17, {{visitor.name}}.", at, at, "admin"
    )
    await stack.server.runtime.store.save_canned(mine, create=True)
    widget = await waiting_chat(browsing, "Ada", "Where is my refund?")
    console = await browsing.console()
    page = console.page

    # An operator adds a shared one in the dialog.
    await page.get_by_role("button", name="Canned responses").first.click()
    dialog = page.get_by_role("dialog", name="Canned responses")
    await expect(dialog.get_by_text("/hours")).to_be_visible()
    await dialog.get_by_role("button", name="New response").click()
    await dialog.get_by_label("Every agent").check()
    await dialog.get_by_label("Shortcut").fill("/refund")
    await dialog.get_by_label("Title").fill("Refund on its way")
    await dialog.get_by_label("Text", exact=True).fill(
        "Hi {{visitor.name}}, {{agent.name}} from {{site.name}} here. The refund for {{order.id}} "
        "is on its way to {{visitor.email}}."
    )
    await dialog.get_by_role("button", name="Add").click()
    await expect(dialog.get_by_text("/refund")).to_be_visible()
    await shots(page, "canned-dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)

    await console.accept("Ada")
    await console.reply_box.press_sequentially("/ref")
    picker = page.get_by_role("listbox", name="Canned responses")
    await expect(picker.get_by_role("option")).to_have_text([re.compile("Refund on its way")])
    for _ in "ref":
        await console.reply_box.press("Backspace")
    await expect(picker.get_by_role("option")).to_have_count(2)  # "/" alone: all of them
    await console.reply_box.press_sequentially("open")  # a word of a title finds it too
    await expect(picker.get_by_role("option")).to_have_text([re.compile("Opening hours")])
    await console.reply_box.fill("")
    await console.reply_box.press_sequentially("/")
    await console.reply_box.press("ArrowDown")
    await expect(picker.get_by_role("option", selected=True)).to_contain_text("/refund")
    await shots(page, "canned-picker")
    await console.reply_box.press("Escape")
    await expect(picker).to_be_hidden()
    await console.reply_box.press_sequentially("ref")
    await expect(picker).to_be_visible()
    await console.reply_box.press("Enter")  # inserts; does not send
    filled = "Hi Ada, Admin from Nordic Outdoor here. The refund for {{order.id}} is on its way to ."
    await expect(console.reply_box).to_have_value(filled)
    await expect(page.locator(".canned-told")).to_contain_text("{{visitor.email}}")
    await expect(picker).to_be_hidden()
    await console.reply_box.press("Enter")
    await expect(widget.agent_bubbles).to_have_text([filled])


async def test_keys_move_between_chats_accept_and_end(browsing: Browsing) -> None:
    await waiting_chat(browsing, "Ada", "First in line")
    await waiting_chat(browsing, "Bo", "Second in line")
    console = await browsing.console()
    page = console.page
    title = page.locator("#chat-title .chat-name")

    await page.keyboard.press("j")
    await expect(title).to_have_text("Ada")
    await page.keyboard.press("j")
    await expect(title).to_have_text("Bo")
    await page.keyboard.press("k")
    await expect(title).to_have_text("Ada")
    await page.keyboard.press("Alt+KeyA")
    await expect(console.reply_box).to_be_focused()  # accepted from here: ready to type
    await expect(page.locator("#mine .chat-item", has_text="Ada")).to_be_visible()

    await page.keyboard.type("j and k are text here")
    await expect(console.reply_box).to_have_value("j and k are text here")
    await expect(title).to_have_text("Ada")
    await page.keyboard.press("Alt+ArrowUp")  # the lists: Waiting (Bo), then My chats (Ada)
    await expect(title).to_have_text("Bo")
    await page.keyboard.press("Alt+ArrowDown")
    await expect(title).to_have_text("Ada")
    await expect(console.reply_box).to_have_value("j and k are text here")  # the draft stays

    await page.locator("#chat-title").click()  # out of the box: single keys work again
    await page.keyboard.press("?")
    help = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help.locator("tbody tr")).to_have_count(9)
    await expect(help).to_contain_text("Accept the waiting chat that is open")
    await shots(page, "shortcuts-dialog")
    await page.keyboard.press("j")  # a dialog is open: nothing moves
    await expect(title).to_have_text("Ada")
    await page.keyboard.press("Escape")
    await expect(help).to_have_count(0)

    await page.keyboard.press("r")
    await expect(console.reply_box).to_be_focused()
    await page.keyboard.press("Alt+KeyX")
    await expect(page.get_by_role("button", name="Click again to end")).to_be_focused()
    await page.keyboard.press("Alt+KeyX")
    await expect(console.transcript.locator(".sys", has_text="Chat ended")).to_be_visible()


async def test_the_visitors_earlier_chat_is_listed_and_opens(browsing: Browsing) -> None:
    widget = await waiting_chat(browsing, "Ada", "Where is my order 1234?")
    console = await browsing.console()
    await console.accept("Ada")
    await console.send("It left our warehouse today.")
    await console.page.get_by_role("radio", name="Note (only your team sees it)").check()
    await console.page.get_by_label("Note", exact=True).fill("Tracking sent by email too.")
    await console.page.get_by_label("Note", exact=True).press("Enter")
    await console.end_chat()

    # The same browser starts again: the widget kept its visitor token.
    await widget.new_chat_button.click()
    await widget.start("Ada L.")
    await widget.say("Hello again!")
    page = console.page
    await console.waiting("Ada L.").click()
    earlier = page.get_by_role("region", name="Earlier chats")
    items = earlier.get_by_role("button")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Where is my order 1234?")
    await expect(items.first).to_contain_text("Ended")
    await expect(items.first).to_contain_text("With you")
    await shots(page, "earlier-chats")

    listed = await page.locator(".lists .chat-item").count()
    await items.first.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator(".msg.visitor .bubble")).to_have_text(["Where is my order 1234?"])
    await expect(dialog.locator(".msg.agent .bubble")).to_have_text(["It left our warehouse today."])
    await expect(dialog.locator(".note")).to_contain_text("Tracking sent by email too.")
    await expect(dialog).to_contain_text("Read only")
    await expect(dialog.locator("textarea")).to_have_count(0)
    await shots(page, "earlier-chat-open")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(items.first).to_be_focused()  # back where the agent was
    assert await page.locator(".lists .chat-item").count() == listed  # nothing added to the lists
