"""The servers under measurement, each in a process of its own, and what the benchmark reads from them.

- ``WidgetServer``: widget_server as an operator runs it (``python -m widget_server serve --config FILE``),
  in a temporary directory with a configuration that raises the per-site limits, an operator login for the
  scripted agent and an admin API token; started under ``bench.gclog`` so that its garbage-collection
  pauses are logged without changing the server.
- ``CeilingServer``: the bare websockets server of bench/ceiling.py, under the same GC log.

Both are pinned to the server core, with the open-files limit raised. ``cpu_seconds`` and ``rss_bytes``
read /proc: the process's CPU counts all its threads (SQLite's writer and reader threads included).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench import gclog

ROOT = Path(__file__).resolve().parents[1]
AGENT = "bench"
AGENT_PASSWORD = "bench-password-123"  # a throwaway login on a temporary database
VISITOR_ORIGIN = "http://localhost:3000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def core_busy(core: int) -> tuple[float, float]:
    """(busy, total) jiffies of one core so far, from /proc/stat; busy includes steal."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]
            return float(sum(values) - idle), float(sum(values))
    return 0.0, 0.0


def wait_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class ServerProcess:
    """A server process pinned to ``cores``, with its GC log; stopped by ``stop()`` (SIGINT, then kill)."""

    label = "server"
    name = "server"

    def __init__(self, cores: set[int] | None) -> None:
        self.cores = cores
        self.work = Path(tempfile.mkdtemp(prefix=f"bench-{self.label}-"))
        self.port = free_port()
        self.gc_file = self.work / "gc.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = self.work / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_GC_")}
        # The server runs in its temporary directory; bench.gclog and widget_server come from here.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    def start(self) -> None:
        log = self.log_file.open("wb")
        cores = self.cores

        def prepare() -> None:  # in the child, before exec
            raise_open_files()
            if cores:
                os.sched_setaffinity(0, cores)

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.gclog", str(self.gc_file), "-m", *self.command()],
            cwd=self.work,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=prepare,
            env=self.env(),
        )
        log.close()
        try:
            wait_port(self.port, process=self.process)
        except RuntimeError as error:
            raise RuntimeError(f"{self.name}: {error}\n{self.log_tail()}") from None

    @property
    def visitor_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/bench"

    @property
    def visitor_urls(self) -> list[str]:
        """Where visitors connect: one URL, or one per process of a cluster."""
        return [self.visitor_url]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu(self) -> float:
        return sum(self.cpu_parts().values())

    def cpu_parts(self) -> dict[str, float]:
        """CPU seconds so far, by the part of the deployment that spent them."""
        return {"server": cpu_seconds(self.pid)}

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def gc_pauses(self) -> list[gclog.Pause]:
        return gclog.read_file(self.gc_file)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""


class CeilingServer(ServerProcess):
    label = "ceiling"
    name = "ceiling"

    def command(self) -> list[str]:
        return ["bench.ceiling", "--port", str(self.port)]

    def agent_login(self) -> tuple[str, dict[str, str]]:
        return f"ws://127.0.0.1:{self.port}/agent/ws", {}

    def stored_messages(self, chats: list[str]) -> int | None:
        return None  # nothing is stored: that is the point


class WidgetServer(ServerProcess):
    label = "widget_server"
    name = "widget_server"

    # An experiment on the collector's settings (bench/gclog.py: BENCH_GC_THRESHOLD, BENCH_GC_FREEZE_EVERY),
    # applied to widget_server's process only; the server itself is unchanged.
    gc_settings: dict[str, str] = {}

    def __init__(self, cores: set[int] | None) -> None:
        super().__init__(cores)
        self.config = self.work / "widget.toml"
        self.config.write_text(
            f'data_dir = "{self.work / "data"}"\n'
            "http_connections_per_ip = 1000000\n"  # every client of the load comes from 127.0.0.1
            "[sites.bench]\n"
            'name = "Bench"\n'
            'allowed_origins = ["http://localhost:*"]\n'
            'backend = "local"\n'
            "[sites.bench.limits]\n"
            "sockets_per_ip = 1000000\n"
            "chats_per_ip_per_hour = 1000000\n"
            "messages_per_minute = 1000000\n"
            "frames_per_second = 100000\n"
            "frame_burst = 100000\n"
        )
        self.token = ""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(self.gc_settings)
        env.setdefault("WIDGET_SERVER_ADMIN_PASSWORD", "bench-admin-password-123")
        return env

    def _cli(self, *args: str, stdin: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "widget_server", *args, "--config", str(self.config)],
            cwd=self.work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )

    def start(self) -> None:
        self.prepare()
        super().start()

    def prepare(self) -> None:
        """The scripted agent's login and the admin API token, before the server starts (one after the
        other: the first creates the database)."""
        for args, stdin in (
            (("users", "add", AGENT, "--role", "operator", "--password-stdin"), AGENT_PASSWORD + "\n"),
            (("tokens", "create", "bench"), ""),
        ):
            process = self._cli(*args)
            out, err = process.communicate(stdin, timeout=60)
            if process.returncode != 0:
                raise RuntimeError(f"widget_server {' '.join(process.args[3:5])} failed: {err.strip()}")
            self.token = out.strip().splitlines()[-1]  # the last command's: the token

    def command(self) -> list[str]:
        return [
            "widget_server",
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def agent_login(self) -> tuple[str, dict[str, str]]:
        """Log the scripted agent in as a browser would; the console socket's URL and its headers."""
        base = f"http://127.0.0.1:{self.port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{base}/agent/login", timeout=30) as response:
            page = response.read().decode()
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        if match is None:
            raise RuntimeError("the login page has no csrf field")
        form = urllib.parse.urlencode({"name": AGENT, "password": AGENT_PASSWORD, "csrf": match.group(1)})
        request = urllib.request.Request(f"{base}/agent/login", data=form.encode(), headers={"Origin": base})
        with opener.open(request, timeout=30) as response:
            response.read()
        cookie = next((c.value for c in jar if c.name == "widget_session"), None)
        if cookie is None:
            raise RuntimeError("the login did not set the session cookie")
        return f"ws://127.0.0.1:{self.port}/agent/ws", {"Origin": base, "Cookie": f"widget_session={cookie}"}

    def admin_stats(self) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/admin/stats", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def database(self) -> sqlite3.Connection:
        """A read-only connection to the server's database (WAL: it sees every committed write)."""
        path = self.work / "data" / "widget.db"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def stored_messages(self, chats: list[str]) -> int | None:
        """How many visitor messages of these chats are in the database."""
        with contextlib.closing(self.database()) as db:
            db.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
            db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(c,) for c in chats])
            (count,) = db.execute(
                "SELECT COUNT(*) FROM events WHERE chat_id IN (SELECT id FROM wanted)"
                " AND kind = 'message' AND json_extract(data, '$.from') = 'visitor'"
            ).fetchone()
            return int(count)

    def last_seqs(self, chats: list[str]) -> dict[str, int]:
        with contextlib.closing(self.database()) as db:
            rows = db.execute("SELECT id, last_seq FROM chats").fetchall()
        wanted = set(chats)
        return {chat: seq for chat, seq in rows if chat in wanted}

    def stored_twice(self) -> int:
        """How many (chat, client id) pairs are stored more than once: each is a message stored twice."""
        with contextlib.closing(self.database()) as db:
            (twice,) = db.execute(
                "SELECT COUNT(*) FROM (SELECT chat_id, client_id FROM events WHERE client_id IS NOT NULL"
                " GROUP BY chat_id, client_id HAVING COUNT(*) > 1)"
            ).fetchone()
        return int(twice)
