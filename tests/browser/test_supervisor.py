"""A supervisor in Chromium: Sam opens a chat the Admin is answering, joins it silently (both consoles
show it, the visitor nothing), writes a note the Admin reads, then takes the chat over: it is Sam's, the
visitor sees the Admin leave and Sam join; the operator's audit log shows each step. axe-core on the
watching view; screenshots of the views."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.support import Browsing, Stack, shot
from tests.browser.test_accessibility import DESKTOP, violations
from tests.browser.test_agent_status import sign_in
from widget_server import model
from widget_server.passwords import hash_password

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "sam's long password"


async def test_a_supervisor_joins_silently_writes_a_note_and_takes_over(
    browsing: Browsing, stack: Stack
) -> None:
    store = stack.server.runtime.store
    await store.put_user(model.User("sam", model.SUPERVISOR_ROLE, hash_password(PASSWORD), "Sam Okafor"))
    sam_page = await (await browsing.context(viewport=DESKTOP)).new_page()
    sam = await sign_in(sam_page, stack.widget, "sam", PASSWORD)
    await expect(sam_page.get_by_role("link", name="Reports")).to_have_attribute("href", "/admin/reports")

    console = await browsing.console()
    widget = await browsing.visitor("/trail-tent-2")
    await widget.open()
    await widget.start("Kari")
    await console.accept("Kari")
    await console.send("Let me check the stock.")

    # Sam opens the Admin's chat: a colleague's, with Join silently and Take over.
    await sam_page.locator("#others .chat-item", has_text="Kari").click()
    await expect(sam.transcript).to_contain_text("Let me check the stock.")
    await sam_page.get_by_role("button", name="Join silently").click()
    await expect(sam_page.locator("#chat .pill.watching")).to_have_text("Watching silently · with Admin")
    await expect(sam_page.get_by_role("button", name="Join silently")).to_have_count(0)
    await expect(sam.transcript.locator(".sys.watch .sys-text")).to_have_text(
        "You joined silently · the visitor does not see this"
    )
    await expect(console.transcript.locator(".sys.watch")).to_contain_text("Sam Okafor joined silently")

    # Live: the visitor's next message reaches Sam; what Sam writes is a note (the box is in note mode).
    await widget.say("Do you have it in green?")
    await expect(sam.transcript).to_contain_text("Do you have it in green?")
    note_box = sam_page.get_by_label("Note", exact=True)
    await expect(note_box).to_be_enabled()
    await note_box.fill("Green is back on Monday.")
    await note_box.press("Enter")
    await expect(console.transcript.locator(".note", has_text="Green is back on Monday.")).to_be_visible()
    await shot(sam_page, "supervisor-01-watching")
    assert await violations(sam_page) == [], "a supervisor watching a chat silently"

    # Take over (asks once more): the chat is Sam's, the visitor sees who joined, never the note.
    take_over = sam_page.get_by_role("button", name="Take over")
    await take_over.click()
    await sam_page.get_by_role("button", name="Click again to take over").click()
    await expect(sam_page.locator("#mine .chat-item", has_text="Kari")).to_be_visible()
    await expect(sam.reply_box).to_be_enabled()
    await expect(widget.status).to_have_text("Chatting with Sam Okafor")
    await sam.send("Hi Kari, Sam here: green is back on Monday.")
    await expect(widget.host.get_by_text("Hi Kari, Sam here")).to_be_visible()
    await expect(widget.host.get_by_text("joined silently")).to_have_count(0)
    await expect(widget.host.get_by_text("Green is back on Monday.", exact=True)).to_have_count(0)
    await expect(console.reply_box).to_be_disabled()  # the Admin's chat no longer
    await shot(sam_page, "supervisor-02-taken-over")

    # The operator's audit log, filtered to the chat: who did what in it, never the note's text.
    chat = await widget.chat_id()
    await console.page.goto(f"{stack.widget}/admin/audit?target={chat}")
    actions = console.page.locator(".audit-table code.action")
    await expect(actions).to_have_text(["chat.take_over", "chat.note", "chat.join_silently", "chat.accept"])
    await expect(console.page.get_by_text("Green is back on Monday.")).to_have_count(0)
    await shot(console.page, "supervisor-03-audit-log")
