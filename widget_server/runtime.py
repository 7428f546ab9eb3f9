"""The running server's parts, built from the configuration and torn down in reverse order.

This is the composition root: the only place that knows which store, bus and adapters there are. The web
layer gets one ``Runtime`` and reads everything from it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from widget_server import model, roles
from widget_server.adapters import Adapter, AdapterContext, create_adapter
from widget_server.assignment import Assigner
from widget_server.bus import Bus, open_bus
from widget_server.chat_service import ChatService
from widget_server.config import DEMO_SITE, Config, demo_site
from widget_server.file_store import open_files
from widget_server.omnidesk_policy import OmnideskPolicies
from widget_server.passwords import hash_password, verify_password
from widget_server.poller_leases import PollerLeases, open_leases
from widget_server.reply_times import ReplyTimes
from widget_server.secret_key import read_or_create_private_file
from widget_server.shared_state import SharedState, open_shared_state
from widget_server.sites import SiteDirectory
from widget_server.store import Store, open_store
from widget_server.tokens import ResumeTokens
from widget_server.web.live import LiveConnections
from widget_server.zendesk import Forwarder

log = logging.getLogger(__name__)

ADMIN_PASSWORD_ENV = "WIDGET_SERVER_ADMIN_PASSWORD"  # noqa: S105 - a variable's name
ADMIN_PASSWORD_FILE = "admin_password"  # noqa: S105 - a file's name
DEFAULT_ADMIN = "admin"


@dataclass
class DefaultLogin:
    """The login created on first start, to print: where the password came from."""

    name: str
    password: str | None
    source: str


@dataclass
class Runtime:
    config: Config
    store: Store
    bus: Bus
    leases: PollerLeases
    #: Who is there and the limits, for every process of the deployment: in Redis when the bus is.
    state: SharedState
    sites: SiteDirectory
    service: ChatService
    tokens: ResumeTokens
    secret_key: str
    default_login: DefaultLogin | None = None
    adapters: dict[str, Adapter] = field(default_factory=dict)
    adapter_context: AdapterContext = field(default_factory=AdapterContext)
    live: LiveConnections = field(init=False)
    forwarder: Forwarder | None = None
    #: Set when the process begins to stop: it is no longer ready (/readyz) for new visitors.
    stopping: bool = False
    _watcher: asyncio.Task[None] | None = None
    #: Omnidesk sites: their configuration check, and the access policy of those with policy_source = true
    #: (widget_server/omnidesk_policy.py; the gate asks it, the admin page can show its ``describe``).
    omnidesk: OmnideskPolicies = field(init=False)
    #: Round-robin assignment for the sites whose team wants it (widget_server/assignment.py).
    assigner: Assigner | None = None
    #: How soon each site's team usually answers, for `hello` (widget_server/reply_times.py).
    reply_times: ReplyTimes = field(init=False)
    #: Each person's scope as last computed, with the sites' version it was computed for: a console asks
    #: for every frame it may pass on, and the answer changes only with the sites (the teams are fixed).
    _scopes: dict[tuple[str, str], tuple[int, roles.Scope]] = field(default_factory=dict)

    @classmethod
    async def start(cls, config: Config, secret_key: str) -> Runtime:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = await open_store(config.store, config.data_dir)
        bus = await open_bus(config.bus)
        # Where the bus is shared, so are the pollers' leases: one poller per chat across the processes.
        leases = open_leases(config.bus, ttl=config.poller.lease_ttl)
        state = await open_shared_state(config.bus)
        sites = SiteDirectory(config.sites or {DEMO_SITE: demo_site()}, store)
        await sites.refresh()
        runtime: Runtime
        adapter_context = AdapterContext(state)
        forwarder = Forwarder(
            store, lambda site_id: getattr(sites.get(site_id), "zendesk", None), adapter_context
        )
        service = ChatService(
            store,
            bus,
            lambda site_id: runtime.adapter(site_id),
            poll_settings=config.poller,
            outbox_queued=forwarder.wake,
            availability_changed=lambda: runtime.availability_changed(),
            away_after=config.agent_away_after,
            files=open_files(store, config.data_dir, config.attachments_dir),
            leases=leases,
            state=state,
        )
        runtime = cls(
            config=config,
            store=store,
            bus=bus,
            leases=leases,
            state=state,
            sites=sites,
            service=service,
            tokens=ResumeTokens(secret_key, config.resume_token_max_age),
            secret_key=secret_key,
            adapter_context=adapter_context,
            forwarder=forwarder,
        )
        runtime.live = LiveConnections(state)
        runtime.omnidesk = OmnideskPolicies(sites, runtime.adapter, runtime.live.enforce, config.data_dir)
        runtime.omnidesk.sites_changed(site.id for site in sites.all())
        runtime.default_login = await ensure_default_login(store, config.data_dir)
        await service.roster.start()
        await service.recover()
        runtime.assigner = Assigner(service, sites, config.teams)
        await runtime.assigner.start()
        forwarder.start()
        runtime.reply_times = ReplyTimes(store, lambda: [site.id for site in sites.all()])
        runtime.reply_times.start()
        runtime.check_adapters()
        runtime._watcher = asyncio.ensure_future(runtime._watch_sites())
        return runtime

    def scope_of(self, user: model.User) -> roles.Scope:
        """Which chats ``user`` sees (widget_server/roles.py): by their teams and the sites as they are."""
        if not self.config.teams:
            return roles.EVERYTHING  # no teams: everybody sees every chat (and nothing to compute)
        key = (user.name, user.role)
        cached = self._scopes.get(key)
        if cached is None or cached[0] != self.sites.version:
            cached = self._scopes[key] = (
                self.sites.version,
                roles.scope_of(user, self.config.teams, self.sites.all()),
            )
        return cached[1]

    def availability_changed(self) -> None:
        """The first agent is online or the last one is not (widget_server/agent_status.py): the open
        widgets of the built-in contact center's sites get a new `hello`, so that they offer a chat or
        the offline form as it now is."""
        for site in self.sites.all():
            if site.backend == "local":
                for socket in self.live.sockets(site.id):
                    socket.send_hello()

    async def refresh_sites(self) -> None:
        """Take in site changes made by any process sharing the database: the next handshake is judged
        by them, and open sockets they no longer admit are closed."""
        changed = await self.sites.refresh()
        self.omnidesk.sites_changed(changed)  # first, so that what follows sees an Omnidesk site's policy
        for site_id in changed:
            site = self.sites.get(site_id)
            self.live.enforce(site_id, site)
            adapter = self.adapters.pop(site_id, None)  # the next chat gets one with the new settings
            if adapter is not None:
                await adapter.close()

    async def _watch_sites(self, every: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh_sites()
            except Exception:
                log.exception("could not check the sites for changes")

    def adapter(self, site_id: str) -> Adapter:
        adapter = self.adapters.get(site_id)
        if adapter is None:
            site = self.sites.get(site_id)
            if site is None:
                raise KeyError(site_id)
            adapter = self.adapters[site_id] = create_adapter(
                site.backend, site.backend_settings, self.adapter_context, site_id
            )
            if adapter.setup_problem is not None:
                self.adapter_context.report(site_id, False, adapter.setup_problem)
        return adapter

    def check_adapters(self) -> None:
        """Make every site's adapter now, so that a contact center that cannot work (a secret's variable
        not set) is reported at start, not at the first chat."""
        for site in self.sites.all():
            self.adapter(site.id)

    async def stop(self) -> None:
        self.stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.omnidesk.close()
        await self.reply_times.close()
        if self.assigner is not None:
            await self.assigner.close()
        await self.service.close()
        if self.forwarder is not None:
            await self.forwarder.close()
        for adapter in self.adapters.values():
            await adapter.close()
        await self.adapter_context.close()
        await self.leases.close()
        await self.state.close()  # a clean stop: this process's share is removed, not left to expire
        await self.bus.close()
        await self.store.close()


async def ensure_default_login(store: Store, data_dir: Path) -> DefaultLogin | None:
    """Give a fresh install one operator who can log in to the agent console and the admin page.

    The password is WIDGET_SERVER_ADMIN_PASSWORD if set (and is reset to it on every start), else one
    generated on first start, printed then, and kept in the data dir (mode 0600), where later starts say
    it is. Once
    another operator exists and the default login was removed, nothing is created.
    """
    given = os.environ.get(ADMIN_PASSWORD_ENV)
    existing = await store.get_user(DEFAULT_ADMIN)
    password_file = data_dir / ADMIN_PASSWORD_FILE
    if existing is None and any(user.role == model.OPERATOR_ROLE for user in await store.list_users()):
        return None  # operators exist (and removed the default login): nothing to create
    if given:
        if existing is None or not verify_password(existing.password_hash, given):
            version = existing.session_version + 1 if existing else 1
            await store.put_user(
                model.User(DEFAULT_ADMIN, model.OPERATOR_ROLE, hash_password(given), "Admin", version)
            )
        return DefaultLogin(DEFAULT_ADMIN, None, f"the password in ${ADMIN_PASSWORD_ENV}")
    if existing is None:
        password = read_or_create_private_file(password_file, lambda: secrets.token_urlsafe(12))
        await store.put_user(model.User(DEFAULT_ADMIN, model.OPERATOR_ROLE, hash_password(password), "Admin"))
        return DefaultLogin(DEFAULT_ADMIN, password, str(password_file))
    if password_file.exists():
        password = password_file.read_text(encoding="utf-8").strip()
        if verify_password(existing.password_hash, password):
            # Shown once, on the first start: a log that keeps every start's lines must not keep it.
            return DefaultLogin(DEFAULT_ADMIN, None, f"the password in {password_file}")
    return None
