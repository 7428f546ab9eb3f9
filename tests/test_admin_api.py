"""The admin JSON API over real HTTP, authenticated by real tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.clients import HOST_ORIGIN, Server, make_config, running
from widget_server.model import Actor
from widget_server.web import history_api

OPERATOR = Actor("test", "cli")
PROVISIONED = {"sites": {"fixed": {"name": "Fixed", "allowed_origins": [HOST_ORIGIN]}}}


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(
        self, method: str, path: str, json: Any = None, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.http.request(method, self.base + path, json=json, headers=headers, **kw) as response:
            text = await response.text()
            return response.status, (await response.json() if text else None)


@pytest.fixture
async def api(data_dir: Path) -> AsyncIterator[tuple[Server, Api]]:
    async with running(make_config(data_dir, PROVISIONED)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(OPERATOR, "tests")
        yield server, Api(http, server.url + "/api/admin", secret)


async def test_tokens_are_required_and_revocation_is_immediate(api: tuple[Server, Api]) -> None:
    server, client = api
    assert (await client.call("GET", "/sites"))[0] == 200
    for bad in ["", "wst_nope", "Basic abc"]:
        status, body = await client.call("GET", "/sites", token=bad or " ")
        assert status == 401 and body["error"] == "unauthorized"
    async with client.http.get(client.base + "/sites") as response:
        assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    await server.app.state.site_admin.revoke_token(OPERATOR, "tests")
    assert (await client.call("GET", "/sites"))[0] == 401


async def test_failed_authentications_are_throttled(api: tuple[Server, Api]) -> None:
    _, client = api
    statuses = [(await client.call("GET", "/sites", token="wst_guess"))[0] for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # The holder of a valid token, from the same address, is not locked out by someone else's failures.
    assert (await client.call("GET", "/sites"))[0] == 200
    assert (await client.call("GET", "/sites", token="wst_guess"))[0] == 429


async def test_create_read_change_and_delete_a_site(api: tuple[Server, Api]) -> None:
    server, client = api
    status, site = await client.call(
        "POST",
        "/sites",
        {
            "id": "acme",
            "name": "ACME",
            "allowed_origins": ["https://acme.example"],
            "blocked_ips": ["10.0.0.0/8"],
        },
    )
    assert status == 201
    assert site == {
        "id": "acme",
        "name": "ACME",
        "allowed_origins": ["https://acme.example"],
        "blocked_ips": ["10.0.0.0/8"],
        "backend": "local",
        "limits": site["limits"],
        "identity": {"enabled": False},  # no identity secret yet (tests/test_verified_identity.py)
        "source": "database",
        "editable": True,
        "live_connections": 0,
    }
    assert server.runtime.sites.get("acme") is not None  # served at once
    status, site = await client.call(
        "POST", "/sites/acme/allowed_origins", {"origin": "https://*.acme.example"}
    )
    assert status == 200 and site["allowed_origins"] == ["https://acme.example", "https://*.acme.example"]
    status, site = await client.call("POST", "/sites/acme/blocked_ips", {"ip": "2001:db8::/32"})
    assert site["blocked_ips"] == ["10.0.0.0/8", "2001:db8::/32"]
    status, site = await client.call("DELETE", "/sites/acme/blocked_ips", params={"ip": "10.0.0.0/8"})
    assert site["blocked_ips"] == ["2001:db8::/32"]
    status, site = await client.call(
        "DELETE", "/sites/acme/allowed_origins", params={"origin": "https://acme.example"}
    )
    assert site["allowed_origins"] == ["https://*.acme.example"]
    status, site = await client.call(
        "PATCH", "/sites/acme", {"name": "ACME Support", "limits": {"sockets_per_ip": 5}, "notify": True}
    )
    assert status == 200 and site["name"] == "ACME Support" and site["limits"]["sockets_per_ip"] == 5
    stored = server.runtime.sites.get("acme")
    assert site["notify"] is True and stored is not None and stored.notify
    status, sites = await client.call("GET", "/sites")
    assert [s["id"] for s in sites["sites"]] == ["acme", "fixed"]
    assert (await client.call("DELETE", "/sites/acme"))[0] == 204
    assert (await client.call("GET", "/sites/acme"))[0] == 404
    assert server.runtime.sites.get("acme") is None


INVALID = [
    (
        {"id": "acme", "name": "A", "allowed_origins": ["https://*.com"]},
        "acme.allowed_origins",
        "public suffix",
    ),
    ({"id": "acme", "name": "A", "blocked_ips": ["10.0.0.1/8"]}, "acme.blocked_ips", "10.0.0.0/8"),
    ({"id": "acme", "name": "A", "backend": "pigeon"}, "acme.backend", "unknown backend"),
    ({"id": "acme", "name": "A", "colour": "red"}, "acme.colour", "unknown key"),
    ({"id": "acme", "name": 7}, "acme.name", "must be a string"),
    ({"id": "acme", "name": "A", "notify": "yes"}, "acme.notify", "must be true or false"),
    ({"id": "acme", "name": "A", "backend": "gws"}, "acme.gws.base_url", "is required"),
    ({"id": "Bad Id!", "name": "A"}, "id", "site id"),
    ({"name": "A"}, "id", "site id"),
    ({"id": "fixed", "name": "A"}, None, "already"),
]


@pytest.mark.parametrize(("body", "field", "words"), INVALID, ids=[str(i) for i in range(len(INVALID))])
async def test_invalid_sites_are_refused_with_the_field_and_nothing_stored(
    api: tuple[Server, Api], body: dict[str, Any], field: str | None, words: str
) -> None:
    server, client = api
    status, error = await client.call("POST", "/sites", body)
    assert status in (400, 409)
    assert error.get("field") == field and words in error["message"]
    assert await server.runtime.store.list_sites() == []
    audit = await server.runtime.store.list_audit()
    assert [e.action for e in audit] == ["token.create"]


async def test_bad_requests(api: tuple[Server, Api]) -> None:
    _, client = api
    async with client.http.post(
        client.base + "/sites", data=b"{nope", headers={"Authorization": f"Bearer {client.token}"}
    ) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_json"
    assert (await client.call("POST", "/sites/fixed/allowed_origins", {"origin": "https://x.example"}))[
        0
    ] == 409
    assert (await client.call("GET", "/sites/none"))[0] == 404
    assert (await client.call("GET", "/nothing-here"))[0] == 404
    await client.call("POST", "/sites", {"id": "acme", "name": "A"})
    status, error = await client.call(
        "DELETE", "/sites/acme/allowed_origins", params={"origin": "https://x.example"}
    )
    assert status == 404 and "not an allowed origin" in error["message"]
    status, error = await client.call("POST", "/sites/acme/blocked_ips", {"ip": "999.1.1.1"})
    assert status == 400 and error["field"] == "blocked_ips"
    status, error = await client.call("PUT", "/sites/acme", {"id": "other", "name": "A"})
    assert status == 400 and error["field"] == "id"


async def test_every_change_is_audited(api: tuple[Server, Api]) -> None:
    _, client = api
    await client.call("POST", "/sites", {"id": "acme", "name": "A"})
    await client.call("POST", "/sites/acme/allowed_origins", {"origin": "https://acme.example"})
    await client.call("PATCH", "/sites/acme", {"name": "B"})
    await client.call("DELETE", "/sites/acme")
    _, audit = await client.call("GET", "/audit", params={"limit": "10"})
    entries = audit["entries"]
    assert [e["action"] for e in entries] == [
        "site.remove",
        "site.update",
        "site.allow_origin",
        "site.create",
        "token.create",
    ]
    latest = entries[0]
    assert latest["actor"] == "token:tests" and latest["via"] == "api" and latest["address"] == "127.0.0.1"
    assert entries[1]["detail"] == {"changed": {"name": {"from": "A", "to": "B"}}}
    assert entries[2]["detail"] == {"origin": "https://acme.example"}
    _status, older = await client.call("GET", "/audit", params={"before": str(entries[1]["id"])})
    assert [e["action"] for e in older["entries"]] == ["site.allow_origin", "site.create", "token.create"]


async def test_the_openapi_document_describes_every_route(api: tuple[Server, Api]) -> None:
    server, client = api
    async with client.http.get(client.base + "/openapi.json") as response:
        document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = set()
    for route in server.app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/api/admin/") and "{rest:path}" not in path and path != "/api/admin/openapi.json":
            for method in route.methods - {"HEAD"}:
                for field in ["allowed_origins", "blocked_ips"] if "{field}" in path else [None]:
                    served.add((method, path.replace("{field}", field) if field else path))
    assert served == {(method, path) for method, path in documented if path.startswith("/api/admin/")}
    # The history API's operations are in the same document (it takes the same tokens).
    history = {(method, path) for path, handlers in history_api.OPERATIONS.items() for method in handlers}
    assert history == {(method, path) for method, path in documented if path.startswith("/api/v2/")}
    assert re.fullmatch(r"\d+", document["info"]["version"])
