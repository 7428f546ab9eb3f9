"""Verified identities (issue 16.3), over real sockets: a site's backend signs its customer's id and email
with the site's identity secret (created and rotated through the admin API), the widget passes that on
with `start`, and the server trusts it only when the signature is right, fresh and the site's own.
Agents see who is verified, and a verified visitor finds their earlier chats from any device, by their
verified id alone. The signing here is the site backend's side: widget_server.identity.sign, the formula
of docs/embedding.md."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Agent, Frame, Server, Visitor, make_config, running
from tests.test_admin_api import OPERATOR, Api
from tests.test_admin_pages import browser, create
from widget_server.config import ConfigError, config_from_mapping
from widget_server.identity import GRACE, Claim, IdentityRefused, IdentitySecrets, sign, verify
from widget_server.protocol import FrameError, parse_visitor_frame
from widget_server.tokens import ResumeTokens

SITE = {"name": "Shop", "allowed_origins": [HOST_ORIGIN]}


@dataclass
class Shops:
    server: Server
    api: Api
    secrets: dict[str, str]  # site id -> its identity secret, as the API gave it

    async def rotate(self, site: str) -> str:
        status, answer = await self.api.call("POST", f"/sites/{site}/identity_secret")
        assert status == 201, answer
        self.secrets[site] = answer["secret"]
        return str(answer["secret"])


@pytest.fixture
async def shops(server: Server) -> AsyncIterator[Shops]:
    """Two stored sites, each with an identity secret of its own, on both kinds of store and bus."""
    async with aiohttp.ClientSession() as http:
        _, token = await server.app.state.site_admin.create_token(OPERATOR, "tests")
        api = Api(http, server.url + "/api/admin", token)
        shops = Shops(server, api, {})
        for site in ("shop", "other"):
            assert (await api.call("POST", "/sites", {"id": site, **SITE}))[0] == 201
            await shops.rotate(site)
        yield shops


def identity(
    secret: str, id: str = "cust-42", email: str = "ada@example.com", ahead: int = 3600, **changes: Any
) -> dict[str, Any]:
    """What the site's backend hands the page, signed as docs/embedding.md says."""
    expires = int(time.time()) + ahead
    signed = {"id": id, "email": email, "expires": expires, "signature": sign(secret, id, email, expires)}
    return {**signed, **changes}


async def refused(server: Server, site: str, frame: Frame) -> Frame:
    async with Visitor.connected(server, site) as tab:
        await tab.send(frame)
        error = await tab.expect("error")
        await tab.send({"type": "ping"})
        await tab.expect("pong")  # the connection stays usable
    return error


async def test_a_signed_identity_is_verified_and_agents_see_it(shops: Shops) -> None:
    server, secret = shops.server, shops.secrets["shop"]
    async with Visitor.connected(server, "shop") as tab:
        # The email typed into the form gives way to the one the site vouched for.
        welcome = await tab.start("Ada", email="typed@example.com", identity=identity(secret))
        assert "visitor" not in welcome  # a verified visitor is known by their identity, not a token
    async with Agent.connected(server) as agent:
        await agent.send({"type": "history", "chat": welcome["chat"], "after": 0})
        summary = (await agent.expect("history", chat=welcome["chat"]))["summary"]
    assert summary["visitor"]["verified"] == {"id": "cust-42", "email": "ada@example.com"}
    assert summary["visitor"]["email"] == "ada@example.com"
    chat = await server.runtime.store.get_chat(welcome["chat"])
    assert chat is not None and chat.visitor.verified == {"id": "cust-42", "email": "ada@example.com"}
    # The history API's chat object says so too.
    headers = {"Authorization": f"Bearer {shops.api.token}"}
    async with shops.api.http.get(f"{server.url}/api/v2/chat/chats/{chat.id}", headers=headers) as answer:
        shown = await answer.json()
    assert shown["visitor"]["verified"] == {"id": "cust-42", "email": "ada@example.com"}
    # An email is optional: the id alone, signed with an empty email.
    async with Visitor.connected(server, "shop") as tab:
        plain = await tab.start("Ada", identity=identity(secret, email=""))
    chat = await server.runtime.store.get_chat(plain["chat"])
    assert chat is not None and chat.visitor.verified == {"id": "cust-42"} and chat.visitor.email is None


# Each a way to pass off an identity the site never signed; all on site "shop".
def _forged(secrets: dict[str, str]) -> dict[str, Any]:
    return identity("wsi_" + "x" * 43)


def _expired(secrets: dict[str, str]) -> dict[str, Any]:
    return identity(secrets["shop"], ahead=-1)


def _other_id(secrets: dict[str, str]) -> dict[str, Any]:
    return {**identity(secrets["shop"]), "id": "cust-43"}


def _other_email(secrets: dict[str, str]) -> dict[str, Any]:
    return {**identity(secrets["shop"]), "email": "eve@example.com"}


def _later_expiry(secrets: dict[str, str]) -> dict[str, Any]:
    signed = identity(secrets["shop"])
    return {**signed, "expires": signed["expires"] + 3600}  # a replay made to last longer


def _other_site(secrets: dict[str, str]) -> dict[str, Any]:
    return identity(secrets["other"])  # site "other"'s valid signature


def _unsigned(secrets: dict[str, str]) -> dict[str, Any]:
    signed = identity(secrets["shop"])
    del signed["signature"]
    return signed


def _too_far_ahead(secrets: dict[str, str]) -> dict[str, Any]:
    return identity(secrets["shop"], ahead=2 * 24 * 3600)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (_forged, "identity_invalid"),
        (_expired, "identity_expired"),
        (_other_id, "identity_invalid"),
        (_other_email, "identity_invalid"),
        (_later_expiry, "identity_invalid"),
        (_other_site, "identity_invalid"),
        (_unsigned, "identity_unsigned"),
        (_too_far_ahead, "identity_invalid"),
    ],
)
@pytest.mark.parametrize("server", ["embedded"], indirect=True)
async def test_an_identity_the_site_did_not_sign_is_refused_and_starts_nothing(
    shops: Shops, make: Any, code: str
) -> None:
    server = shops.server
    claim = make(shops.secrets)
    for frame in (
        {"type": "start", "nickname": "Eve", "identity": claim, "id": "s1"},
        {"type": "earlier", "identity": claim},
    ):
        error = await refused(server, "shop", frame)
        assert (error["code"], error["field"]) == (code, "identity"), error
        assert error["message"] and claim.get("signature", "-") not in error["message"]
    assert await server.runtime.store.find_started("shop", "s1") is None  # no chat, not even half of one


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
async def test_a_site_without_a_secret_verifies_nobody(shops: Shops) -> None:
    server, client = shops.server, shops.api
    assert (await client.call("DELETE", "/sites/shop/identity_secret"))[0] == 200
    error = await refused(server, "shop", {"type": "earlier", "identity": identity(shops.secrets["shop"])})
    assert error["code"] == "identity_not_enabled"
    error = await refused(server, "shop", {"type": "start", "nickname": "A", "identity": {"id": "x"}})
    assert (error["code"], error["field"]) == ("invalid_field", "identity")  # not even shaped like one


async def test_rotation_keeps_the_previous_secret_for_its_grace_then_refuses_it(shops: Shops) -> None:
    server, client = shops.server, shops.api
    old = shops.secrets["shop"]
    new = await shops.rotate("shop")
    assert new != old and new.startswith("wsi_")
    for secret in (old, new):  # the site's backend may still sign with the old one while it deploys
        async with Visitor.connected(server, "shop") as tab:
            await tab.send({"type": "earlier", "identity": identity(secret)})
            assert (await tab.expect("earlier"))["chats"] == []
    status, site = await client.call("GET", "/sites/shop")
    grace = site["identity"]
    until = datetime.fromisoformat(grace["previous_until"]).timestamp()
    assert status == 200 and grace["enabled"] and abs(until - time.time() - GRACE) < 60
    assert (await client.call("DELETE", "/sites/shop/identity_secret/previous"))[0] == 200
    error = await refused(server, "shop", {"type": "earlier", "identity": identity(old)})
    assert error["code"] == "identity_invalid"
    status, shown = await client.call("GET", "/sites/shop/identity_secret")
    assert status == 200 and shown["secret"] == new
    assert (await client.call("DELETE", "/sites/shop/identity_secret/previous"))[0] == 404  # no grace now
    # Every change is audited, by fingerprint; no secret is in the site's GET, the audit log or the
    # database's audit rows.
    _, audit = await client.call("GET", "/audit")
    actions = [e["action"] for e in audit["entries"] if e["target"] == "shop"]
    assert actions[:3] == ["site.identity.end_grace", "site.identity.rotate", "site.identity.create"]
    everything = json.dumps([site, audit, await client.call("GET", "/sites")])
    assert old not in everything and new not in everything
    # A PUT of the site's own GET output keeps the secret; setting one by hand is refused.
    status, site = await client.call("GET", "/sites/shop")
    body = {k: v for k, v in site.items() if k not in ("id", "source", "editable", "live_connections")}
    assert (await client.call("PUT", "/sites/shop", body))[0] == 200
    assert (await client.call("GET", "/sites/shop/identity_secret"))[1]["secret"] == new
    status, error = await client.call("PATCH", "/sites/shop", {"identity": {"secret": "mine" * 10}})
    assert (status, error["field"]) == (400, "identity")


async def earlier(tab: Visitor, claim: dict[str, Any]) -> list[str]:
    await tab.send({"type": "earlier", "identity": claim})
    return [chat["chat"] for chat in (await tab.expect("earlier"))["chats"]]


async def test_a_verified_visitor_reads_their_earlier_chats_from_another_device(shops: Shops) -> None:
    server, secret = shops.server, shops.secrets["shop"]
    async with Visitor.connected(server, "shop") as phone:  # the first device
        first = await phone.start("Ada", identity=identity(secret))
        await phone.say("Where is my order 1234?", "m1")
    # Others claiming to be cust-42, unverified: a chat with her email, and one with a visitor token
    # made out to her verified key (which no server ever issues: it is refused and the chat is not hers).
    tokens = ResumeTokens(server.runtime.secret_key, 60)
    async with Visitor.connected(server, "shop") as eve:
        await eve.start("Ada", email="ada@example.com")
    async with Visitor.connected(server, "shop") as eve:
        claimed = await eve.start("Ada", visitor=tokens.issue_visitor("shop", "verified:cust-42"))
    async with Visitor.connected(server, "other") as elsewhere:  # the same id on another site
        await elsewhere.start("Ada", identity=identity(shops.secrets["other"]))

    async with Visitor.connected(server, "shop") as laptop:  # the second device, never used before
        assert await earlier(laptop, identity(secret)) == [first["chat"]]
        await laptop.send({"type": "transcript", "identity": identity(secret), "chat": first["chat"]})
        transcript = await laptop.expect("transcript", chat=first["chat"])
        assert "Where is my order 1234?" in [e.get("text") for e in transcript["events"]]
        assert [e["seq"] for e in transcript["events"]] == list(range(1, len(transcript["events"]) + 1))
        # Someone else's chat, or hers with another customer's identity: the same answer as no chat.
        for chat, claim in ((claimed["chat"], identity(secret)), (first["chat"], identity(secret, "cust-7"))):
            await laptop.send({"type": "transcript", "identity": claim, "chat": chat})
            assert (await laptop.expect("error"))["code"] == "not_found"
        # A second verified chat joins the list, newest first.
        second = await laptop.start("Ada", identity=identity(secret))
        assert await earlier(laptop, identity(secret)) == [second["chat"], first["chat"]]
    chat = await server.runtime.store.get_chat(claimed["chat"])
    assert chat is not None and chat.visitor.verified is None and chat.visitor.key != "verified:cust-42"


def test_a_site_of_the_file_names_its_secret_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(**identities: dict[str, str]) -> None:
        sites = {site: {**SITE, "identity": table} for site, table in identities.items()}
        config_from_mapping({"data_dir": str(tmp_path), "sites": sites})

    monkeypatch.setenv("SHOP_SECRET", "s" * 40)
    monkeypatch.setenv("OTHER_SECRET", "o" * 40)
    monkeypatch.setenv("SHORT_SECRET", "short")
    config(shop={"secret_env": "SHOP_SECRET"}, other={"secret_env": "OTHER_SECRET"})
    problems = {
        "the environment variable NOT_SET is not set": {"shop": {"secret_env": "NOT_SET"}},
        "shorter than 32 characters": {"shop": {"secret_env": "SHORT_SECRET"}},
        "the same secret as sites.shop": {
            "shop": {"secret_env": "SHOP_SECRET"},
            "other": {"secret_env": "OTHER_SECRET", "previous_secret_env": "SHOP_SECRET"},
        },
        "unknown key": {"shop": {"secret": "s" * 40}},  # never the secret itself in the file
    }
    for problem, identities in problems.items():
        with pytest.raises(ConfigError, match=problem) as raised:
            config(**identities)
        assert "s" * 40 not in str(raised.value) and "short" not in str(raised.value).replace("shorter", "")


async def test_provisioned_sites_keep_their_secret_out_of_reach(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_SECRET", "s" * 40)
    mapping = {"sites": {"shop": {**SITE, "identity": {"secret_env": "SHOP_SECRET"}}}}
    async with running(make_config(data_dir, mapping)) as server, aiohttp.ClientSession() as http:
        _, token = await server.app.state.site_admin.create_token(OPERATOR, "tests")
        api = Api(http, server.url + "/api/admin", token)
        status, site = await api.call("GET", "/sites/shop")
        assert status == 200 and site["identity"]["enabled"] and "s" * 40 not in json.dumps(site)
        assert (await api.call("GET", "/sites/shop/identity_secret"))[0] == 409  # it is in the environment
        assert (await api.call("POST", "/sites/shop/identity_secret"))[0] == 409
        async with Visitor.connected(server, "shop") as tab:
            assert (await earlier(tab, identity("s" * 40))) == []


def secrets_of(server: Server) -> IdentitySecrets | None:
    site = server.runtime.sites.get("shop")
    assert site is not None
    return site.identity


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
async def test_operators_create_rotate_and_remove_the_secret_on_the_admin_page(server: Server) -> None:
    async with browser(server) as page:
        assert (await create(page, "shop", allowed_origins=HOST_ORIGIN)).status == 303
        _, shown = await page.get("/admin/sites/shop")
        assert "Identities are not verified on this site" in shown
        forged = await page.post("/admin/sites/shop/identity/rotate", {"csrf": "forged"}, csrf=False)
        assert forged.status == 400 and secrets_of(server) is None
        assert (await page.post("/admin/sites/shop/identity/rotate", {})).status == 303
        first = secrets_of(server).current  # type: ignore[union-attr]
        _, shown = await page.get("/admin/sites/shop")
        assert f'<code id="identity-secret">{first}</code>' in shown  # to copy into the site's backend
        assert (await page.post("/admin/sites/shop/identity/rotate", {})).status == 303
        _, shown = await page.get("/admin/sites/shop")
        assert "Previous secret" in shown and first not in shown
        assert (await page.post("/admin/sites/shop/identity/end-grace", {})).status == 303
        unconfirmed = await page.post("/admin/sites/shop/identity/remove", {})
        assert unconfirmed.status == 400 and secrets_of(server) is not None
        assert (await page.post("/admin/sites/shop/identity/remove", {"confirm": "yes"})).status == 303
        assert secrets_of(server) is None
    entries = await server.runtime.store.list_audit(10, target="shop")
    assert [(e.action, e.via) for e in entries][:4] == [
        ("site.identity.remove", "admin page"),
        ("site.identity.end_grace", "admin page"),
        ("site.identity.rotate", "admin page"),
        ("site.identity.create", "admin page"),
    ]


def test_the_embedding_guide_signs_as_the_server_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's Python example, run as a site's backend would: its identity passes ``verify``."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "embedding.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(import hashlib.*?)```", guide, re.DOTALL)
    assert example, "docs/embedding.md has the Python example"
    monkeypatch.setenv("CHAT_IDENTITY_SECRET", "wsi_the-site-secret")
    namespace: dict[str, Any] = {}
    exec(example.group(1), namespace)
    user = SimpleNamespace(id=42, email="ada@example.com", name="Ada")
    signed = namespace["widget_identity"](user)
    claim = Claim(signed["id"], signed["email"], signed["expires"], signed["signature"])
    assert verify(claim, IdentitySecrets("wsi_the-site-secret"), time.time()).to_json() == {
        "id": "42",
        "email": "ada@example.com",
    }


def test_the_previous_secret_is_accepted_until_its_grace_ends() -> None:
    """Rotation's grace as ``verify`` keeps it: the old secret works until ``previous_until`` and not a
    second after, while the new one works throughout; a secret with no end is the file's
    ``previous_secret_env``, accepted as long as it is configured."""
    now = time.time()
    secrets = IdentitySecrets("wsi_new", "wsi_old", int(now) + 60)
    expires = int(now) + 3600

    def claim(secret: str) -> Claim:
        return Claim("cust-42", "", expires, sign(secret, "cust-42", "", expires))

    assert verify(claim("wsi_old"), secrets, now + 59).id == "cust-42"
    with pytest.raises(IdentityRefused) as refused:
        verify(claim("wsi_old"), secrets, now + 60)
    assert refused.value.code == "identity_invalid"
    assert verify(claim("wsi_new"), secrets, now + 61).id == "cust-42"
    assert verify(claim("wsi_old"), IdentitySecrets("wsi_new", "wsi_old"), now + 3000).id == "cust-42"
    assert "wsi_" not in repr(secrets)  # a secret never reaches a log line through a repr


@pytest.mark.parametrize(
    "identity",
    [
        "not an object",
        {"email": "a@example.com", "expires": 1, "signature": "ab"},  # no id
        {"id": "a\nb", "expires": 1, "signature": "ab"},  # a newline would change what is signed
        {"id": "x" * 257, "expires": 1, "signature": "ab"},
        {"id": "a", "email": "not an email", "expires": 1, "signature": "ab"},
        {"id": "a", "expires": "1764892800", "signature": "ab"},
        {"id": "a", "expires": True, "signature": "ab"},
        {"id": "a", "expires": 1, "signature": "ab" * 65},
    ],
)
def test_an_identity_not_shaped_like_one_is_an_invalid_field(identity: Any) -> None:
    for frame in (
        {"type": "start", "nickname": "A", "identity": identity},
        {"type": "earlier", "identity": identity},
    ):
        with pytest.raises(FrameError) as refused:
            parse_visitor_frame(json.dumps(frame))
        assert (refused.value.code, refused.value.field) == ("invalid_field", "identity")
