"""The admin page ``/admin``: operators list, add, edit and remove sites, their allowed origins and blocked
addresses, copy a site's embed snippet, and read the audit log.

Server-rendered HTML forms; every change goes through ``SiteAdmin`` (the same checks, storage and audit
as the admin API and the CLI) as ``Actor(user, "admin page", client address)``. Each form posts its
session's CSRF token; a refused change re-renders the page with the problem next to its field (status
4xx), a done change redirects (303) so that reloading does not repeat it. Only people with the operator
role get in (the reports, widget_server/web/reports_page.py, let supervisors in too: ``guarded``): others
are sent to log in, or told who may use the page.

Provisioned sites (the configuration file, or the built-in demo) are shown read-only: their forms are
absent, and SiteAdmin refuses a hand-made post anyway.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from widget_server import json_input, roles
from widget_server.config import LIMITS_SPEC, Site, backend_specs, site_from_mapping
from widget_server.greetings import greetings_from_text, text_of_greetings
from widget_server.model import Actor, AuditEntry, User
from widget_server.protocol import iso_time
from widget_server.runtime import Runtime
from widget_server.settings_table import ConfigError, Setting
from widget_server.site_admin import AdminError, SiteAdmin, identity_status
from widget_server.web.pages import render
from widget_server.web.security import csrf_ok, csrf_token, own_origin, session_user
from widget_server.widget_strings import LANGUAGE_NAMES, LOCALES, PLURAL_CATEGORIES

log = logging.getLogger(__name__)

AUDIT_PAGE = 50
SITE_AUDIT_SHOWN = 8


# --- the guard ------------------------------------------------------------------------------------------


@dataclass
class Page:
    """One request of a logged-in operator (with its form, already CSRF-checked, for a post)."""

    request: Request
    user: User
    form: FormData | None = None

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.request.app.state.runtime
        return runtime

    @property
    def admin(self) -> SiteAdmin:
        admin: SiteAdmin = self.request.app.state.site_admin
        return admin

    @property
    def actor(self) -> Actor:
        client = self.request.client
        return Actor(self.user.name, "admin page", client.host if client else None)

    def text(self, name: str, limit: int = 2000) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip()[:limit] if isinstance(value, str) else ""

    def values(self) -> dict[str, str]:
        """The form's text fields, as sent (for showing them again)."""
        if self.form is None:
            return {}
        return {key: self.text(key, 50_000) for key in self.form if key != "csrf"}

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> Response:
        done = self.request.session.pop("done", None) if status == 200 else None
        common = {"user": self.user, "csrf": csrf_token(self.request), "nav": "sites", "done": done}
        return render(self.request, template, {**common, **context}, status)

    def done(self, url: str, message: str) -> Response:
        """Redirect after a change that was made, saying so once on the next page."""
        self.request.session["done"] = message
        return RedirectResponse(url, status_code=303)


Handler = Callable[[Page], Awaitable[Response]]


def operators_only(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return guarded(handler, roles.administers, _OPERATORS_ONLY)


def guarded(
    handler: Handler, may: Callable[[User], bool], refusal: str
) -> Callable[[Request], Awaitable[Response]]:
    """The page for the people ``may`` lets in; anyone else signed in gets ``refusal`` (with their role)."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        user = await session_user(request, runtime.store)
        if user is None:
            # After a post, back to the overview: the post itself is not repeated.
            back = request.url.path if request.method == "GET" else "/admin"
            if request.method == "GET" and request.url.query:
                back += "?" + request.url.query
            return RedirectResponse(f"/agent/login?next={quote(back, safe='/')}", status_code=303)
        if not may(user):
            log.info("admin page refused to %s (role %s)", user.name, user.role)
            return _problem(request, user, 403, "Not for your role", refusal.format(role=user.role))
        page = Page(request, user)
        if request.method == "POST":
            page.form = await request.form(max_files=0)  # text fields only: never spool a file
            if not csrf_ok(request, page.form):
                log.warning("admin page: refused a post without a valid CSRF token from %s", user.name)
                return _problem(request, user, 400, "The form has expired", _CSRF_FAILED)
        try:
            return await handler(page)
        except AdminError as error:  # what the handler did not show next to a field: a site gone, say
            return _problem(request, user, error.status, "Not done", error.message)

    return endpoint


_OPERATORS_ONLY = (
    "The admin page is for people with the operator role; you are signed in with the role '{role}'. "
    "An operator can give you an operator login (widget-server users add NAME --role operator)."
)
SUPERVISORS_ONLY = (
    "Reports are for supervisors and operators; you are signed in with the role '{role}'. An operator "
    "can give you the supervisor role (widget-server users add NAME --role supervisor)."
)
_CSRF_FAILED = (
    "The form was sent without this session's security token, or from another site, so nothing was "
    "changed. Go back, reload the page and try again."
)


def _problem(request: Request, user: User, status: int, title: str, message: str) -> Response:
    context = {"user": user, "csrf": csrf_token(request), "title": title, "message": message, "nav": ""}
    return render(request, "admin_problem.html", context, status)


def _site_url(site_id: str) -> str:
    return f"/admin/sites/{quote(site_id, safe='')}"


# --- forms <-> settings tables (no I/O) -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One input of a settings form: ``name`` is the form field and the key path in the site's table
    (``gws.base_url``, ``limits.sockets_per_ip``), which is also how SiteAdmin names a refused setting."""

    name: str
    key: str
    setting: Setting

    @property
    def label(self) -> str:
        words = self.key.split("_")
        acronyms = {"url": "URL", "id": "ID", "api": "API", "ip": "IP", "env": "env"}
        text = " ".join(acronyms.get(word, word) for word in words)
        return text[:1].upper() + text[1:]

    @property
    def input(self) -> str:
        kinds = _kinds(self.setting)
        if bool in kinds:
            return "checkbox"
        if int in kinds or float in kinds:
            return "number"
        return "text"

    @property
    def step(self) -> str:
        return "any" if float in _kinds(self.setting) else "1"

    @property
    def placeholder(self) -> str:
        default = self.setting.default
        return "" if default is None or isinstance(default, bool) else _plain(default)


def _kinds(setting: Setting) -> tuple[type, ...]:
    return setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)


def backend_fields() -> dict[str, list[FieldSpec]]:
    return {
        backend: [FieldSpec(f"{backend}.{key}", key, setting) for key, setting in spec.items()]
        for backend, spec in backend_specs().items()
    }


def limit_fields() -> list[FieldSpec]:
    return [FieldSpec(f"limits.{key}", key, setting) for key, setting in LIMITS_SPEC.items()]


def parse_value(raw: str, setting: Setting) -> Any:
    """A form's text as the setting's type; ValueError with the problem if it is not one."""
    kinds = _kinds(setting)
    if bool in kinds:
        return raw in ("on", "true", "1", "yes")
    if int in kinds:
        try:
            return int(raw)
        except ValueError:
            if float not in kinds:
                raise ValueError("Must be a whole number.") from None
    if float in kinds:
        try:
            return float(raw)
        except ValueError:
            raise ValueError("Must be a number.") from None
    if str in kinds:
        return raw
    try:
        return json_input.parse(raw)
    except json_input.InvalidJSON:
        raise ValueError("Must be written as JSON.") from None


def settings_from_form(form: Mapping[str, str], *, with_lists: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The site's settings table from a site form, and the fields whose text is not even of the right
    type. Empty fields are left out, so the setting's default applies (or it is reported missing)."""
    errors: dict[str, str] = {}
    table: dict[str, Any] = {"backend": form.get("backend", "")}
    if form.get("name"):
        table["name"] = form["name"]

    def read(fields: list[FieldSpec]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for spec in fields:
            raw = form.get(spec.name, "")
            if spec.input == "checkbox" or raw:
                try:
                    values[spec.key] = parse_value(raw, spec.setting)
                except ValueError as error:
                    errors[spec.name] = str(error)
        return values

    fields = backend_fields().get(table["backend"])
    if fields:  # always the whole table: an edit replaces the backend's settings, emptied ones included
        table[table["backend"]] = read(fields)
    table["limits"] = read(limit_fields())
    if with_lists:
        for key in ("allowed_origins", "blocked_ips"):
            table[key] = [line.strip() for line in form.get(key, "").splitlines() if line.strip()]
    if form.get("locale"):
        table["locale"] = form["locale"]
    table["notify"] = form.get("notify") == "on"  # a checkbox: unchecked sends nothing
    try:
        strings = strings_from_text(form.get("strings", ""))
    except ValueError as error:
        errors["strings"] = str(error)
    else:
        if strings:
            table["strings"] = strings
    try:
        greetings = greetings_from_text(form.get("greetings", ""))
    except ValueError as error:
        errors["greetings"] = str(error)
    else:
        if greetings:
            table["greetings"] = greetings
    return table, errors


def strings_from_text(text: str) -> dict[str, Any]:
    """A site's own words as the admin page writes them, one a line: ``greeting = Welcome!``, in one
    language ``de.greeting = Willkommen!``, a plural form ``back_minutes.one = Back in a minute.``
    (the ids and their checks: widget_server/widget_strings.py). ValueError names a line not so written."""
    strings: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, equals, value = line.partition("=")
        path = key.strip().split(".")
        if not equals or not all(re.fullmatch(r"\w+", part) for part in path) or not value.strip():
            raise ValueError(
                f"Line {number}: write one string a line, as id = text (de.id = text for one language)."
            )
        table = strings
        if path[0] in LOCALES and len(path) > 1:
            table = strings.setdefault(path.pop(0), {})
        if len(path) == 2 and path[1] in PLURAL_CATEGORIES:
            forms = table.setdefault(path[0], {})
            if isinstance(forms, dict):
                forms[path[1]] = value.strip()
                continue
        table[".".join(path)] = value.strip()
    return strings


def text_of_strings(strings: Mapping[str, Any] | None) -> str:
    """The inverse of ``strings_from_text``, for the form."""
    lines = []
    for key, value in (strings or {}).items():
        entries = value.items() if key in LOCALES and isinstance(value, dict) else [(None, value)]
        for string_id, text in entries:
            prefix = f"{key}.{string_id}" if string_id is not None else key
            if isinstance(text, dict):
                lines += [f"{prefix}.{form} = {words}" for form, words in text.items()]
            else:
                lines.append(f"{prefix} = {text}")
    return "\n".join(lines)


def form_of(site: Site) -> dict[str, str]:
    """A site's settings as the edit form's initial values."""
    values = {"name": site.name, "backend": site.backend}
    for key, value in site.backend_settings.items():
        if value is not None:
            values[f"{site.backend}.{key}"] = (
                "on" if value is True else "" if value is False else _plain(value)
            )
    for key, value in vars(site.limits).items():
        values[f"limits.{key}"] = _plain(value)
    values["locale"] = site.locale or ""
    values["notify"] = "on" if site.notify else ""
    values["strings"] = text_of_strings(site.strings)
    values["greetings"] = text_of_greetings(site.greetings)
    return values


def field_problem(error: AdminError, site_id: str) -> tuple[str | None, str]:
    """Which form field a refusal is about (SiteAdmin names it ``acme.gws.base_url``, ``name`` or
    ``allowed_origins``), and the problem worded to stand next to that field."""
    name = error.field
    message = error.message
    line = ""  # a string of the strings field, named in front of its problem
    if name is not None:
        message = message.removeprefix(f"{name}: ")
        name = name.removeprefix(f"{site_id}.")
        if name.startswith("strings."):
            line, name = name.removeprefix("strings.") + ": ", "strings"
        elif name.startswith("greetings"):  # greetings[1].pages: the rule and its key before the problem
            line, name = (name + ": " if name != "greetings" else ""), "greetings"
    message = re.sub(r"^\[\d+\]: ", "", message)  # the entry itself is named in the sentence
    if message == "is required":
        return name, "Required."
    message = line + message[:1].upper() + message[1:]
    return name, message if message.endswith((".", "?", ")")) else message + "."


def settings_problem(table: dict[str, Any]) -> dict[str, str]:
    """The first problem of a site's settings, by form field, whatever its id (the same check as
    SiteAdmin's; nothing is stored)."""
    try:
        site_from_mapping("new", table, where="new")
    except ConfigError as error:
        name, message = field_problem(AdminError("invalid", str(error), field=error.where), "new")
        return {name or "": message}
    return {}


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)


# --- audit entries as text ------------------------------------------------------------------------------


def _short(value: Any, limit: int = 240) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audit_details(entry: AuditEntry) -> list[tuple[str, str]]:
    """An entry's detail as (what, text) lines: a change shows each setting's old and new value, a whole
    settings table (``site.create``) one line per setting."""
    changed = entry.detail.get("changed")
    lines = []
    if not isinstance(changed, dict):
        for key, value in entry.detail.items():
            if isinstance(value, dict):
                lines += [(sub, _short(item)) for sub, item in value.items()]
            else:
                lines.append((key, _short(value)))
        return lines
    for key, change in sorted(changed.items()):
        old, new = (change.get("from"), change.get("to")) if isinstance(change, dict) else (None, change)
        if isinstance(old, dict) and isinstance(new, dict):
            for sub in sorted(old.keys() | new.keys()):
                if old.get(sub) != new.get(sub):
                    lines.append((f"{key}.{sub}", f"{_short(old.get(sub))} → {_short(new.get(sub))}"))
        else:
            lines.append((key, f"{_short(old)} → {_short(new)}"))
    return lines


def _target_link(entry: AuditEntry, sites: set[str]) -> str | None:
    if entry.action.startswith("site.") and entry.target in sites:
        return _site_url(entry.target)
    if entry.action.startswith("chat."):  # the chat's transcript (a 404 once it is deleted)
        return f"/agent/history/{quote(entry.target, safe='')}"
    return None


def audit_rows(entries: list[AuditEntry], sites: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "entry": entry,
            "at": iso_time(entry.at),
            "when": iso_time(entry.at).replace("T", " ").removesuffix("Z")[:19] + " UTC",
            "details": audit_details(entry),
            "site_link": _target_link(entry, sites),
            # A chat's id is long and says little: its start, linked to the transcript (the whole id in
            # the link's title, and in the filter's box when filtered by it).
            "target_text": f"Chat {entry.target[:8]}…"
            if entry.action.startswith("chat.") and len(entry.target) > 12
            else entry.target,
        }
        for entry in entries
    ]


# --- pages ----------------------------------------------------------------------------------------------


async def sites_page(page: Page) -> Response:
    runtime = page.runtime
    live = await runtime.live.counts()
    sites = [
        {"site": site, "source": _source(site), "live": live.get(site.id, 0)} for site in runtime.sites.all()
    ]
    broken = sorted(runtime.sites.broken.items())
    return page.render("admin_sites.html", {"sites": sites, "broken": broken, "title": "Sites"})


def _source(site: Site) -> str:
    return "config" if site.provisioned else "database"


SITE_PAGE_FIELDS = {
    "id",
    "name",
    "backend",
    "allowed_origins",
    "blocked_ips",
    "locale",
    "strings",
    "notify",
    "greetings",
}
SITE_PAGE_FORMS = {"origin", "origin_list", "ip", "ip_list", "confirm", "identity_confirm"}


def _site_form_context(values: Mapping[str, str], errors: Mapping[str, str]) -> dict[str, Any]:
    """What a site form needs; a problem with no field of its own is shown above the form (key "")."""
    fields = backend_fields()
    known = SITE_PAGE_FIELDS | SITE_PAGE_FORMS | {s.name for s in limit_fields()}
    known |= {spec.name for specs in fields.values() for spec in specs}
    placed = {key: message for key, message in errors.items() if key in known}
    others = [message for key, message in errors.items() if key not in known]
    if others:
        placed[""] = " ".join(others)
    return {
        "values": values,
        "errors": placed,
        "backends": list(fields),
        "backend_fields": fields,
        "limit_fields": limit_fields(),
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in LOCALES],
    }


async def new_site_page(page: Page) -> Response:
    context = _site_form_context({"backend": "local"}, {})
    return page.render("admin_new_site.html", {**context, "title": "New site"})


async def create_site(page: Page) -> Response:
    assert page.form is not None
    values = page.values()
    site_id = values.get("id", "")
    table, errors = settings_from_form(values, with_lists=True)
    status = 400
    if errors:  # SiteAdmin sees it once the numbers are numbers; meanwhile, what else is wrong
        errors = {**settings_problem(table), **errors}
    else:
        try:
            site = await page.admin.create(page.actor, site_id, table)
        except AdminError as error:
            name, message = field_problem(error, site_id)
            if error.code == "exists":
                name = "id"
            errors = {name or "": message}
            if name == "id":  # say what else is wrong too, rather than one problem per try
                errors = {**settings_problem(table), **errors}
            status = error.status
        else:
            return page.done(_site_url(site.id), f"Site {site.id} created. Add the snippet to its pages.")
    context = _site_form_context(values, errors)
    return page.render("admin_new_site.html", {**context, "title": "New site"}, status)


async def site_page(page: Page) -> Response:
    return await _show_site(page, page.request.path_params["site"])


async def _show_site(
    page: Page,
    site_id: str,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    runtime = page.runtime
    site = runtime.sites.get(site_id)
    if site is None:
        problem = runtime.sites.broken.get(site_id)
        message = f"There is no site {site_id!r}." + (
            f" It is stored but not valid: {problem}" if problem else ""
        )
        return _problem(page.request, page.user, 404, "No such site", message)
    origin = (runtime.config.public_url or own_origin(page.request)).rstrip("/")
    snippet = f'<script src="{origin}/widget.js" data-site="{site.id}" async></script>'
    context = {
        "title": site.name,
        "site": site,
        "source": _source(site),
        "config_file": runtime.config.source,
        "snippet": snippet,
        "live": await runtime.live.count_site(site.id),
        "external_policy": _external_policy(runtime, site.id),
        "settings": [(spec, site.backend_settings.get(spec.key)) for spec in backend_fields()[site.backend]]
        if site.backend in backend_fields()
        else [],
        "limits": [(spec, getattr(site.limits, spec.key)) for spec in limit_fields()],
        "audit": audit_rows(await _recent_audit(runtime, site.id), set()),
        "identity": identity_status(site),
        # Shown to operators only, on this page, to copy into the site's backend; a site of the file has
        # its secret in the environment, where it stays.
        "identity_secret": site.identity.current if site.identity and not site.provisioned else None,
        **_site_form_context({**form_of(site), **(values or {})}, errors or {}),
    }
    return page.render("admin_site.html", context, status)


def _external_policy(runtime: Runtime, site_id: str) -> dict[str, Any] | None:
    """A policy-source site's lists as Omnidesk gave them, with the sync time as ISO for the page."""
    policy = runtime.omnidesk.describe(site_id)
    if policy is None:
        return None
    synced = policy.get("synced_at")
    return {**policy, "synced": iso_time(int(synced * 1000)) if synced else None}


async def _recent_audit(runtime: Runtime, site_id: str) -> list[AuditEntry]:
    entries = await runtime.store.list_audit(SITE_AUDIT_SHOWN * 2, target=site_id)
    return [e for e in entries if e.action.startswith("site.")][:SITE_AUDIT_SHOWN]


async def edit_site(page: Page) -> Response:
    site_id = page.request.path_params["site"]
    assert page.form is not None
    values = page.values()
    table, errors = settings_from_form(values, with_lists=False)
    for key in ("locale", "strings", "greetings"):
        table.setdefault(key, None)  # emptied in the form: removed
    if not values.get("name"):
        errors["name"] = "Required."  # left out of the table, the old name would stay
    if not errors:
        try:
            await page.admin.update(page.actor, site_id, table)
        except AdminError as error:
            if error.status != 400:  # read-only, gone: not about a field
                raise
            name, message = field_problem(error, site_id)
            errors = {name or "": message}
        else:
            return page.done(_site_url(site_id) + "#settings", "Settings saved.")
    # Unchecked checkboxes send nothing: the values shown again are the ones sent.
    shown = dict(values)
    for spec in backend_fields().get(values.get("backend", ""), []):
        if spec.input == "checkbox":
            shown.setdefault(spec.name, "")
    return await _show_site(page, site_id, errors=errors, values=shown, status=400)


def _entry_change(form_field: str, add: bool) -> Handler:
    """Add or remove one allowed origin (``origin``) or blocked address (``ip``)."""

    async def handler(page: Page) -> Response:
        site_id = page.request.path_params["site"]
        value = page.text(form_field, 300)
        admin = page.admin
        change: Callable[[Actor, str, Any], Awaitable[Site]]
        if form_field == "origin":
            change = admin.allow_origin if add else admin.disallow_origin
        else:
            change = admin.block_ip if add else admin.unblock_ip
        try:
            await change(page.actor, site_id, value)
        except AdminError as error:
            # Removing an entry that is already gone (a second tab, say) is reported on the page too.
            gone_entry = not add and error.code == "not_found" and admin.sites.get(site_id) is not None
            if error.status != 400 and not gone_entry:
                raise
            _, message = field_problem(error, site_id)
            key = form_field if add else f"{form_field}_list"
            return await _show_site(
                page,
                site_id,
                errors={key: message},
                values={form_field: value} if add else {},
                status=error.status,
            )
        anchor = "origins" if form_field == "origin" else "ips"
        verb = {("origin", True): "Allowed", ("origin", False): "Removed", ("ip", True): "Blocked"}
        message = f"{verb.get((form_field, add), 'Unblocked')} {value}."
        return page.done(f"{_site_url(site_id)}#{anchor}", message)

    return handler


def _identity_change(action: str) -> Handler:
    """Create or rotate the site's identity secret, end the previous one's grace, or remove it."""

    async def handler(page: Page) -> Response:
        site_id = page.request.path_params["site"]
        admin = page.admin
        if action == "rotate":
            had = admin.get(site_id).identity is not None
            await admin.rotate_identity_secret(page.actor, site_id)
            message = (
                "New identity secret created. The previous one is accepted for 24 more hours: put the new one"
                " in your site's backend, then end the grace period."
                if had
                else "Identity secret created: put it in your site's backend."
            )
        elif action == "end_grace":
            await admin.end_identity_grace(page.actor, site_id)
            message = "The previous identity secret is no longer accepted."
        else:
            if page.text("confirm") != "yes":
                errors = {"identity_confirm": "Tick the box to confirm; nothing was changed."}
                return await _show_site(page, site_id, errors=errors, status=400)
            await admin.remove_identity_secret(page.actor, site_id)
            message = "Identity secret removed: identities are no longer verified on this site."
        return page.done(f"{_site_url(site_id)}#identity", message)

    return handler


async def delete_site(page: Page) -> Response:
    site_id = page.request.path_params["site"]
    if page.text("confirm") != "yes":
        return await _show_site(
            page, site_id, errors={"confirm": "Tick the box to confirm; nothing was deleted."}, status=400
        )
    await page.admin.remove(page.actor, site_id)
    return page.done("/admin", f"Site {site_id} deleted.")


async def audit_page(page: Page) -> Response:
    raw = page.request.query_params.get("before")
    # One chat's entries (or a site's, a user's: any target), e.g. from a transcript's id.
    target = (page.request.query_params.get("target") or "").strip()[:200] or None
    before = None
    if raw is not None:
        if not raw.isdigit() or len(raw) > 18:
            return _problem(page.request, page.user, 400, "Not a page", "'before' is an entry number.")
        before = int(raw)
    entries = await page.runtime.store.list_audit(AUDIT_PAGE + 1, before, target=target)
    older = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
    sites = {site.id for site in page.runtime.sites.all()}
    context = {
        "title": "Audit log",
        "nav": "audit",
        "rows": audit_rows(entries[:AUDIT_PAGE], sites),
        "older": older,
        "paged": before is not None,
        "target": target or "",
    }
    return page.render("admin_audit.html", context)


routes = [
    Route("/admin", operators_only(sites_page), methods=["GET"]),
    Route("/admin/sites/new", operators_only(new_site_page), methods=["GET"]),
    Route("/admin/sites", operators_only(create_site), methods=["POST"]),
    Route("/admin/sites/{site}", operators_only(site_page), methods=["GET"]),
    Route("/admin/sites/{site}", operators_only(edit_site), methods=["POST"]),
    Route("/admin/sites/{site}/origins", operators_only(_entry_change("origin", add=True)), methods=["POST"]),
    Route(
        "/admin/sites/{site}/origins/remove",
        operators_only(_entry_change("origin", add=False)),
        methods=["POST"],
    ),
    Route("/admin/sites/{site}/ips", operators_only(_entry_change("ip", add=True)), methods=["POST"]),
    Route("/admin/sites/{site}/ips/remove", operators_only(_entry_change("ip", add=False)), methods=["POST"]),
    Route("/admin/sites/{site}/delete", operators_only(delete_site), methods=["POST"]),
    *(
        Route(
            f"/admin/sites/{{site}}/identity/{name}",
            operators_only(_identity_change(action)),
            methods=["POST"],
        )
        for name, action in (("rotate", "rotate"), ("end-grace", "end_grace"), ("remove", "remove"))
    ),
    Route("/admin/audit", operators_only(audit_page), methods=["GET"]),
]
