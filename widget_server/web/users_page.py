"""The admin page ``/admin/users``: operators see everyone who signs in, add someone with a role, and
change a role (widget_server/roles.py says what each may do).

Behind the admin pages' guard (operators only, CSRF-checked posts); every change goes through
``SiteAdmin`` (the checks, the storage and the audit entry of the CLI and the admin API). Passwords are
set when adding someone; a new one later is ``widget-server users passwd`` (typed by the person, not
handed around), and removing someone is the CLI's or the API's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from widget_server import model
from widget_server.site_admin import AdminError
from widget_server.web.admin_pages import Page, operators_only

ROLE_NAMES = {
    model.AGENT_ROLE: "Agent",
    model.SUPERVISOR_ROLE: "Supervisor",
    model.OPERATOR_ROLE: "Operator",
}
ROLE_HINTS = {
    model.AGENT_ROLE: "answers the chats of their teams",
    model.SUPERVISOR_ROLE: "every chat, joins silently, takes over, reads reports",
    model.OPERATOR_ROLE: "all of that, and administers",
}
ADD_FIELDS = ("name", "display_name", "role", "password")


async def users_page(page: Page, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    users = sorted(await page.runtime.store.list_users(), key=lambda user: user.name)
    values: dict[str, Any] = {"role": model.AGENT_ROLE, **page.values()} if errors else {}
    values.pop("password", None)  # never sent back into the page
    context = {
        "title": "People",
        "nav": "users",
        "users": users,
        "roles": ROLE_NAMES,
        "hints": ROLE_HINTS,
        "errors": errors or {},
        "add_failed": any(not key.startswith("role:") for key in errors or {}),
        "values": values or {"role": model.AGENT_ROLE},
    }
    return page.render("admin_users.html", context, status)


async def add_user(page: Page) -> Response:
    try:
        user = await page.admin.add_user(
            page.actor,
            page.text("name", 65),
            page.text("role", 20),
            page.form.get("password") if page.form is not None else None,
            page.text("display_name", 65) or None,
        )
    except AdminError as error:
        field = error.field if error.field in ADD_FIELDS else "name"
        return await users_page(page, {field: error.message}, status=error.status)
    return page.done("/admin/users", f"Added {ROLE_NAMES[user.role].lower()} {user.name}.")


async def change_role(page: Page) -> Response:
    name = page.request.path_params["name"]
    try:
        user = await page.admin.set_role(page.actor, name, page.text("role", 20))
    except AdminError as error:
        if error.status == 404:
            raise
        return await users_page(page, {f"role:{name}": error.message}, status=error.status)
    anchor = quote(user.name, safe="")
    return page.done(f"/admin/users#user-{anchor}", f"{user.name} is now {ROLE_NAMES[user.role].lower()}.")


routes = [
    Route("/admin/users", operators_only(users_page), methods=["GET"]),
    Route("/admin/users", operators_only(add_user), methods=["POST"]),
    Route("/admin/users/{name}/role", operators_only(change_role), methods=["POST"]),
]
