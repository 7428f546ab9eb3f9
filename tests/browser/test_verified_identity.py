"""Verified identities in the browser (issue 16.3): the host page passes what its backend signed with
`WidgetServer("identify", ...)`, the agent sees the visitor as verified, and on a second device (another
browser context: no storage shared) the same customer finds their earlier chat and reads it; a page that
claims the same id with a forged signature gets nothing of hers and chats on, unverified."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.browser.support import Browsing, Stack, Widget, serving_stack, shot
from widget_server.identity import sign

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "s3cret-of-the-shop-" + "x" * 24


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    """The browser suite's stack, its site with an identity secret (from the environment, as the file
    names it)."""
    monkeypatch.setenv("SHOP_IDENTITY_SECRET", SECRET)
    async with serving_stack(data_dir, identity={"secret_env": "SHOP_IDENTITY_SECRET"}) as stack:
        yield stack


def signed(secret: str = SECRET, id: str = "cust-42", email: str = "ada@example.com") -> dict[str, Any]:
    """What the shop's backend puts in its page (docs/embedding.md)."""
    expires = int(time.time()) + 3600
    return {
        "id": id,
        "email": email,
        "name": "Ada Lovelace",
        "expires": expires,
        "signature": sign(secret, id, email, expires),
    }


async def identified(browsing: Browsing, identity: dict[str, Any]) -> Widget:
    widget = await browsing.visitor()  # a browser context of its own: another device
    await widget.page.evaluate("identity => WidgetServer('identify', identity)", identity)
    await widget.open()
    return widget


async def test_a_verified_visitor_finds_their_earlier_chat_on_another_device(browsing: Browsing) -> None:
    laptop = await identified(browsing, signed())
    await expect(laptop.name).to_have_value("Ada Lovelace")  # identify fills the form
    await laptop.start("Ada Lovelace")
    await laptop.say("Where is my order 1234?")

    console = await browsing.console()
    item = console.waiting("Ada Lovelace")
    await expect(item.locator(".verified")).to_have_attribute(
        "title", "Verified by the site as cust-42 (ada@example.com)"
    )
    await item.click()
    await expect(console.page.locator(".kv-row", has_text="Verified")).to_contain_text("cust-42")
    await shot(console.page, "verified-console")

    phone = await identified(browsing, signed())
    earlier = phone.host.locator("details.earlier")
    heading = earlier.locator(":scope > summary")
    await expect(heading).to_contain_text("Earlier conversations")
    await expect(heading.locator(".n")).to_have_text("1")
    await heading.click()
    chat = earlier.locator("li details")
    await expect(chat.locator(".first")).to_have_text("Where is my order 1234?")
    await chat.locator("summary").click()
    await expect(chat.locator(".msg.me .bubble")).to_have_text("Where is my order 1234?")
    await shot(phone.page, "verified-earlier-chats")

    # The same id, not signed by the shop: nothing of hers, and the visitor chats on, unverified.
    eve = await identified(
        browsing, {**signed(), "signature": sign("not the shop's", "cust-42", "ada@example.com", 1)}
    )
    await eve.start("Eve")
    await eve.say("Hello")
    await expect(eve.host.locator("details.earlier")).to_have_count(0)
    chats = await browsing.stack.server.runtime.store.find_visitor_chats(
        "shop", key="verified:cust-42", email=None
    )
    assert [c.visitor.nickname for c in chats] == ["Ada Lovelace"]
