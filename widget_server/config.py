"""The configuration file (TOML) and the sites it provisions.

``load_config(path)`` reads and checks the whole file and raises ``ConfigError`` with one message naming
the file, the key and the problem; it never lets a traceback reach the operator. The same checks guard
sites created through the admin page, the API and the CLI (``site_from_mapping``).

The checks are written by hand rather than with a schema library: the schema is small, and the messages
(``widget.toml: sites.acme.allowed_origins[1]: 'https://*.com' would match ...``) are the point.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filetype

from widget_server import teams
from widget_server.access import InvalidNetwork, InvalidPattern, NetworkSet, OriginPolicy, SitePolicy
from widget_server.adapters import settings_specs
from widget_server.availability import BusinessHours, HoursError
from widget_server.greetings import Greeting, greetings_from_list
from widget_server.identity import MIN_SECRET, IdentitySecrets
from widget_server.logs import FORMATS as LOG_FORMATS
from widget_server.poll_policy import PollSettings
from widget_server.settings_table import (
    ConfigError,
    Setting,
    check_table,
    env_name,
    http_url,
    one_of,
    positive,
    string_list,
)
from widget_server.widget_strings import StringsProblem, check_strings, locale_problem

SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEMO_SITE = "demo"

# The whole store and bus URLs may come from the environment instead of the file, so that a password in
# them never has to be written into the configuration; the environment wins over the file.
# The configuration file when --config is not given; also how `--workers` hands it to its processes.
CONFIG_ENV = "WIDGET_SERVER_CONFIG"
STORE_ENV = "WIDGET_SERVER_STORE"
BUS_ENV = "WIDGET_SERVER_BUS"
STORE_SCHEMES = ("sqlite", "postgresql", "postgres")
BUS_SCHEMES = ("memory", "redis", "rediss")


def _origin_problem(pattern: str) -> str | None:
    try:
        OriginPolicy([pattern])
    except InvalidPattern as error:
        return str(error)
    return None


def _network_problem(entry: str) -> str | None:
    try:
        NetworkSet([entry])
    except InvalidNetwork as error:
        return str(error)
    return None


@dataclass(frozen=True)
class Limits:
    """Abuse limits of one site. Past a limit the visitor gets `rate_limited`, or the handshake is
    refused."""

    chats_per_ip_per_hour: int = 20
    sockets_per_ip: int = 20
    messages_per_minute: int = 60
    frames_per_second: float = 10.0
    frame_burst: int = 40


LIMITS_SPEC = {
    "chats_per_ip_per_hour": Setting(int, default=Limits.chats_per_ip_per_hour, check=positive),
    "sockets_per_ip": Setting(int, default=Limits.sockets_per_ip, check=positive),
    "messages_per_minute": Setting(int, default=Limits.messages_per_minute, check=positive),
    "frames_per_second": Setting((int, float), default=Limits.frames_per_second, check=positive),
    "frame_burst": Setting(int, default=Limits.frame_burst, check=positive),
}


@dataclass(frozen=True)
class AttachmentRules:
    """What files a site accepts (widget_server/attachments.py applies them)."""

    max_bytes: int = 2 * 1024 * 1024
    max_files: int = 5
    types: tuple[str, ...] = (
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
    )


# Types that a file may never be accepted as: they run code when opened (a browser renders HTML, SVG and
# XML with their scripts; executables, packages, extensions and Flash run on the agent's machine). Files
# are always served as downloads with nosniff and a sandbox, but an agent opening one would still be hit.
UNSAFE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/javascript",
        "application/wasm",
        "application/x-shockwave-flash",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-deb",
        "application/x-rpm",
        "application/x-google-chrome-extension",
        "application/octet-stream",
    }
)


def _type_problem(content_type: str) -> str | None:
    """A type a site may accept: one that the content sniffer can recognise (widget_server/attachments.py
    decides a file's type by its bytes, so another type would never match) and that is safe to serve."""
    if content_type in UNSAFE_TYPES:
        return f"{content_type} is never accepted: such a file can run code when it is opened"
    if content_type != "text/plain" and content_type not in {kind.mime for kind in filetype.types}:
        return f"{content_type} is not a type widget_server recognises from a file's content"
    return None


ATTACHMENTS_SPEC = {
    "max_bytes": Setting(int, default=AttachmentRules.max_bytes, check=positive),
    "max_files": Setting(int, default=AttachmentRules.max_files, check=positive, doc="per chat"),
    "types": Setting(list, default=list(AttachmentRules.types), check=string_list(_type_problem)),
}


@dataclass(frozen=True)
class Site:
    """A website that may embed the widget, with its access policy and its backend."""

    id: str
    name: str
    allowed_origins: tuple[str, ...]
    blocked_ips: tuple[str, ...]
    backend: str
    backend_settings: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    provisioned: bool = False
    #: ``[sites.ID.hours]`` as written (None: always open), and ``[sites.ID.zendesk]`` (None: offline
    #: messages stay here).
    hours_table: Mapping[str, Any] | None = None
    zendesk: Mapping[str, Any] | None = None
    attachments: AttachmentRules = field(default_factory=AttachmentRules)
    #: The widget's language when the page and the browser name none it speaks (None: English), and the
    #: site's own wording of its strings (``[sites.ID.strings]``, widget_server/widget_strings.py).
    locale: str | None = None
    strings: Mapping[str, Any] | None = None
    #: The team that answers its chats (``[teams.ID]``, widget_server/teams.py; None: manual, anyone).
    team: str | None = None
    #: The teams the visitor chooses from before a chat (``teams``, ids of ``[teams.ID]``): their names
    #: go in `hello`, and the chosen one answers the chat (``Chat.team``); empty: no choice.
    teams: tuple[str, ...] = ()
    #: Proactive greetings (``[[sites.ID.greetings]]``, widget_server/greetings.py), in order.
    greetings: tuple[Greeting, ...] = ()
    #: A sound and the unread count in the page's title for an agent's message while the visitor's tab
    #: is hidden (off by default: a page that beeps surprises people).
    notify: bool = False
    #: The secrets that verify visitors' identities (``[sites.ID.identity]``, widget_server/identity.py;
    #: None: identities are refused). Compared, so that a rotation counts as a change of the site.
    identity: IdentitySecrets | None = field(default=None, repr=False)
    policy: SitePolicy = field(init=False, compare=False, repr=False)
    hours: BusinessHours | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "policy", SitePolicy.from_lists(list(self.allowed_origins), list(self.blocked_ips))
        )
        hours = BusinessHours.from_table(self.hours_table) if self.hours_table is not None else None
        object.__setattr__(self, "hours", hours)


def backend_specs() -> dict[str, Mapping[str, Setting]]:
    """Each backend's settings table, declared by its adapter module."""
    return settings_specs()


SITE_SPEC = {
    # Optional: the site's id stands in (the widget's header shows it).
    "name": Setting(str, check=lambda v: None if 0 < len(v) <= 100 else "must be 1 to 100 characters"),
    "allowed_origins": Setting(list, default=[], check=string_list(_origin_problem)),
    "blocked_ips": Setting(list, default=[], check=string_list(_network_problem)),
    "backend": Setting(str, default="local"),
    "limits": Setting(dict, default={}),
    "hours": Setting(dict),
    "zendesk": Setting(dict),
    "attachments": Setting(dict, default={}),
    "locale": Setting(str, check=locale_problem),
    "strings": Setting(dict),
    "team": Setting(str, check=lambda v: None if SITE_ID.match(v) else "must be a team's id"),
    "teams": Setting(
        list, default=[], check=string_list(lambda v: None if SITE_ID.match(v) else "a team's id")
    ),
    "greetings": Setting(list, default=[]),
    "notify": Setting(bool, default=False, doc="a sound and a title badge for a message in a hidden tab"),
    "identity": Setting(dict),
}

# A site of the file names its identity secrets in environment variables (secrets never go in the
# file); a stored site keeps the secrets an operator created (site_admin.py) in its stored settings,
# which only the server writes and never shows (site_admin.site_table).
IDENTITY_FILE_SPEC = {
    "secret_env": Setting(str, required=True, check=env_name, doc="the variable holding the secret"),
    "previous_secret_env": Setting(str, check=env_name, doc="also accepted, while a new one is rolled out"),
}
IDENTITY_STORED_SPEC = {
    "secret": Setting(str, required=True),
    "previous_secret": Setting(str),
    "previous_until": Setting(int, check=positive),
}


def _identity_secrets(table: Any, where: str, *, provisioned: bool) -> IdentitySecrets:
    """``[sites.ID.identity]``: from the environment for a site of the file, as stored for the others.
    A problem names the key, never the secret."""
    if not provisioned:
        stored = check_table(table, IDENTITY_STORED_SPEC, where)
        return IdentitySecrets(stored["secret"], stored["previous_secret"], stored["previous_until"])
    named = check_table(table, IDENTITY_FILE_SPEC, where)
    found: list[str | None] = []
    for key in ("secret_env", "previous_secret_env"):
        name = named[key]
        value = os.environ.get(name) if name else None
        if name and not value:
            raise ConfigError(f"{where}.{key}", f"the environment variable {name} is not set")
        if value is not None and len(value) < MIN_SECRET:
            raise ConfigError(
                f"{where}.{key}", f"the secret in {name} is shorter than {MIN_SECRET} characters"
            )
        found.append(value)
    current, previous = found
    assert current is not None
    return IdentitySecrets(current, previous)


ZENDESK_SPEC = {
    "base_url": Setting(str, required=True, check=http_url, doc="https://SUBDOMAIN.zendesk.com"),
    "token_env": Setting(str, required=True, check=env_name, doc="the variable holding the OAuth token"),
    "department_id": Setting(int, check=positive),
    "timeout": Setting((int, float), default=15, check=positive),
}


def site_from_mapping(
    site_id: str, table: Any, *, where: str | None = None, provisioned: bool = False
) -> Site:
    """Check one site's table (as in the file, under ``[sites.ID]``) and build the ``Site``."""
    where = where or f"sites.{site_id}"
    if not SITE_ID.match(site_id):
        raise ConfigError(where, "a site id is 1 to 63 lowercase letters, digits, '-' or '_'")
    specs = backend_specs()
    checked = check_table(table, SITE_SPEC, where, extra=lambda key: key in specs)
    backend = checked["backend"]
    if backend not in specs:
        raise ConfigError(
            f"{where}.backend", f"unknown backend {backend!r} (known: {', '.join(sorted(specs))})"
        )
    for other in specs:
        if other != backend and other in checked:
            raise ConfigError(f"{where}.{other}", f"is set, but the site's backend is {backend!r}")
    backend_table = checked.get(backend, {})
    backend_settings = check_table(backend_table, specs[backend], f"{where}.{backend}")
    limits = Limits(**check_table(checked["limits"], LIMITS_SPEC, f"{where}.limits"))
    hours = checked["hours"]
    if hours is not None:
        try:
            BusinessHours.from_table(hours)
        except HoursError as error:
            raise ConfigError(
                f"{where}.hours" + (f".{error.where}" if error.where else ""), error.problem
            ) from None
    zendesk = checked["zendesk"]
    if zendesk is not None:
        zendesk = check_table(zendesk, ZENDESK_SPEC, f"{where}.zendesk")
    files = check_table(checked["attachments"], ATTACHMENTS_SPEC, f"{where}.attachments")
    attachments = AttachmentRules(files["max_bytes"], files["max_files"], tuple(files["types"]))
    strings = checked["strings"]
    if strings is not None:
        try:
            strings = check_strings(strings)
        except StringsProblem as error:
            raise ConfigError(f"{where}.strings.{error.where}", error.problem) from None
    identity_table = checked["identity"]
    identity_secrets = (
        None
        if identity_table is None
        else _identity_secrets(identity_table, f"{where}.identity", provisioned=provisioned)
    )
    return Site(
        id=site_id,
        name=checked["name"] if checked["name"] is not None else site_id,
        allowed_origins=tuple(p.strip() for p in checked["allowed_origins"]),
        blocked_ips=tuple(e.strip() for e in checked["blocked_ips"]),
        backend=backend,
        backend_settings=backend_settings,
        limits=limits,
        provisioned=provisioned,
        hours_table=hours,
        zendesk=zendesk,
        attachments=attachments,
        locale=checked["locale"],
        strings=strings or None,
        team=checked["team"],
        teams=tuple(dict.fromkeys(checked["teams"])),
        greetings=greetings_from_list(checked["greetings"], f"{where}.greetings"),
        notify=checked["notify"],
        identity=identity_secrets,
    )


POLLER_SPEC = {
    **{
        name: Setting((int, float), default=getattr(PollSettings(), name), check=positive)
        for name in (
            "typing_interval",
            "active_interval",
            "idle_interval",
            "idle_after",
            "grace",
            "backoff_base",
            "backoff_max",
            "lease_ttl",
            "sweep_interval",
        )
    },
    "max_in_flight": Setting(int, default=PollSettings.max_in_flight, check=positive),
}


def poll_settings(table: dict[str, Any]) -> PollSettings:
    seconds = {k: float(v) for k, v in table.items() if k != "max_in_flight"}
    return PollSettings(**seconds, max_in_flight=int(table["max_in_flight"]))


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")
    trusted_proxies: tuple[str, ...] = ()
    sites: Mapping[str, Site] = field(default_factory=dict)
    store: str = "sqlite:"
    bus: str = "memory:"
    attachments_dir: Path | None = None
    public_url: str | None = None
    resume_token_max_age: int = 7 * 24 * 3600
    http_connections_per_ip: int = 256
    metrics_networks: tuple[str, ...] = ("127.0.0.1", "::1")
    shutdown_timeout: int = 30
    log_format: str = "plain"
    poller: PollSettings = field(default_factory=PollSettings)
    #: Seconds after an agent's last console closed (in every process) before they count as away.
    agent_away_after: float = 60.0
    source: str | None = None
    #: ``[teams.ID]`` (widget_server/teams.py).
    teams: Mapping[str, teams.Team] = field(default_factory=dict)

    @property
    def trusted_proxy_set(self) -> NetworkSet:
        return NetworkSet(self.trusted_proxies)

    @property
    def metrics_network_set(self) -> NetworkSet:
        return NetworkSet(self.metrics_networks)


TOP_SPEC = {
    "data_dir": Setting(str, default="./data"),
    "trusted_proxies": Setting(list, default=[], check=string_list(_network_problem)),
    "store": Setting(str, default="sqlite:", check=lambda url: _scheme_problem(url, STORE_SCHEMES)),
    "bus": Setting(str, default="memory:", check=lambda url: _scheme_problem(url, BUS_SCHEMES)),
    "attachments_dir": Setting(str),
    "public_url": Setting(str, check=http_url),
    "resume_token_max_age": Setting(int, default=Config.resume_token_max_age, check=positive),
    "http_connections_per_ip": Setting(int, default=Config.http_connections_per_ip, check=positive),
    "shutdown_timeout": Setting(int, default=Config.shutdown_timeout, check=positive),
    "log_format": Setting(str, default=Config.log_format, check=one_of(*LOG_FORMATS)),
    "metrics_networks": Setting(
        list, default=list(Config.metrics_networks), check=string_list(_network_problem)
    ),
    "poller": Setting(dict, default={}),
    "agents": Setting(dict, default={}),
    "sites": Setting(dict, default={}),
    "teams": Setting(dict, default={}),
}

AGENTS_SPEC = {"away_after": Setting((int, float), default=Config.agent_away_after, check=positive)}


def _scheme_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    scheme = url.partition(":")[0]
    if scheme in schemes:
        return None
    return f"unknown URL scheme {scheme!r} (use {', '.join(f'{s}:' for s in schemes)})"


def _from_environment(top: dict[str, Any]) -> None:
    """``WIDGET_SERVER_STORE`` and ``WIDGET_SERVER_BUS`` replace the file's ``store`` and ``bus``."""
    for key, name, schemes in (("store", STORE_ENV, STORE_SCHEMES), ("bus", BUS_ENV, BUS_SCHEMES)):
        value = os.environ.get(name)
        if value:
            problem = _scheme_problem(value, schemes)
            if problem:
                raise ConfigError(f"${name}", problem)
            top[key] = value


def load_config(path: Path) -> Config:
    """Read and check a configuration file. Relative paths in it are relative to the file."""
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("", "no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("", f"cannot read the file ({error})", source=source) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("", f"not valid TOML: {error}", source=source) from None
    try:
        return config_from_mapping(raw, base=path.parent, source=source)
    except ConfigError as error:
        raise ConfigError(error.where, error.problem, source=source) from None


def read_config(path: Path | None) -> Config:
    """The file's configuration, or with none the defaults (the demo, ``./data``), the environment's
    store and bus applied either way."""
    if path is None:
        return config_from_mapping({"data_dir": "data"})
    return load_config(path)


def config_from_mapping(
    raw: Mapping[str, Any], *, base: Path = Path("."), source: str | None = None
) -> Config:
    top = check_table(dict(raw), TOP_SPEC, "")
    _from_environment(top)
    sites = {}
    for site_id, table in top["sites"].items():
        sites[site_id] = site_from_mapping(site_id, table, provisioned=True)
    _distinct_identity_secrets(sites)
    declared_teams = teams.teams_from_mapping(top["teams"])
    for site in sites.values():
        if site.team is not None and site.team not in declared_teams:
            raise ConfigError(f"sites.{site.id}.team", f"there is no [teams.{site.team}]")
        for offered in site.teams:
            if offered not in declared_teams:
                raise ConfigError(f"sites.{site.id}.teams", f"there is no [teams.{offered}]")
    data_dir = Path(os.path.expanduser(top["data_dir"]))
    attachments_dir = Path(os.path.expanduser(top["attachments_dir"])) if top["attachments_dir"] else None
    return Config(
        data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
        trusted_proxies=tuple(top["trusted_proxies"]),
        sites=sites,
        store=top["store"],
        bus=top["bus"],
        attachments_dir=(
            None
            if attachments_dir is None
            else attachments_dir
            if attachments_dir.is_absolute()
            else base / attachments_dir
        ),
        public_url=top["public_url"],
        resume_token_max_age=top["resume_token_max_age"],
        http_connections_per_ip=top["http_connections_per_ip"],
        metrics_networks=tuple(top["metrics_networks"]),
        shutdown_timeout=top["shutdown_timeout"],
        log_format=top["log_format"],
        poller=poll_settings(check_table(top["poller"], POLLER_SPEC, "poller")),
        agent_away_after=float(check_table(top["agents"], AGENTS_SPEC, "agents")["away_after"]),
        source=source,
        teams=declared_teams,
    )


def _distinct_identity_secrets(sites: Mapping[str, Site]) -> None:
    """Two sites of the file with the same identity secret would take each other's signatures."""
    seen: dict[str, str] = {}
    for site in sites.values():
        if site.identity is None:
            continue
        for secret in filter(None, (site.identity.current, site.identity.previous)):
            other = seen.setdefault(secret, site.id)
            if other != site.id:
                raise ConfigError(
                    f"sites.{site.id}.identity",
                    f"has the same secret as sites.{other}: each site needs its own, or a signature made"
                    " for one would pass on the other",
                )


def demo_site(extra_origins: tuple[str, ...] = ()) -> Site:
    """The site served when there is no configuration at all: the built-in contact center, embeddable
    from the server's own pages and from any local development server."""
    return Site(
        id=DEMO_SITE,
        name="Demo",
        allowed_origins=("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", *extra_origins),
        blocked_ips=(),
        backend="local",
        provisioned=True,
    )
