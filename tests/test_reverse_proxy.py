"""widget_server behind a real nginx and a real Caddy (Debian's packages), each run with the repository's
own file (deploy/nginx.conf, deploy/Caddyfile): TLS, the websocket upgrade, X-Forwarded-For. Through
each, the gate's cases: an allowed origin chats, another is
refused, a blocked address is refused, and the address the server records is the one the proxy saw,
whatever a client claims in its own X-Forwarded-For. Clients connect from loopback addresses of their own
(127.0.0.5, 127.0.0.6), the proxy from 127.0.0.1, the server's one trusted proxy."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from tests.support.cluster import free_port

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
VISITOR, BLOCKED = "127.0.0.5", "127.0.0.6"
SITE = {"name": "Shop", "allowed_origins": [HOST_ORIGIN], "blocked_ips": [BLOCKED]}


@dataclass
class Proxied:
    server: Server
    https: str  # the proxy's TLS address
    http: str | None  # its plain one, which redirects to it (nginx; Caddy's needs port 80)
    tls: ssl.SSLContext  # trusts the test's self-signed certificate

    def wss(self, path: str) -> str:
        return "wss" + self.https.removeprefix("https") + path


def render_nginx(conf: str, *, upstream: int, https: int, http: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with the test's ports and certificate; each line replaced must be there."""
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/letsencrypt/live/chat.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/chat.example.com/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert old in conf, f"deploy/nginx.conf no longer has {old!r}: update this test with it"
        conf = conf.replace(old, new)
    return conf


def _certificate(home: Path) -> None:
    """A self-signed certificate for 127.0.0.1, in home/cert.pem and home/key.pem."""
    home.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(home / "key.pem"), "-out", str(home / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def nginx_in_front(server: Server, home: Path) -> AsyncIterator[Proxied]:
    await asyncio.to_thread(_certificate, home)
    cert, key = home / "cert.pem", home / "key.pem"
    https, http = free_port(), free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    site = render_nginx(conf, upstream=server.port, https=https, http=http, cert=cert, key=key)
    (home / "widget-server.conf").write_text(site)
    temp = "".join(
        f"{kind}_temp_path {home / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (home / "nginx.conf").write_text(
        f"pid {home / 'nginx.pid'};\nerror_log {home / 'error.log'} info;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp}include {home / 'widget-server.conf'};\n}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        NGINX, "-p", str(home), "-c", str(home / "nginx.conf"), "-g", "daemon off; master_process off;",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _listening(process, https)
        yield Proxied(server, f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}", _trusting(home))
    finally:
        process.terminate()
        await process.wait()


def render_caddy(conf: str, *, upstream: int, https: int, home: Path) -> str:
    """deploy/Caddyfile with the test's port, certificate and storage (no admin endpoint)."""
    replacements = {
        "chat.example.com {": (
            f"https://127.0.0.1:{https} {{\n\tbind 127.0.0.1\n\ttls {home / 'cert.pem'} {home / 'key.pem'}"
        ),
        "reverse_proxy 127.0.0.1:8000": f"reverse_proxy 127.0.0.1:{upstream}",
    }
    for old, new in replacements.items():
        assert old in conf, f"deploy/Caddyfile no longer has {old!r}: update this test with it"
        conf = conf.replace(old, new)
    # No admin endpoint, no listener on port 80 for redirects, no HTTP/3: only what the test serves.
    options = f"admin off\n\tauto_https disable_redirects\n\tstorage file_system {home / 'storage'}"
    return f"{{\n\t{options}\n\tservers {{\n\t\tprotocols h1 h2\n\t}}\n}}\n" + conf


@contextlib.asynccontextmanager
async def caddy_in_front(server: Server, home: Path) -> AsyncIterator[Proxied]:
    await asyncio.to_thread(_certificate, home)
    https = free_port()
    conf = render_caddy(
        (ROOT / "deploy" / "Caddyfile").read_text(), upstream=server.port, https=https, home=home
    )
    (home / "Caddyfile").write_text(conf)
    process = await asyncio.create_subprocess_exec(
        CADDY, "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile",
        env={**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _listening(process, https)
        yield Proxied(server, f"https://127.0.0.1:{https}", None, _trusting(home))
    finally:
        process.terminate()
        await process.wait()


def _trusting(home: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(home / "cert.pem"))


async def _listening(process: asyncio.subprocess.Process, port: int) -> None:
    async with asyncio.timeout(10):
        while True:
            assert process.returncode is None, (await process.stderr.read()).decode()  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)


PROXIES = {"nginx": nginx_in_front, "caddy": caddy_in_front}


@pytest.fixture(params=sorted(PROXIES))
async def proxied(request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path) -> AsyncIterator[Proxied]:
    config = make_config(data_dir, {"trusted_proxies": ["127.0.0.1"], "sites": {"shop": SITE}})
    in_front = PROXIES[request.param]
    async with running(config) as server, in_front(server, tmp_path / request.param) as front:
        yield front


@contextlib.asynccontextmanager
async def visitor(
    front: Proxied, source: str, origin: str = HOST_ORIGIN, **headers: str
) -> AsyncIterator[Visitor]:
    """A visitor through nginx, from ``source``, sending ``headers`` (a forged X-Forwarded-For, say)."""
    async with connect(
        front.wss("/ws/shop"), origin=origin, ssl=front.tls, local_addr=(source, 0),  # type: ignore[arg-type]
        additional_headers=headers, open_timeout=10,
    ) as ws:  # fmt: skip
        tab = Visitor(ws)
        tab.hello = await tab.recv()
        assert tab.hello["type"] == "hello"
        yield tab


async def test_a_visitor_chats_through_nginx_and_the_server_sees_nginx_s_address(proxied: Proxied) -> None:
    # A forged X-Forwarded-For from the client is kept, and nginx appends the address it saw: the server
    # believes only what its trusted proxy added.
    async with visitor(proxied, VISITOR, **{"X-Forwarded-For": "203.0.113.9"}) as tab:
        await tab.start(nickname="Kim")
        ack = await tab.say("Hello through nginx", id="m1")
        assert ack["seq"] >= 1
    chat = await proxied.server.runtime.store.get_chat(tab.chat or "")
    assert chat is not None and chat.visitor.ip == VISITOR


async def test_the_gate_refuses_through_nginx(proxied: Proxied) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with visitor(proxied, VISITOR, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # A blocked address is refused, whatever address it claims to be forwarding for.
    with pytest.raises(InvalidStatus) as blocked:
        async with visitor(proxied, BLOCKED, **{"X-Forwarded-For": VISITOR}):
            pass
    assert blocked.value.response.status_code == 403
    # ...and an address cannot be framed: claiming the blocked one's address changes nothing.
    async with visitor(proxied, VISITOR, **{"X-Forwarded-For": BLOCKED}):
        pass


async def test_pages_uploads_and_plain_http_through_nginx(proxied: Proxied) -> None:
    connector = aiohttp.TCPConnector(ssl=proxied.tls, local_addr=(VISITOR, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(proxied.https + "/healthz") as health:
            assert health.status == 200 and (await health.json())["status"] == "ok"
        async with http.get(proxied.https + "/widget.js") as script:
            assert script.status == 200 and "javascript" in script.headers["content-type"]
        # A file over the site's limit gets the server's own answer (JSON the widget understands), not
        # the proxy's page: the proxy's limit is far above the server's.
        async with visitor(proxied, VISITOR) as tab:
            await tab.start()
        form = aiohttp.FormData()
        form.add_field(
            "file", io.BytesIO(b"x" * (3 * 2**20)), filename="big.bin", content_type="application/pdf"
        )
        headers = {"Authorization": f"Bearer {tab.token}", "Origin": HOST_ORIGIN}
        async with http.post(proxied.https + "/attachments/shop", data=form, headers=headers) as upload:
            assert upload.status == 413 and (await upload.json())["error"] == "too_large"
        if proxied.http is not None:
            async with http.get(proxied.http + "/agent", allow_redirects=False) as plain:
                assert plain.status == 301 and plain.headers["location"].startswith("https://")


def test_the_systemd_unit_is_valid(tmp_path: Path) -> None:
    """deploy/widget-server.service as systemd reads it (its ExecStart pointed at this installation)."""
    here = shutil.which("widget-server") or str(Path(sys.executable).parent / "widget-server")
    unit = (ROOT / "deploy" / "widget-server.service").read_text()
    installed = "/opt/widget-server/bin/widget-server"
    assert installed in unit
    (tmp_path / "widget-server.service").write_text(unit.replace(installed, here))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "widget-server.service")], capture_output=True, text=True
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
