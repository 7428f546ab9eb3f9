"""Changing sites, people and API tokens: the one place the admin page, the admin API and the CLI all
go through, so that each change is checked the same way, stored whole or not at all, and recorded in
the audit log with who made it, through what, and from where.

Sites from the configuration file are provisioned: they are shown, never changed here (the file is the
truth for them, reloaded on start). Sites created here live in the database.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from widget_server import identity, model
from widget_server.access import InvalidNetwork, InvalidPattern, NetworkSet, OriginPolicy
from widget_server.config import SITE_ID, AttachmentRules, Site, site_from_mapping
from widget_server.identity import IdentitySecrets
from widget_server.model import Actor, ApiToken, AuditEntry, User
from widget_server.passwords import hash_password, password_problem
from widget_server.protocol import iso_time
from widget_server.refusal import Refused
from widget_server.settings_table import ConfigError
from widget_server.sites import SiteDirectory
from widget_server.store import SiteExists, SiteNotFound, Store

TOKEN_PREFIX = "wst_"  # noqa: S105 - a prefix that makes leaked tokens easy to recognise


class AdminError(Refused):
    """A refused change, worded for the operator; ``field`` names the setting."""


def site_table(site: Site, *, with_secrets: bool = False) -> dict[str, Any]:
    """A site as its settings table: the shape of ``[sites.ID]`` in the file, of the API's bodies, and
    (``with_secrets``: with its identity secrets) of what the database keeps. Without them, it is what
    may be shown and written into the audit log."""
    table: dict[str, Any] = {
        "name": site.name,
        "allowed_origins": list(site.allowed_origins),
        "blocked_ips": list(site.blocked_ips),
        "backend": site.backend,
        "limits": {k: v for k, v in vars(site.limits).items()},
    }
    settings = {k: v for k, v in site.backend_settings.items() if v is not None}
    if settings:
        table[site.backend] = settings
    if site.hours_table is not None:
        table["hours"] = dict(site.hours_table)
    if site.zendesk is not None:
        table["zendesk"] = {k: v for k, v in site.zendesk.items() if v is not None}
    if site.attachments != AttachmentRules():
        table["attachments"] = {**vars(site.attachments), "types": list(site.attachments.types)}
    if site.locale is not None:
        table["locale"] = site.locale
    if site.strings:
        table["strings"] = dict(site.strings)
    if site.team is not None:
        table["team"] = site.team
    if site.teams:
        table["teams"] = list(site.teams)
    if site.greetings:
        table["greetings"] = [greeting.table() for greeting in site.greetings]
    if site.notify:
        table["notify"] = True
    if with_secrets and site.identity is not None:
        secrets_ = site.identity
        table["identity"] = {"secret": secrets_.current}
        if secrets_.previous is not None and secrets_.previous_until is not None:
            table["identity"].update(
                previous_secret=secrets_.previous, previous_until=secrets_.previous_until
            )
    return table


def identity_status(site: Site) -> dict[str, Any]:
    """Whether the site verifies identities, and which secrets it takes: by fingerprint, never the
    secrets themselves (those are read through their own request, ``SiteAdmin.identity_secret``)."""
    secrets_ = site.identity
    if secrets_ is None:
        return {"enabled": False}
    now = model.now_ms() / 1000
    status: dict[str, Any] = {"enabled": True, "fingerprint": identity.fingerprint(secrets_.current)}
    if secrets_.previous is not None and secrets_.in_grace(now):
        status["previous_fingerprint"] = identity.fingerprint(secrets_.previous)
        if secrets_.previous_until is not None:
            status["previous_until"] = iso_time(secrets_.previous_until * 1000)
    return status


def describe(site: Site, *, live: int = 0) -> dict[str, Any]:
    return {
        "id": site.id,
        **site_table(site),
        "identity": identity_status(site),
        "source": "config" if site.provisioned else "database",
        "editable": not site.provisioned,
        "live_connections": live,
    }


def hash_token(token: str) -> str:
    # A token is 32 random bytes: a fast hash is enough (no dictionary to guess from), and lookups by hash
    # stay indexable.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SiteAdmin:
    store: Store
    sites: SiteDirectory
    #: Called after every site change so that this process applies it at once (others within a second).
    changed: Callable[[], Awaitable[None]]

    # --- sites ----------------------------------------------------------------------------------------

    def get(self, site_id: str) -> Site:
        site = self.sites.get(site_id)
        if site is None:
            raise AdminError("not_found", f"There is no site {site_id!r}.", status=404)
        return site

    def _editable(self, site_id: str) -> Site:
        site = self.get(site_id)
        if site.provisioned:
            raise AdminError(
                "read_only",
                f"Site {site_id!r} is provisioned (the configuration file, or the built-in demo when there is"
                " none): change it in the file.",
                status=409,
            )
        return site

    def _check(self, site_id: str, table: Any) -> Site:
        if not isinstance(table, dict):
            raise AdminError("invalid", "A site is an object of settings.")
        if "identity" in table:
            raise AdminError(
                "invalid",
                "A site's identity secret is not a setting: create or rotate it on its own (the admin page,"
                " or POST /api/admin/sites/ID/identity_secret).",
                field="identity",
            )
        try:
            return site_from_mapping(site_id, table, where=site_id)
        except ConfigError as error:
            raise AdminError("invalid", f"{error.where}: {error.problem}", field=error.where) from None

    async def create(self, actor: Actor, site_id: str, table: Any) -> Site:
        if not isinstance(site_id, str) or not SITE_ID.match(site_id):
            raise AdminError(
                "invalid", "A site id is 1 to 63 lowercase letters, digits, '-' or '_'.", field="id"
            )
        if self.sites.get(site_id) is not None:
            raise AdminError("exists", f"There is already a site {site_id!r}.", status=409)
        site = self._check(site_id, table)
        settings = site_table(site)
        try:
            await self.store.change_site(
                site_id,
                settings,
                AuditEntry.of(actor, "site.create", site_id, settings=settings),
                create=True,
            )
        except SiteExists:
            raise AdminError("exists", f"There is already a site {site_id!r}.", status=409) from None
        await self.changed()
        return self.get(site_id)

    async def replace(self, actor: Actor, site_id: str, table: Any) -> Site:
        before = self._editable(site_id)
        site = replace(self._check(site_id, table), identity=before.identity)  # kept: not a setting
        return await self._save(actor, before, site, "site.update")

    async def update(self, actor: Actor, site_id: str, changes: Any) -> Site:
        """Change some top-level settings; the rest stay as they are. A setting changed to null is removed
        (its default applies), as in a JSON merge patch."""
        before = self._editable(site_id)
        if not isinstance(changes, dict) or not changes:
            raise AdminError("invalid", "Send an object with the settings to change.")
        table = {key: value for key, value in {**site_table(before), **changes}.items() if value is not None}
        if "backend" in changes and changes["backend"] != before.backend:
            table.pop(before.backend, None)  # the old backend's settings do not apply to the new one
        after = replace(self._check(site_id, table), identity=before.identity)  # kept: not a setting
        return await self._save(actor, before, after, "site.update")

    async def remove(self, actor: Actor, site_id: str) -> None:
        if site_id not in self.sites.broken:  # a stored site that fails the checks can still be removed
            self._editable(site_id)
        try:
            await self.store.change_site(site_id, None, AuditEntry.of(actor, "site.remove", site_id))
        except SiteNotFound:
            raise AdminError("not_found", f"There is no site {site_id!r}.", status=404) from None
        await self.changed()

    async def allow_origin(self, actor: Actor, site_id: str, pattern: Any) -> Site:
        site = self._editable(site_id)
        pattern = _text(pattern, "origin")
        try:
            OriginPolicy([pattern])
        except InvalidPattern as error:
            raise AdminError("invalid", str(error), field="allowed_origins") from None
        if pattern in site.allowed_origins:
            return site
        changed = replace(site, allowed_origins=(*site.allowed_origins, pattern))
        return await self._save(actor, site, changed, "site.allow_origin", origin=pattern)

    async def disallow_origin(self, actor: Actor, site_id: str, pattern: Any) -> Site:
        site = self._editable(site_id)
        pattern = _text(pattern, "origin")
        if pattern not in site.allowed_origins:
            raise AdminError("not_found", f"{pattern!r} is not an allowed origin of {site_id!r}.", status=404)
        changed = replace(site, allowed_origins=tuple(p for p in site.allowed_origins if p != pattern))
        return await self._save(actor, site, changed, "site.disallow_origin", origin=pattern)

    async def block_ip(self, actor: Actor, site_id: str, entry: Any) -> Site:
        site = self._editable(site_id)
        entry = _text(entry, "ip")
        try:
            NetworkSet([entry])
        except InvalidNetwork as error:
            raise AdminError("invalid", str(error), field="blocked_ips") from None
        if entry in site.blocked_ips:
            return site
        changed = replace(site, blocked_ips=(*site.blocked_ips, entry))
        return await self._save(actor, site, changed, "site.block_ip", ip=entry)

    async def unblock_ip(self, actor: Actor, site_id: str, entry: Any) -> Site:
        site = self._editable(site_id)
        entry = _text(entry, "ip")
        if entry not in site.blocked_ips:
            raise AdminError("not_found", f"{entry!r} is not blocked on {site_id!r}.", status=404)
        changed = replace(site, blocked_ips=tuple(e for e in site.blocked_ips if e != entry))
        return await self._save(actor, site, changed, "site.unblock_ip", ip=entry)

    async def _save(self, actor: Actor, before: Site, after: Site, action: str, **detail: Any) -> Site:
        stored = site_table(after, with_secrets=True)
        if site_table(before, with_secrets=True) == stored:
            return before  # nothing changes: nothing to store or to audit
        old, new = site_table(before), site_table(after)  # what the audit entry may show
        if not detail:
            detail = {
                "changed": {
                    k: {"from": old.get(k), "to": new.get(k)}
                    for k in old.keys() | new.keys()
                    if old.get(k) != new.get(k)
                }
            }
        try:
            await self.store.change_site(after.id, stored, AuditEntry.of(actor, action, after.id, **detail))
        except SiteNotFound:
            raise AdminError("not_found", f"There is no site {after.id!r}.", status=404) from None
        await self.changed()
        return self.get(after.id)

    # --- identity secrets (widget_server/identity.py) -----------------------------------------------------

    async def rotate_identity_secret(self, actor: Actor, site_id: str) -> tuple[Site, str]:
        """A new identity secret for the site, returned with the site. The one it replaces stays valid for
        ``identity.GRACE`` (a secret still in its grace from an earlier rotation is dropped)."""
        site = self._editable(site_id)
        secret = identity.new_secret()
        detail: dict[str, Any] = {"fingerprint": identity.fingerprint(secret)}
        if site.identity is None:
            action, secrets_ = "site.identity.create", IdentitySecrets(secret)
        else:
            until = model.now_ms() // 1000 + identity.GRACE
            action, secrets_ = "site.identity.rotate", IdentitySecrets(secret, site.identity.current, until)
            detail["previous"] = identity.fingerprint(site.identity.current)
            detail["previous_until"] = iso_time(until * 1000)
        return await self._save(actor, site, replace(site, identity=secrets_), action, **detail), secret

    async def end_identity_grace(self, actor: Actor, site_id: str) -> Site:
        """Stop accepting the previous secret now (it leaked, or the site's backend has the new one)."""
        site = self._editable(site_id)
        if site.identity is None or not site.identity.in_grace(model.now_ms() / 1000):
            raise AdminError(
                "not_found", f"Site {site_id!r} has no previous identity secret still accepted.", status=404
            )
        previous = identity.fingerprint(site.identity.previous or "")
        changed = replace(site, identity=IdentitySecrets(site.identity.current))
        return await self._save(actor, site, changed, "site.identity.end_grace", previous=previous)

    async def remove_identity_secret(self, actor: Actor, site_id: str) -> Site:
        """Verify identities no more: every identity is refused from now on."""
        site = self._editable(site_id)
        if site.identity is None:
            raise AdminError("not_found", f"Site {site_id!r} has no identity secret.", status=404)
        detail = {"fingerprint": identity.fingerprint(site.identity.current)}
        return await self._save(actor, site, replace(site, identity=None), "site.identity.remove", **detail)

    def identity_secret(self, site_id: str) -> str:
        """The site's current identity secret, for an operator to copy into the site's backend. A site of
        the configuration file has its secret in the environment it names, and it is not shown here."""
        site = self._editable(site_id)
        if site.identity is None:
            raise AdminError("not_found", f"Site {site_id!r} has no identity secret.", status=404)
        return site.identity.current

    # --- people ---------------------------------------------------------------------------------------

    async def add_user(
        self, actor: Actor, name: Any, role: Any, password: Any, display_name: Any = None
    ) -> User:
        name = _text(name, "name")
        if not (0 < len(name) <= 64) or not name.isprintable() or name != name.strip():
            raise AdminError("invalid", "A user name is 1 to 64 printable characters.", field="name")
        if role not in model.ROLES:
            raise AdminError("invalid", f"The role is one of {', '.join(model.ROLES)}.", field="role")
        if await self.store.get_user(name) is not None:
            raise AdminError("exists", f"There is already a user {name!r}.", status=409)
        password = self._password(password)
        display = _text(display_name, "display_name") if display_name else name
        user = User(name, role, hash_password(password), display[:64])
        await self.store.put_user(user)
        await self.store.add_audit(AuditEntry.of(actor, "user.add", name, role=role))
        return user

    async def set_password(self, actor: Actor, name: Any, password: Any) -> User:
        user = await self._user(name)
        changed = replace(
            user,
            password_hash=hash_password(self._password(password)),
            session_version=user.session_version + 1,
        )
        await self.store.put_user(changed)  # a new session version: logged out everywhere
        await self.store.add_audit(AuditEntry.of(actor, "user.passwd", user.name))
        return changed

    async def set_role(self, actor: Actor, name: Any, role: Any) -> User:
        """Give a user another role. Their sessions end (a new session version), so that no console or
        page opened with the old role's rights stays open with them."""
        user = await self._user(name)
        if role not in model.ROLES:
            raise AdminError("invalid", f"The role is one of {', '.join(model.ROLES)}.", field="role")
        if role == user.role:
            return user
        if user.role == model.OPERATOR_ROLE and not await self._other_operator(user.name):
            raise AdminError("last_operator", "Someone must stay an operator.", field="role", status=409)
        changed = replace(user, role=role, session_version=user.session_version + 1)
        await self.store.put_user(changed)
        await self.store.add_audit(
            AuditEntry.of(actor, "user.role", user.name, changed={"role": {"from": user.role, "to": role}})
        )
        return changed

    async def _other_operator(self, name: str) -> bool:
        return any(u.role == model.OPERATOR_ROLE and u.name != name for u in await self.store.list_users())

    async def remove_user(self, actor: Actor, name: Any) -> None:
        user = await self._user(name)
        await self.store.delete_user(user.name)
        await self.store.add_audit(AuditEntry.of(actor, "user.remove", user.name))

    async def _user(self, name: Any) -> User:
        user = await self.store.get_user(_text(name, "name"))
        if user is None:
            raise AdminError("not_found", f"There is no user {name!r}.", status=404)
        return user

    def _password(self, password: Any) -> str:
        if not isinstance(password, str):  # not _text(): spaces at the ends are part of a password
            raise AdminError("invalid", "The field 'password' must be a string.", field="password")
        text = password
        problem = password_problem(text)
        if problem:
            raise AdminError("invalid", problem[0].upper() + problem[1:] + ".", field="password")
        return text

    # --- API tokens -----------------------------------------------------------------------------------

    async def create_token(self, actor: Actor, name: Any) -> tuple[ApiToken, str]:
        """A new token: the record, and the secret itself, which is shown this once and never stored."""
        name = _text(name, "name")
        if not (0 < len(name) <= 64) or not name.isprintable():
            raise AdminError("invalid", "A token name is 1 to 64 printable characters.", field="name")
        if any(t.name == name for t in await self.store.list_tokens()):
            raise AdminError("exists", f"There is already a token named {name!r}.", status=409)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(str(uuid.uuid4()), name, hash_token(secret), model.now_ms(), actor.name)
        await self.store.add_token(token, AuditEntry.of(actor, "token.create", name))
        return token, secret

    async def revoke_token(self, actor: Actor, name: Any) -> None:
        name = _text(name, "name")
        if not await self.store.revoke_token(name, AuditEntry.of(actor, "token.revoke", name)):
            raise AdminError("not_found", f"There is no active token named {name!r}.", status=404)

    async def authenticate(self, secret: str) -> ApiToken | None:
        """The active token with this secret, if any."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        token = await self.store.find_token(hash_token(secret))
        if token is None or token.revoked_at is not None:
            return None
        return token


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AdminError("invalid", f"The field '{field}' must be a non-empty string.", field=field)
    return value.strip()
