"""The ``widget-server`` command.

``widget-server`` alone serves the demo on 127.0.0.1:8000 with everything embedded; ``widget-server serve
--config FILE --host H --port P`` is the same for a real deployment. Errors an operator can fix (a bad
configuration, a taken port) are one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from widget_server.cli_options import config_option
from widget_server.config import CONFIG_ENV, Config, read_config
from widget_server.logs import LOG_FORMAT, log_config
from widget_server.settings_table import ConfigError
from widget_server.web.http_protocol import HTTPProtocol
from widget_server.web.metrics_page import MULTIPROCESS_ENV
from widget_server.web.ws_protocol import WebSocketProtocol

if TYPE_CHECKING:
    from widget_server.runtime import DefaultLogin

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# How uvicorn runs the app, here and in the tests (tests/support/clients.py).
UVICORN_OPTIONS: dict[str, Any] = {
    # Measured (docs/performance.md): the sans-I/O websockets implementation holds thousands of idle
    # sockets at the cost of a bare websockets server; the legacy ones have long tails. Ours is it, less
    # what an idle socket need not keep.
    "ws": WebSocketProtocol,
    # uvicorn's h11, with deadlines for slow requests and a cap on connections per address.
    "http": HTTPProtocol,
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
    # The options go before or after the command: a subcommand's own defaults would overwrite what was
    # given before it (argparse), so there they are SUPPRESSed and the top level's stand.
    _serve_options(serve_parser, defaults=False)
    from widget_server import cli_admin

    cli_admin.add_commands(commands)
    return parser


def _serve_options(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    config_option(parser, defaults=defaults)
    parser.add_argument(
        "--host", default=default(DEFAULT_HOST), help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=default(DEFAULT_PORT), help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default(1),
        help="server processes sharing the port (default 1); more than one needs a shared bus (Redis)",
    )
    parser.add_argument(
        "--log-level",
        default=default("info"),
        choices=["debug", "info", "warning", "error"],
        help="default info",
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from widget_server.web.app import create_app

    config = read_config(args.config)
    if args.workers < 1:
        print("widget-server: --workers must be 1 or more", file=sys.stderr)
        return 2
    if args.workers > 1 and config.bus.startswith("memory:"):
        print(
            f'widget-server: --workers {args.workers} needs a shared bus: set bus = "redis://..." in the'
            " configuration (or WIDGET_SERVER_BUS); with the in-process bus, a visitor and an agent on"
            " different workers would never hear each other",
            file=sys.stderr,
        )
        return 2
    taken = _port_taken(args.host, args.port)
    if taken is not None:
        print(f"widget-server: cannot listen on {args.host}:{args.port}: {taken}", file=sys.stderr)
        return 2
    problem, login = asyncio.run(_preflight(config))
    if problem is not None:
        print(f"widget-server: cannot start: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _serve_workers(args, config, login)
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
                print(banner(base, app.state.runtime, login), flush=True)

    server = Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_config=log_config(args.log_level, config.log_format),
            timeout_graceful_shutdown=config.shutdown_timeout,
            **UVICORN_OPTIONS,
        )
    )
    server.run()
    return 0 if server.started else 1


def _port_taken(host: str, port: int) -> str | None:
    """Why the server could not listen there, found before anything starts (uvicorn would log a
    traceback-like error and exit 1): a port in use, an address not of this machine."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        return f"{host!r} is not an address of this machine ({error.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "the port is in use (another server?): choose another with --port"
            return f"{error.strerror} (choose another address with --host or port with --port)"
    return None


async def _preflight(config: Config) -> tuple[str | None, DefaultLogin | None]:
    """Open the store (running its migrations, creating the first login) and the bus once before
    serving, so that an unreachable database or Redis is one line for the operator rather than a
    traceback from every worker. Returns the problem, if any, and the first login to print."""
    from widget_server.bus import open_bus
    from widget_server.runtime import ensure_default_login
    from widget_server.store import open_store

    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = await open_store(config.store, config.data_dir)
        try:
            login = await ensure_default_login(store, config.data_dir)
        finally:
            await store.close()
        bus = await open_bus(config.bus)
        await bus.close()
    except Exception as error:  # whatever the driver raised, the operator gets its sentence
        return str(error) or type(error).__name__, None
    return None, login


def _serve_workers(args: argparse.Namespace, config: Config, login: DefaultLogin | None) -> int:
    """Several processes on one port: uvicorn's supervisor starts them (and replaces one that dies); each
    builds its app from the configuration file named in the environment."""
    import uvicorn

    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    else:
        os.environ.pop(CONFIG_ENV, None)
    # The workers' metrics in files that a scrape of any of them sums (prometheus_client's multi-process
    # mode), emptied first: what a previous run left would be summed too.
    metrics_dir = config.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(metrics_dir)
    base = f"http://{_url_host(args.host)}:{args.port}"
    lines = [
        "",
        f"widget_server is starting {args.workers} processes on {base}"
        f" (store {_redacted(config.store)}, bus {_redacted(config.bus)}).",
        f"  Agent console:    {base}/agent",
    ]
    if login is not None:
        lines.append(_login_line(login))
    print("\n".join([*lines, ""]), flush=True)
    uvicorn.run(
        "widget_server.web.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(args.log_level, config.log_format),
        timeout_graceful_shutdown=config.shutdown_timeout,
        **UVICORN_OPTIONS,
    )
    return 0


def _redacted(url: str) -> str:
    """A URL fit to print: without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 - only for the printed URL
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(base: str, runtime: Any, login: DefaultLogin | None) -> str:
    """What the operator reads at start. ``login``: as the start found it (before the app made its own
    check, which finds the password made already): its password only when it was just made."""
    ws_base = "ws" + base.removeprefix("http")
    lines = ["", "widget_server is running."]
    sites = runtime.sites.all()
    if not runtime.config.sites:
        lines.append(f"  Demo host page:   {base}/")
    lines.append(f"  Widget loader:    {base}/widget.js")
    for site in sites:
        lines.append(f"  Visitor socket:   {ws_base}/ws/{site.id}   ({site.name}, {site.backend})")
    lines.append(f"  Agent console:    {base}/agent")
    if login is not None:
        lines.append(_login_line(login))
    lines.append("")
    return "\n".join(lines)


def _login_line(login: DefaultLogin) -> str:
    if login.password is not None:
        return f"  Agent login:      {login.name} / {login.password}   (kept in {login.source})"
    return f"  Agent login:      {login.name} with {login.source}"


if __name__ == "__main__":
    logging.basicConfig(format=LOG_FORMAT)
    sys.exit(main())
