"""``widget-server sites|users|tokens ...``: administration from the shell, on the same database the
server uses (``--config`` names it, as for ``serve``). Running servers take in site changes within a
second; every change is in the audit log with the operating-system user who made it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from widget_server.cli_options import config_option
from widget_server.config import CONFIG_ENV, DEMO_SITE, Config, demo_site, read_config
from widget_server.model import ROLES, Actor
from widget_server.site_admin import AdminError, SiteAdmin, describe
from widget_server.sites import SiteDirectory
from widget_server.store import open_store, sqlite_path


def add_commands(commands: Any) -> None:
    sites = commands.add_parser("sites", help="list, show and change sites").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    _with_config(sites.add_parser("list", help="all sites, from the file and from the database"))
    _with_config(sites.add_parser("show", help="one site's settings, as JSON")).add_argument("site")
    add = _with_config(sites.add_parser("add", help="create a site in the database"))
    add.add_argument("site", help="the site id (the data-site of the embed snippet)")
    add.add_argument("--name", required=True, help="shown in the widget's header")
    add.add_argument("--origin", action="append", default=[], help="an allowed origin pattern (repeatable)")
    add.add_argument("--block", action="append", default=[], help="a blocked address or network (repeatable)")
    add.add_argument("--backend", default="local", help="local (default), gws, helpcrunch, omnidesk")
    add.add_argument("--settings", help="the backend's settings as a JSON object")
    _with_config(sites.add_parser("remove", help="remove a site from the database")).add_argument("site")
    for action, value, text in [
        ("allow-origin", "pattern", "allow an origin pattern"),
        ("disallow-origin", "pattern", "remove an allowed origin pattern"),
        ("block-ip", "address", "block an address or CIDR network"),
        ("unblock-ip", "address", "unblock an address or network"),
    ]:
        command = _with_config(sites.add_parser(action, help=text))
        command.add_argument("site")
        command.add_argument(value)
    secret = _with_config(
        sites.add_parser(
            "identity-secret",
            help="create or rotate the site's identity secret (printed alone on the last line); the previous"
            " one stays valid for 24 hours",
        )
    )
    secret.add_argument("site")
    what = secret.add_mutually_exclusive_group()
    what.add_argument("--show", action="store_true", help="print the current secret, change nothing")
    what.add_argument("--end-grace", action="store_true", help="stop accepting the previous secret now")
    what.add_argument("--remove", action="store_true", help="remove the secret: verify identities no more")

    users = commands.add_parser("users", help="the people who log in").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    _with_config(users.add_parser("list", help="everyone who can log in"))
    add_user = _with_config(users.add_parser("add", help="add an agent, supervisor or operator"))
    add_user.add_argument("name")
    add_user.add_argument(
        "--role",
        choices=ROLES,
        default="agent",
        help="agent (default), supervisor or operator (docs/console.md#roles)",
    )
    add_user.add_argument("--display-name", help="the name visitors see (default: the login name)")
    add_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd = _with_config(
        users.add_parser("passwd", help="set a new password (logs the user out everywhere)")
    )
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _with_config(users.add_parser("remove", help="remove a user")).add_argument("name")

    tokens = commands.add_parser("tokens", help="API tokens for the admin and history APIs").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    _with_config(tokens.add_parser("list", help="tokens, active and revoked"))
    _with_config(
        tokens.add_parser("create", help="create a token; it is printed once, alone on the last line")
    ).add_argument("name")
    _with_config(tokens.add_parser("revoke", help="revoke a token at once")).add_argument("name")


def _with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    config_option(parser, defaults=False)
    return parser


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    database = sqlite_path(config.store, config.data_dir)
    if args.config is None and database is not None and not database.exists():
        # Run elsewhere than the server, a command would make a database of its own, which the server
        # never reads: say so rather than change nothing the operator can see.
        print(
            f"widget-server: no server's database here ({database} does not exist): name the server's"
            f" configuration with --config FILE or ${CONFIG_ENV}, or run this where it runs",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(_run(args, config))
    except AdminError as error:
        print(f"widget-server: {error.message}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, config: Config) -> int:
    store = await open_store(config.store, config.data_dir)
    try:
        sites = SiteDirectory(config.sites or {DEMO_SITE: demo_site()}, store)
        await sites.refresh()

        async def reload() -> None:
            await sites.refresh()

        admin = SiteAdmin(store, sites, reload)
        actor = Actor(_os_user(), "cli")
        handler = _HANDLERS[(args.command, args.action)]
        return await handler(args, admin, actor)
    finally:
        await store.close()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AdminError("invalid", "No terminal to ask for the password on: use --password-stdin.")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise AdminError("invalid", "The two passwords differ.")
    return first


Handler = Callable[[argparse.Namespace, SiteAdmin, Actor], Awaitable[int]]


async def sites_list(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    rows = [("SITE", "NAME", "BACKEND", "SOURCE", "ORIGINS", "BLOCKED")]
    for site in admin.sites.all():
        source = "config" if site.provisioned else "database"
        rows.append(
            (
                site.id,
                site.name,
                site.backend,
                source,
                str(len(site.allowed_origins)),
                str(len(site.blocked_ips)),
            )
        )
    for site_id, problem in admin.sites.broken.items():
        rows.append((site_id, "(not valid: not served)", "", "database", "", ""))
        print(f"widget-server: {problem}", file=sys.stderr)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(site: Any) -> None:
    print(json.dumps(describe(site), indent=2, ensure_ascii=False))


async def sites_show(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    _show(admin.get(args.site))
    return 0


async def sites_add(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    table: dict[str, Any] = {
        "name": args.name,
        "allowed_origins": args.origin,
        "blocked_ips": args.block,
        "backend": args.backend,
    }
    if args.settings:
        try:
            table[args.backend] = json.loads(args.settings)
        except ValueError:
            raise AdminError("invalid", "--settings must be a JSON object.") from None
    site = await admin.create(actor, args.site, table)
    print(f"Created site {site.id}. Embed it with:")
    print(f'<script src="https://CHAT_HOST/widget.js" data-site="{site.id}" async></script>')
    return 0


async def sites_remove(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    await admin.remove(actor, args.site)
    print(f"Removed site {args.site}; its open chats' sockets are closed by the running servers.")
    return 0


def _entry(method: str, done: str) -> Handler:
    async def handler(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
        value = getattr(args, "pattern", None) or args.address
        site = await getattr(admin, method)(actor, args.site, value)
        print(f"{done} {value} on {site.id}.")
        return 0

    return handler


async def sites_identity_secret(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    if args.show:
        print(admin.identity_secret(args.site))
    elif args.end_grace:
        await admin.end_identity_grace(actor, args.site)
        print(f"{args.site}: the previous identity secret is no longer accepted.")
    elif args.remove:
        await admin.remove_identity_secret(actor, args.site)
        print(f"{args.site}: identity secret removed; identities are no longer verified.")
    else:
        had = admin.get(args.site).identity is not None
        _, secret = await admin.rotate_identity_secret(actor, args.site)
        print(
            f"{args.site}: new identity secret; the previous one is accepted for 24 more hours."
            if had
            else f"{args.site}: identity secret created."
        )
        print(secret)  # alone on the last line, so that scripts can capture it
    return 0


async def users_list(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    for user in await admin.store.list_users():
        print(f"{user.name}\t{user.role}\t{user.display_name}")
    return 0


async def users_add(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    user = await admin.add_user(actor, args.name, args.role, _password(args), args.display_name)
    print(f"Added {user.role} {user.name}.")
    return 0


async def users_passwd(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    user = await admin.set_password(actor, args.name, _password(args))
    print(f"New password set for {user.name}; their sessions are logged out.")
    return 0


async def users_remove(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    await admin.remove_user(actor, args.name)
    print(f"Removed {args.name}.")
    return 0


async def tokens_list(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    for token in await admin.store.list_tokens():
        state = "revoked" if token.revoked_at else "active"
        print(f"{token.name}\t{state}\tcreated by {token.created_by}")
    return 0


async def tokens_create(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    token, secret = await admin.create_token(actor, args.name)
    print(f"Created API token {token.name}. Keep it secret; it is not shown again:")
    print(secret)  # alone on the last line, so that scripts can capture it
    return 0


async def tokens_revoke(args: argparse.Namespace, admin: SiteAdmin, actor: Actor) -> int:
    await admin.revoke_token(actor, args.name)
    print(f"Revoked {args.name}.")
    return 0


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("sites", "list"): sites_list,
    ("sites", "show"): sites_show,
    ("sites", "add"): sites_add,
    ("sites", "remove"): sites_remove,
    ("sites", "allow-origin"): _entry("allow_origin", "Allowed"),
    ("sites", "disallow-origin"): _entry("disallow_origin", "No longer allowed:"),
    ("sites", "block-ip"): _entry("block_ip", "Blocked"),
    ("sites", "unblock-ip"): _entry("unblock_ip", "Unblocked"),
    ("sites", "identity-secret"): sites_identity_secret,
    ("users", "list"): users_list,
    ("users", "add"): users_add,
    ("users", "passwd"): users_passwd,
    ("users", "remove"): users_remove,
    ("tokens", "list"): tokens_list,
    ("tokens", "create"): tokens_create,
    ("tokens", "revoke"): tokens_revoke,
}
