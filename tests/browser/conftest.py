"""Fixtures of the browser suite: one Chromium for the session, and per test a fresh stack (a host website on
one origin, the widget server on another) and fresh, watched browser contexts.

Every context is watched for the whole test: console errors, uncaught page errors, dialogs (an injected
``onerror=alert(…)`` would open one) and every request and websocket a page opens. At the end of each test
all of them must be clean: no error, no dialog, no request to anything but the two test origins, unless a
test declares what it expects (`Browsing.expect_console_error`, `Browsing.allow_origin`).

The browser is the Debian package's Chromium (scripts/test installs it), driven by Playwright without
Playwright's own browser download, which fails on this machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.browser.support import SITE, Browsing, HostSite, Stack
from tests.support.asgi_server import serve
from tests.support.clients import make_config

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# A busy 2-core machine can be slow; conditions are awaited, never slept on.
expect.set_options(timeout=10_000)


def chromium_executable() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"Chromium not found ({path}): the browser tests need the Debian package `chromium`. "
            "./scripts/test installs it (apt-get install chromium); this suite is never skipped.",
            pytrace=False,
        )
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path) -> AsyncIterator[Stack]:
    site = HostSite()
    async with serve(site.app) as host:
        config = make_config(
            data_dir,
            {"sites": {SITE: {"name": "Nordic Outdoor", "allowed_origins": [host], "backend": "local"}}},
        )
        stack = Stack(site, host, config)
        await stack.start()
        try:
            yield stack
        finally:
            await stack.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def browsing(browser: Browser, stack: Stack) -> AsyncIterator[Browsing]:
    browsing = Browsing(browser, stack)
    try:
        yield browsing
    finally:
        await browsing.close()
    problems = browsing.problems()
    assert not problems, "the pages were not clean:\n" + "\n".join(problems)
