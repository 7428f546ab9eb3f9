"""Omnidesk as the source of a site's access policy: real handshakes against the fake Omnidesk's
``whitelistedDomainsAndBlacklistedIPs`` and ``checkOriginAndIP``, and the pure parts by tables."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes.omnidesk import FakeOmnidesk
from tests.support.asgi_server import serve
from tests.support.clients import Server, log_in, make_config, running
from tests.support.contact_centers import eventually
from widget_server.access import InvalidNetwork, InvalidPattern
from widget_server.adapters.omnidesk import read_access_lists, read_origin_check
from widget_server.model import Actor
from widget_server.omnidesk_policy import (
    AccessLists,
    OmnideskPolicy,
    Verdicts,
    domain_patterns,
    network_entry,
)

KEY_ENV = "TEST_OMNIDESK_POLICY_KEY"
SECRET = "hookpoint-secret-0123456789abcdef"
ORIGIN = "http://localhost:3000"  # host "localhost"; the tests' client address is 127.0.0.1


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeOmnidesk, str]]:
    omnidesk = FakeOmnidesk()
    monkeypatch.setenv(KEY_ENV, omnidesk.api_key)
    async with serve(omnidesk.app) as url:
        yield omnidesk, url


def config(data_dir: Path, url: str, **settings: Any) -> Any:
    desk = {
        "name": "Desk",
        "backend": "omnidesk",
        "omnidesk": {
            "base_url": url,
            "api_key_env": KEY_ENV,
            "chat_account_token": "a1b2c3d4e5f6a7b8",
            "chat_server": f"https://chat.example/hooks/omnidesk/desk/{SECRET}",
            "policy_source": True,
            "policy_interval": 0.2,
            "timeout": 1,
            "policy_timeout": 1,
            **settings.pop("omnidesk", {}),
        },
        **settings,
    }
    # Another site beside it keeps its own lists, untouched.
    other = {"name": "Other", "allowed_origins": ["https://other.example"]}
    return make_config(data_dir, {"sites": {"desk": desk, "other": other}})


async def handshake(server: Server, origin: str, site: str = "desk") -> int:
    try:
        async with connect(server.ws_url(f"/ws/{site}"), additional_headers={"Origin": origin}) as ws:
            await ws.recv()  # hello
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def checks(omnidesk: FakeOmnidesk) -> list[dict[str, str]]:
    return [r.form for r in omnidesk.requests_for("checkOriginAndIP")]


async def synced(server: Server, **expected: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        shown = server.runtime.omnidesk.describe("desk")
        if shown is None or shown["synced_at"] is None:
            return None
        return shown if all(shown[k] == v for k, v in expected.items()) else None

    found: dict[str, Any] = await eventually(check)
    return found


async def test_the_lists_are_synced_and_shown_as_coming_from_omnidesk(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["localhost", "*.acme.example", "*.com"], ["198.51.100.0/24", "2001:db8::1"])
    async with running(config(data_dir, url)) as server:
        shown = await synced(server)
        assert shown["source"] == "omnidesk"
        assert shown["allowed_domains"] == ["localhost", "*.acme.example", "*.com"]
        assert shown["allowed_origins"] == [
            "https://localhost:*",
            "http://localhost:*",
            "https://*.acme.example:*",
            "http://*.acme.example:*",
        ]
        assert shown["blocked_ips"] == ["198.51.100.0/24", "2001:db8::1"]
        assert len(shown["skipped"]) == 1 and "*.com" in shown["skipped"][0]
        assert shown["last_sync_error"] is None and shown["policy_unknown"] == "refuse"
        assert server.runtime.omnidesk.describe("other") is None  # its own lists
        omnidesk.set_policy(["shop.example"])
        await synced(server, allowed_domains=["shop.example"], blocked_ips=[])
        assert (data_dir / "omnidesk" / "desk.json").exists()  # for a restart during an outage
        assert all(r.headers.get("apiKey") == omnidesk.api_key for r in omnidesk.requests)


async def test_each_connect_is_checked_with_check_origin_and_ip_and_the_answer_cached(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["localhost"])
    async with running(config(data_dir, url, omnidesk={"policy_cache": 0.5})) as server:
        assert await handshake(server, ORIGIN) == 101
        assert checks(omnidesk) == [
            {
                "chatServer": f"https://chat.example/hooks/omnidesk/desk/{SECRET}",
                "chatAccountToken": "a1b2c3d4e5f6a7b8",
                "origin": "localhost",
                "ip": "127.0.0.1",
            }
        ]
        assert await handshake(server, ORIGIN) == 101
        assert len(checks(omnidesk)) == 1  # cached
        assert await handshake(server, "https://evil.example") == 403
        assert checks(omnidesk)[-1]["origin"] == "evil.example"
        await asyncio.sleep(0.6)
        assert await handshake(server, ORIGIN) == 101
        assert len(checks(omnidesk)) == 3  # the cached answer expired: asked again
        assert await handshake(server, "https://other.example", site="other") == 101
        assert await handshake(server, ORIGIN, site="other") == 403
        assert len(checks(omnidesk)) == 3  # the other site is never Omnidesk's business


async def test_omnidesk_refuses_a_blacklisted_address_and_our_own_blocks_still_apply(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["localhost"], ["127.0.0.0/8"])
    async with running(config(data_dir, url)) as server:
        assert await handshake(server, ORIGIN) == 403
        assert len(checks(omnidesk)) == 1
    omnidesk.set_policy(["localhost"])
    async with running(config(data_dir / "2", url, blocked_ips=["127.0.0.1"])) as server:
        assert await handshake(server, ORIGIN) == 403
        assert len(checks(omnidesk)) == 1  # refused here, without asking


async def test_while_omnidesk_is_unreachable_the_last_synced_lists_apply(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["localhost"], ["198.51.100.0/24"])
    async with running(config(data_dir, url)) as server:
        await synced(server)
        omnidesk.down()
        assert await handshake(server, ORIGIN) == 101
        assert await handshake(server, "https://evil.example") == 403
        shown = await eventually(lambda: _sync_failed(server))
        assert "503" in shown["last_sync_error"]
        assert shown["allowed_domains"] == ["localhost"]  # still the last synced lists
    # A restart while Omnidesk is still down: the lists kept in the data dir apply.
    async with running(config(data_dir, url)) as server:
        assert await handshake(server, ORIGIN) == 101
        assert await handshake(server, "https://evil.example") == 403


def _sync_failed(server: Server) -> dict[str, Any] | None:
    shown = server.runtime.omnidesk.describe("desk")
    return shown if shown and shown["last_sync_error"] else None


@pytest.mark.parametrize(("choice", "status"), [("admit", 101), ("refuse", 403)])
async def test_with_no_answer_and_no_lists_the_operator_chooses(
    data_dir: Path, fake: tuple[FakeOmnidesk, str], choice: str, status: int
) -> None:
    omnidesk, url = fake
    omnidesk.down()  # from the start: nothing was ever synced
    async with running(config(data_dir, url, omnidesk={"policy_unknown": choice})) as server:
        assert await handshake(server, ORIGIN) == status
        assert server.runtime.omnidesk.describe("desk")["policy_unknown"] == choice  # type: ignore[index]
    # An answer that cannot be read counts as no answer, too.
    omnidesk.down(False)
    omnidesk.fail_next(100, status=200)
    async with running(config(data_dir / "2", url, omnidesk={"policy_unknown": choice})) as server:
        assert await handshake(server, ORIGIN) == status


async def test_a_change_in_omnidesks_lists_closes_the_sockets_it_no_longer_admits(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["localhost"])
    async with (
        running(config(data_dir, url)) as server,
        connect(server.ws_url("/ws/desk"), additional_headers={"Origin": ORIGIN}) as ws,
    ):
        await ws.recv()  # hello
        await synced(server)
        omnidesk.set_policy(["shop.example"])
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert await handshake(server, ORIGIN) == 403


# --- the pure parts -------------------------------------------------------------------------------------


def test_domains_become_origin_patterns() -> None:
    assert domain_patterns("Acme.Example") == ["https://acme.example:*", "http://acme.example:*"]
    assert domain_patterns("https://shop.acme.example:8443/path") == [
        "https://shop.acme.example:*",
        "http://shop.acme.example:*",
    ]
    assert domain_patterns("*.acme.example")[0] == "https://*.acme.example:*"
    for bad in ("*.com", "*", "", "exa mple.com"):
        with pytest.raises(InvalidPattern):
            domain_patterns(bad)


def test_blacklisted_entries_become_networks() -> None:
    assert network_entry("198.51.100.7") == "198.51.100.7/32"
    assert network_entry("198.51.100.7/24") == "198.51.100.0/24"  # host bits allowed
    assert network_entry("10.1.*.*") == "10.1.0.0/16"
    assert network_entry("10.*") == "10.0.0.0/8"
    assert network_entry("2001:db8::/32") == "2001:db8::/32"
    for bad in ("nonsense", "10.1.*.5", "300.1.1.1"):
        with pytest.raises(InvalidNetwork):
            network_entry(bad)


def test_the_answers_are_read_leniently() -> None:
    assert read_access_lists({"whitelistedDomains": ["a.example"], "blacklistedIPs": "1.2.3.4, 5.6.7.8"}) == (
        ["a.example"],
        ["1.2.3.4", "5.6.7.8"],
    )
    assert read_access_lists({"data": {"domains": [{"domain": "b.example"}]}}) == (["b.example"], [])
    with pytest.raises(ValueError, match="no whitelistedDomains"):
        read_access_lists({"type": "result", "message": "ok"})
    assert read_origin_check({"allowed": True}).refusal is None
    assert read_origin_check({"allowed": "false", "ipAllowed": False}).refusal == "ip_blocked"
    assert read_origin_check({"originAllowed": False, "ipAllowed": True}).refusal == "origin_not_allowed"
    assert read_origin_check({"type": "result", "message": "Origin and IP allowed."}).allowed is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_verdicts_expire() -> None:
    clock = Clock()
    verdicts = Verdicts(60, clock)
    address = ipaddress.ip_address("192.0.2.1")
    verdicts.put("acme.example", address, "ip_blocked")
    assert verdicts.get("acme.example", address) == (True, "ip_blocked")
    clock.now = 59.9
    assert verdicts.get("acme.example", address) == (True, "ip_blocked")
    clock.now = 60
    assert verdicts.get("acme.example", address) == (False, None)


@pytest.mark.parametrize(
    ("lists", "admit_unknown", "origin", "ip", "rule"),
    [
        (None, False, "https://acme.example", "192.0.2.1", "omnidesk_unknown"),
        (None, True, "https://acme.example", "192.0.2.1", None),
        ((["acme.example"], []), False, "https://acme.example", "192.0.2.1", None),
        ((["acme.example"], []), False, "https://evil.example", "192.0.2.1", "origin_not_allowed"),
        ((["acme.example"], ["192.0.2.0/24"]), True, "https://acme.example", "192.0.2.1", "ip_blocked"),
        (([], ["192.0.2.0/24"]), True, "https://acme.example", "198.51.100.1", None),  # empty: unknown
        (([], []), False, "https://acme.example", "198.51.100.1", "omnidesk_unknown"),
        ((["acme.example"], []), True, "https://acme.example", "203.0.113.9", "ip_blocked"),  # our own
        ((["acme.example"], []), True, None, "192.0.2.1", "origin_missing"),
        ((["acme.example"], []), True, "https://acme.example", "not an ip", "ip_unknown"),
    ],
)
def test_the_policy_without_an_answer(
    lists: tuple[list[str], list[str]] | None,
    admit_unknown: bool,
    origin: str | None,
    ip: str,
    rule: str | None,
) -> None:
    synced = AccessLists.build(*lists, synced_at=0) if lists is not None else None
    policy = OmnideskPolicy.build(synced, ["203.0.113.9"], admit_unknown, Verdicts(60, Clock()))
    assert policy.judge(origin, ip) == rule
    assert policy.refusal(origin, ip) == (
        None if rule is None else rule.replace("omnidesk_unknown", "origin_not_allowed")
    )


def test_a_cached_answer_comes_before_the_lists() -> None:
    verdicts = Verdicts(60, Clock())
    policy = OmnideskPolicy.build(AccessLists.build(["acme.example"], [], 0), [], False, verdicts)
    verdicts.put("acme.example", ipaddress.ip_address("192.0.2.1"), "omnidesk_refused")
    assert policy.judge("https://acme.example", "192.0.2.1") == "omnidesk_refused"
    assert policy.refusal("https://acme.example", "192.0.2.1") == "origin_not_allowed"
    assert policy.judge("https://acme.example", "192.0.2.2") is None


async def test_operators_see_that_the_lists_come_from_omnidesk(
    data_dir: Path, fake: tuple[FakeOmnidesk, str]
) -> None:
    omnidesk, url = fake
    omnidesk.set_policy(["shop.example"], ["198.51.100.0/24"])
    async with running(config(data_dir, url)) as server:
        await synced(server)
        _, token = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(
                f"{server.url}/api/admin/sites/desk", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                site = await response.json()
            assert site["external_policy"]["source"] == "omnidesk"
            assert site["external_policy"]["allowed_domains"] == ["shop.example"]
            await log_in(http, server.url, "admin", server.admin_password())
            page = await (await http.get(f"{server.url}/admin/sites/desk")).text()
        assert "Access policy from Omnidesk" in page and "<code>shop.example</code>" in page
        assert "<code>198.51.100.0/24</code>" in page
