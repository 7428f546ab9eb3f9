"""Whatever a visitor sends, the server answers in the documented protocol and keeps the socket.

Hypothesis makes the frames: well-formed ones with every field of the wrong type, depth or length,
JSON that is not an object, text that is not JSON, binary frames. They go to a real `widget-server`
process over a real websocket, some before and some after a `start`. Every answer must be a frame type
and every error a code that docs/protocol.md lists (not `internal_error`, a fault of ours), the socket
must still answer a `ping` (or be closed with a documented close code), and the server must log no
traceback. The documented names are read from docs/protocol.md itself, so the test holds the server
to what a client author reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.clients import HOST_ORIGIN
from tests.support.cluster import free_port, to_toml

PROTOCOL_DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
CLOSE_CODES = {1008, 1009, 1013}  # refused too often, a frame past the socket's limit, a slow reader
WAIT = 5.0


def _documented(section: str) -> set[str]:
    """The names in the first column of a section's table in docs/protocol.md."""
    text = PROTOCOL_DOC.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, re.MULTILINE))


SERVER_TYPES = _documented("Server to visitor")
ERROR_CODES = _documented("Error codes") - {"internal_error"}
VISITOR_TYPES = sorted(_documented("Visitor to server"))
FIELDS = [
    *("nickname", "subject", "email", "userData", "page", "id", "token", "after", "text", "active"),
    *("url", "name", "message", "rating", "comment", "expanded", "chat"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from([*VISITOR_TYPES, "", "Say", "hello"])},
        optional={name: json_values for name in FIELDS},
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100),
    st.integers(1, 40).map(lambda depth: '{"type":"say","id":"d","text":' + "[" * depth + "]" * depth + "}"),
)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `widget-server` process with one site whose limits let every frame through to its handler."""
    home = tmp_path_factory.mktemp("fuzz")
    limits = {
        "chats_per_ip_per_hour": 100_000,
        "messages_per_minute": 100_000,
        "frames_per_second": 10_000,
        "frame_burst": 10_000,
    }
    site = {"name": "Fuzz", "allowed_origins": [HOST_ORIGIN], "backend": "local", "limits": limits}
    (home / "widget.toml").write_text(to_toml({"data_dir": str(home / "data"), "sites": {"fuzz": site}}))
    port = free_port()
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "widget_server", "--config", "widget.toml", "--port", str(port), "serve"],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "WIDGET_SERVER_ADMIN_PASSWORD": "fuzz admin password"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    home / "server.log"
                ).read_text()
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    output = (home / "server.log").read_text()
    assert "Traceback" not in output, output


def _answers(ws: ClientConnection) -> Iterator[dict[str, Any]]:
    """Every frame the server sends until its pong, each checked against the documented protocol."""
    while True:
        frame = json.loads(ws.recv(WAIT))
        assert frame["type"] in SERVER_TYPES, frame
        if frame["type"] == "error":
            assert frame["code"] in ERROR_CODES and frame["message"], frame
        yield frame
        if frame["type"] == "pong":
            return


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(sent=st.lists(frames, min_size=1, max_size=6), started=st.booleans())
def test_any_frame_gets_a_documented_answer_and_the_socket_lives_on(
    server_url: str, sent: list[str | bytes], started: bool
) -> None:
    ws_url = "ws" + server_url.removeprefix("http") + "/ws/fuzz"
    with connect(ws_url, origin=HOST_ORIGIN, open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(WAIT))["type"] == "hello"
        if started:
            ws.send(json.dumps({"type": "start", "nickname": "Fuzz"}))
        for frame in sent:
            ws.send(frame)
        ws.send(json.dumps({"type": "ping"}))
        try:
            answers = list(_answers(ws))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in CLOSE_CODES, closed
            return
        assert answers[-1]["type"] == "pong"
