"""Transferring a chat in Chromium: the Admin opens Transfer in the header of a chat of his, chooses Ana
by keyboard from the team, writes a note and transfers; the chat appears as Ana's in her console with
the note, the visitor sees Ana join, and the Admin's chat is no longer his. axe-core on the open
dialog; Cancel closes it with nothing sent. Then Ana hands it to a team: it waits again, with her note,
and whoever accepts it joins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.browser.support import Browsing, Stack, serving_stack, shot
from tests.browser.test_accessibility import DESKTOP, violations
from tests.browser.test_agent_status import sign_in
from widget_server import model
from widget_server.passwords import hash_password

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "ana's long password"
TEAMS = {"teams": {"returns": {"name": "Returns desk", "agents": ["ana"]}, "sales": {"name": "Sales"}}}


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path) -> AsyncIterator[Stack]:
    """The browser suite's stack, with two teams (Ana's, and Sales) that the visitor chooses from."""
    async with serving_stack(data_dir, TEAMS, teams=["returns", "sales"]) as stack:
        yield stack


async def test_an_agent_transfers_a_chat_to_a_colleague_with_a_note(browsing: Browsing, stack: Stack) -> None:
    store = stack.server.runtime.store
    await store.put_user(model.User("ana", model.AGENT_ROLE, hash_password(PASSWORD), "Ana Lindqvist"))
    ana_page = await (await browsing.context(viewport=DESKTOP)).new_page()
    ana = await sign_in(ana_page, stack.widget, "ana", PASSWORD)

    console = await browsing.console()
    page = console.page
    widget = await browsing.visitor("/trail-tent-2")
    await widget.open()
    department = widget.host.get_by_label("Department")  # the pre-chat choice of team
    await expect(department.locator("option")).to_have_text(["Returns desk", "Sales"])
    await department.select_option(label="Sales")
    await department.select_option(label="Returns desk")
    await shot(widget.page, "transfer-00-pre-chat-team")
    await widget.start("Kari")
    await console.accept("Kari")
    await console.send("Let me find the right person.")

    transfer = page.get_by_role("button", name="Transfer", exact=True)
    dialog = page.get_by_role("dialog", name="Transfer chat")

    # Cancel: closed, the focus back on the button, the chat still his.
    await transfer.click()
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Colleague")).to_be_focused()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(transfer).to_be_focused()

    await transfer.click()
    colleague = dialog.get_by_label("Colleague")
    await expect(colleague.locator("option")).to_have_text(
        ["Ana Lindqvist (online)", "Returns desk", "Sales"]
    )
    await colleague.select_option("ana")
    note = dialog.get_by_label("Note for them (optional, agents only)")
    await note.fill("Wants the 2-person tent instead.")
    await shot(page, "transfer-01-dialog")
    assert await violations(page) == [], "the console with the transfer dialog open"
    await dialog.get_by_role("button", name="Transfer", exact=True).click()
    await expect(dialog).to_be_hidden()

    # The Admin's chat is no longer his: no End chat; as an operator he may still join it silently or
    # take it over (roles.py); the log shows the handover.
    await expect(page.get_by_role("button", name="End chat")).to_have_count(0)
    await expect(page.get_by_role("button", name="Take over")).to_be_visible()
    await expect(console.reply_box).to_be_disabled()
    await expect(console.transcript).to_contain_text("Ana Lindqvist joined")
    # The visitor sees Ana join, never the note.
    await expect(widget.status).to_have_text("Chatting with Ana Lindqvist")
    await expect(widget.host.get_by_text("Wants the 2-person tent")).to_have_count(0)

    # Ana has it, with the note, and answers.
    await ana_page.locator("#mine .chat-item", has_text="Kari").click()
    await expect(ana.transcript).to_contain_text("Wants the 2-person tent instead.")
    await ana.send("Hi Kari, Ana here.")
    await expect(widget.host.get_by_text("Hi Kari, Ana here.")).to_be_visible()

    # Ana hands it to Sales with a note: Kari waits again, told that Ana left; the chat leaves Ana's
    # lists (not her team's any more) and is in Waiting, with the whole log and the note, for the Admin
    # (who sees every chat), who accepts it.
    await ana_page.get_by_role("button", name="Transfer", exact=True).click()
    dialog = ana_page.get_by_role("dialog", name="Transfer chat")
    await dialog.get_by_label("Colleague or team").select_option(label="Sales")
    await dialog.get_by_label("Note for them (optional, agents only)").fill("Return label sent.")
    await shot(ana_page, "transfer-02-to-a-team")
    await dialog.get_by_role("button", name="Transfer", exact=True).click()
    await expect(dialog).to_be_hidden()
    await expect(widget.status).to_have_text(re.compile(r"^Waiting for an agent"))
    await expect(widget.host.get_by_text("Ana Lindqvist left the chat")).to_be_visible()
    await expect(ana_page.locator(".chat-item", has_text="Kari")).to_have_count(0)
    await console.accept("Kari")
    await expect(console.transcript).to_contain_text("Return label sent.")
    await expect(console.transcript).to_contain_text("Hi Kari, Ana here.")
    await expect(widget.status).to_have_text("Chatting with Admin")
    await expect(widget.host.get_by_text("Return label sent.")).to_have_count(0)
