"""`widget-server sites|users|tokens` as real processes on a real database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from widget_server.store import open_store


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "widget.toml"
    config.write_text(
        'data_dir = "./data"\n[sites.fixed]\nname = "Fixed"\nallowed_origins = ["https://fixed.example"]\n'
    )

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "widget_server", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=30,
            cwd=tmp_path,
        )

    return run


def test_sites(cli) -> None:  # type: ignore[no-untyped-def]
    added = cli(
        "sites", "add", "acme", "--name", "ACME", "--origin", "https://acme.example", "--block", "10.0.0.0/8"
    )
    assert added.returncode == 0, added.stderr
    assert 'data-site="acme"' in added.stdout
    assert cli("sites", "allow-origin", "acme", "https://*.acme.example").returncode == 0
    assert cli("sites", "block-ip", "acme", "2001:db8::/32").returncode == 0
    assert cli("sites", "unblock-ip", "acme", "10.0.0.0/8").returncode == 0
    assert cli("sites", "disallow-origin", "acme", "https://acme.example").returncode == 0
    shown = json.loads(cli("sites", "show", "acme").stdout)
    assert shown["allowed_origins"] == ["https://*.acme.example"] and shown["blocked_ips"] == [
        "2001:db8::/32"
    ]
    listing = cli("sites", "list").stdout.splitlines()
    assert listing[0].split() == ["SITE", "NAME", "BACKEND", "SOURCE", "ORIGINS", "BLOCKED"]
    assert listing[1].split() == ["acme", "ACME", "local", "database", "1", "1"]
    assert listing[2].split() == ["fixed", "Fixed", "local", "config", "1", "0"]
    assert cli("sites", "remove", "acme").returncode == 0
    assert "acme" not in cli("sites", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("sites", "add", "acme", "--name", "A", "--origin", "https://*.co.uk"),
            "acme.allowed_origins: [0]: 'https://*.co.uk'",
        ),
        (("sites", "add", "acme", "--name", "A", "--backend", "pigeon"), "acme.backend: unknown backend"),
        (("sites", "add", "Acme!", "--name", "A"), "A site id is"),
        (("sites", "block-ip", "fixed", "10.0.0.1"), "provisioned"),
        (("sites", "show", "nope"), "There is no site 'nope'."),
        (("sites", "add", "fixed", "--name", "A"), "There is already a site 'fixed'."),
    ],
)
def test_refusals_are_one_line_and_change_nothing(cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert cli("sites", "list").stdout.count("\n") == 2  # the header and the provisioned site


def test_identity_secrets(cli) -> None:  # type: ignore[no-untyped-def]
    # Rotation and the grace are SiteAdmin's, tested through the API (tests/test_verified_identity.py).
    assert cli("sites", "add", "acme", "--name", "ACME").returncode == 0
    created = cli("sites", "identity-secret", "acme")
    secret = created.stdout.splitlines()[-1]
    assert created.returncode == 0 and secret.startswith("wsi_") and len(secret) > 40
    assert cli("sites", "identity-secret", "acme", "--show").stdout.strip() == secret
    refused = cli("sites", "identity-secret", "acme", "--end-grace")  # nothing to end: it was never rotated
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and secret not in refused.stderr


def test_tokens(cli) -> None:  # type: ignore[no-untyped-def]
    created = cli("tokens", "create", "deploy-bot")
    assert created.returncode == 0
    token = created.stdout.splitlines()[-1]
    assert token.startswith("wst_") and " " not in token and len(token) > 40
    assert "deploy-bot\tactive" in cli("tokens", "list").stdout
    assert cli("tokens", "create", "deploy-bot").returncode == 1
    assert cli("tokens", "revoke", "deploy-bot").returncode == 0
    assert "deploy-bot\trevoked" in cli("tokens", "list").stdout
    assert cli("tokens", "revoke", "deploy-bot").returncode == 1


def test_users(cli) -> None:  # type: ignore[no-untyped-def]
    assert (
        cli(
            "users", "add", "ana", "--role", "operator", "--password-stdin", stdin="a good password\n"
        ).returncode
        == 0
    )
    short = cli("users", "add", "bo", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    no_terminal = cli("users", "add", "bo")
    assert no_terminal.returncode == 1 and "--password-stdin" in no_terminal.stderr
    assert cli("users", "passwd", "ana", "--password-stdin", stdin="another password\n").returncode == 0
    assert cli("users", "list").stdout.splitlines() == ["ana\toperator\tana"]
    assert cli("users", "remove", "ana").returncode == 0
    assert cli("users", "list").stdout == ""


def test_without_a_configuration_the_commands_use_only_a_database_that_is_there(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            k: v for k, v in os.environ.items() if k not in ("WIDGET_SERVER_CONFIG", "WIDGET_SERVER_STORE")
        }
        command = [sys.executable, "-m", "widget_server", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env)

    refused = run("users", "add", "kim", "--password-stdin")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--config" in refused.stderr and "WIDGET_SERVER_CONFIG" in refused.stderr
    assert not (tmp_path / "data").exists()  # nothing made where nothing was
    (tmp_path / "data").mkdir()
    asyncio.run(_database_of_a_server_that_ran(tmp_path / "data"))
    assert run("users", "list").returncode == 0  # where the embedded server runs, they work as before


async def _database_of_a_server_that_ran(data_dir: Path) -> None:
    store = await open_store("sqlite:", data_dir)
    await store.close()
