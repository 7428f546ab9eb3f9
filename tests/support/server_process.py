"""One `widget-server serve` process for the tests that drive it from synchronous code (Hypothesis and
Schemathesis run their examples that way): its URL, an API token made with the real command line, and,
when it stops, a check that it logged no traceback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cluster import free_port, to_toml

ADMIN_PASSWORD = "process admin password"


@dataclass
class ServerProcess:
    url: str
    home: Path
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """What `widget-server ARGS --config widget.toml` printed (it must succeed)."""
        command = [sys.executable, "-m", "widget_server", *args, "--config", "widget.toml"]
        done = subprocess.run(
            command, cwd=self.home, env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def token(self, name: str) -> str:
        return self.cli("tokens", "create", name).split()[-1]


@contextlib.contextmanager
def server_process(home: Path, config: Mapping[str, Any]) -> Iterator[ServerProcess]:
    """The server with this configuration (its data in home/data), until the block ends."""
    (home / "widget.toml").write_text(to_toml({"data_dir": str(home / "data"), **config}))
    env = {**os.environ, "WIDGET_SERVER_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env.pop("WIDGET_SERVER_CONFIG", None)
    port = free_port()
    log_path = home / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "widget_server", "serve", "--config", "widget.toml", "--port", str(port)],
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):
                        break
                except OSError:
                    assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.1)
            yield ServerProcess(url, home, env)
        finally:
            process.terminate()
            process.wait(10)
    output = log_path.read_text()
    assert "Traceback" not in output, output
