"""The ``widget-server`` command.

``widget-server`` alone serves the demo on 127.0.0.1:8000 with everything embedded; ``widget-server serve
--config FILE --host H --port P`` is the same for a real deployment. Errors an operator can fix (a bad
configuration, a taken port) are one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from widget_server.config import Config, ConfigError, load_config
from widget_server.web.ws_protocol import WebSocketProtocol

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# How uvicorn runs the app, here and in the tests (tests/support/clients.py).
UVICORN_OPTIONS: dict[str, Any] = {
    # Measured (docs/performance.md): the sans-I/O websockets implementation holds thousands of idle
    # sockets at the cost of a bare websockets server; the legacy ones have long tails. Ours is it, less
    # what an idle socket need not keep.
    "ws": WebSocketProtocol,
    # Frames over 16 KiB get an error frame from us; this is the hard stop well above that.
    "ws_max_size": 256 * 1024,
    # Chat frames are small: compression costs ~50 KiB per connection for little gain.
    "ws_per_message_deflate": False,
    # Off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default. `trusted_proxies` are
    # handled by our own middleware (widget_server/web/proxy.py), with Forwarded too.
    "proxy_headers": False,
    "server_header": False,
    "lifespan": "on",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "serve":
            return serve(args)
        if command in ("sites", "users", "tokens"):
            from widget_server import cli_admin

            return cli_admin.run(args)
    except ConfigError as error:
        print(f"widget-server: {error}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="widget-server",
        description="Self-hosted backend for an embeddable customer chat widget. "
        "Without a command, serves the demo on http://127.0.0.1:8000/.",
    )
    _serve_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser("serve", help="run the server (the default command)")
    _serve_options(serve_parser)
    from widget_server import cli_admin

    cli_admin.add_commands(commands)
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the TOML configuration file (default: none, the demo)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="default info"
    )


def read_config(path: Path | None) -> Config:
    if path is None:
        return Config(data_dir=Path("data"))
    return load_config(path)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from widget_server.web.app import create_app

    config = read_config(args.config)
    try:
        app = create_app(config, on_ready=lambda runtime: None)
    except (OSError, ValueError) as error:
        print(f"widget-server: cannot start: {error}", file=sys.stderr)
        return 2
    base = f"http://{_url_host(args.host)}:{args.port}"

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(banner(base, app.state.runtime), flush=True)

    server = Server(
        uvicorn.Config(
            app, host=args.host, port=args.port, log_config=log_config(args.log_level), **UVICORN_OPTIONS
        )
    )
    server.run()
    return 0 if server.started else 1


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 - only for the printed URL
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(base: str, runtime: Any) -> str:
    ws_base = "ws" + base.removeprefix("http")
    lines = ["", "widget_server is running."]
    sites = runtime.sites.all()
    if not runtime.config.sites:
        lines.append(f"  Demo host page:   {base}/")
    lines.append(f"  Widget loader:    {base}/widget.js")
    for site in sites:
        lines.append(f"  Visitor socket:   {ws_base}/ws/{site.id}   ({site.name}, {site.backend})")
    lines.append(f"  Agent console:    {base}/agent")
    login = runtime.default_login
    if login is not None:
        if login.password is not None:
            lines.append(f"  Agent login:      {login.name} / {login.password}   (kept in {login.source})")
        else:
            lines.append(f"  Agent login:      {login.name} with {login.source}")
    lines.append("")
    return "\n".join(lines)


def log_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "widget_server": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


if __name__ == "__main__":
    logging.basicConfig(format=LOG_FORMAT)
    sys.exit(main())
