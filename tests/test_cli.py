"""The `widget-server` command as a newcomer runs it: a real process, its output, its exit status."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen
from typing import Any

from websockets.sync.client import connect as ws_connect

from widget_server.cli import DEFAULT_HOST, DEFAULT_PORT, build_parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "widget_server", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_the_defaults_are_the_documented_ones() -> None:
    args = build_parser().parse_args([])
    assert (args.command, args.config, args.host, args.port) == (None, None, DEFAULT_HOST, DEFAULT_PORT)
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8000)


def test_options_go_before_or_after_the_command(tmp_path: Path) -> None:
    """argparse lets a command's own defaults overwrite what came before it: `widget-server --port 9000
    serve` served on 8000, and `--config x.toml users add` wrote to ./data."""
    parse = build_parser().parse_args
    for argv in (["--port", "9001", "serve"], ["serve", "--port", "9001"]):
        assert parse(argv).port == 9001, argv
    assert parse(["serve"]).port == DEFAULT_PORT
    config = tmp_path / "widget.toml"
    config.write_text(f'data_dir = "{tmp_path / "elsewhere"}"\n')
    for args in (["--config", str(config), "tokens", "list"], ["tokens", "list", "--config", str(config)]):
        assert run_cli(*args, cwd=tmp_path).returncode == 0
        assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / "data").exists(), args
    assert run_cli("tokens", "list", cwd=tmp_path, env={"WIDGET_SERVER_CONFIG": str(config)}).returncode == 0
    assert not (tmp_path / "data").exists()


def test_no_config_serves_the_demo_and_prints_where_and_how_to_log_in(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "widget_server", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if "Agent login" in line:
                break
        output = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/" in output and f"{base}/widget.js" in output and f"{base}/agent" in output
        assert f"ws://127.0.0.1:{port}/ws/demo" in output
        password = re.search(r"admin / (\S+)", output)
        assert password, output
        assert (tmp_path / "data" / "admin_password").read_text().strip() == password.group(1)
        assert oct((tmp_path / "data" / "admin_password").stat().st_mode & 0o777) == "0o600"
        assert oct((tmp_path / "data" / "secret_key").stat().st_mode & 0o777) == "0o600"
        assert (tmp_path / "data" / "widget.db").exists()
        with urllib.request.urlopen(f"{base}/") as response:
            page = response.read().decode()
        assert 'src="/widget.js" data-site="demo"' in page
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def test_the_admin_password_can_come_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "widget_server", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "WIDGET_SERVER_ADMIN_PASSWORD": "a long secret phrase"},
    )
    try:
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and "Agent login" not in line:
            line = process.stdout.readline()  # type: ignore[union-attr]
        assert "WIDGET_SERVER_ADMIN_PASSWORD" in line and "a long secret phrase" not in line
        assert not (tmp_path / "data" / "admin_password").exists()
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]


def test_a_bad_config_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "widget.toml").write_text(
        '[sites.acme]\nname = "ACME"\nallowed_origins = ["https://*.co.uk"]\n'
    )
    result = run_cli("serve", "--config", "widget.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "widget-server: widget.toml: sites.acme.allowed_origins: [0]: 'https://*.co.uk'"
    )


def test_help_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "widget_server", "--help"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0 and "serve" in result.stdout


def test_several_workers_need_a_shared_bus(tmp_path: Path) -> None:
    result = run_cli("serve", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--workers 2 needs a shared bus" in result.stderr and "redis://" in result.stderr


def test_an_unknown_store_scheme_in_the_environment_is_one_line(tmp_path: Path) -> None:
    result = run_cli("serve", cwd=tmp_path, env={"WIDGET_SERVER_STORE": "mysql://db/widget"})
    assert result.returncode == 2
    assert result.stderr == (
        "widget-server: $WIDGET_SERVER_STORE: unknown URL scheme 'mysql'"
        " (use sqlite:, postgresql:, postgres:)\n"
    )


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://widget:secret-password@127.0.0.1:{port}/widget"
    result = run_cli("serve", cwd=tmp_path, env={"WIDGET_SERVER_STORE": url})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("widget-server: cannot start: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and "secret-password" not in result.stderr


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str, stderr: Any = subprocess.DEVNULL) -> Iterator[tuple[Popen, str, int]]:
    """`widget-server serve` in tmp_path: the process, what it printed up to its login line, its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "widget_server", "serve", "--port", str(port), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("Agent login" in line for line in lines):
            lines.append(process.stdout.readline())  # type: ignore[union-attr]
        yield process, "".join(lines), port
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]


def test_the_generated_admin_password_is_printed_on_the_first_start_only(tmp_path: Path) -> None:
    with serving(tmp_path) as (_, first, _):
        password = (tmp_path / "data" / "admin_password").read_text().strip()
        assert f"admin / {password}" in first
    with serving(tmp_path) as (_, second, _):
        assert password not in second
        assert "admin with the password in data/admin_password" in second


def test_json_logs_are_one_object_a_line_with_what_happened_where(tmp_path: Path) -> None:
    (tmp_path / "widget.toml").write_text('log_format = "json"\n')
    log = tmp_path / "server.log"
    with log.open("w") as stderr, serving(tmp_path, "--config", "widget.toml", stderr=stderr) as (_, _, port):
        url = f"ws://127.0.0.1:{port}/ws/demo"
        with contextlib.suppress(Exception), ws_connect(url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
        with ws_connect(url, origin=f"http://127.0.0.1:{port}") as ws:  # type: ignore[arg-type]
            ws.recv(5)
            ws.send(json.dumps({"type": "start", "nickname": "Chris"}))
            chat = next(f for f in (json.loads(ws.recv(5)) for _ in range(5)) if f["type"] == "welcome")[
                "chat"
            ]
        time.sleep(0.3)
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is a JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not [r for r in records if r["logger"].startswith("uvicorn")]  # our names, uvicorn's lines too
    refused = next(r for r in records if r["message"].startswith("refused visitor websocket"))
    assert (refused["site"], refused["client"], refused["rule"]) == (
        "demo",
        "127.0.0.1",
        "origin_not_allowed",
    )
    started = next(r for r in records if "started by" in r["message"])
    assert (started["site"], started["chat"], started["client"]) == ("demo", chat, "127.0.0.1")


def test_a_port_in_use_is_one_line_naming_it_and_exit_status_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"widget-server: cannot listen on 127.0.0.1:{port}: the port is in use (another server?):"
        " choose another with --port\n"
    )
