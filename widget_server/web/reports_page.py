"""The reports page ``/admin/reports``: the figures of a range of days (widget_server/reports.py) as
server-rendered tables, readable without JavaScript, and charts that static/reports.js draws with uPlot
(static/vendor/uplot/, loaded on this page only) from the figures the page carries in a JSON data block
(the pages' CSP allows no inline script).

The range, time zone and filters are a GET form (it changes nothing: no CSRF token); a parameter that is
not valid shows the form again with the problem next to its field, status 400. Who may read reports:
supervisors and operators (``roles.reads_reports``), through the admin pages' guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from widget_server import model, roles
from widget_server.report_reader import group_names, read_report
from widget_server.reports import MAX_FILTER, QueryError, ReportQuery, parse_query
from widget_server.web.admin_pages import SUPERVISORS_ONLY, Page, guarded

FIELDS = ("from", "to", "tz", "site", "agent", "group_by")
#: Groups drawn one line each in the "by site / by agent" chart; the rest are summed as "Others".
CHART_GROUPS = 6


def duration_text(seconds: float | None) -> str:
    """A time as people read it: "42 s", "3 min 05 s", "1 h 05 min", "2 d 03 h"; "—" for none."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def date_text(iso: str, *, year: bool = False) -> str:
    """``2026-04-07`` as "Tue 7 Apr" (with the year: "7 Apr 2026")."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%b %Y}" if year else f"{day:%a} {day.day} {day:%b}"


def share_text(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %" if whole else "—"


def row_of(figures: dict[str, Any]) -> dict[str, Any]:
    """One row of the tables: the figures with their times and shares as text."""
    ratings = figures["ratings"]
    rated = ratings["good"] + ratings["bad"]
    return {
        **figures,
        "first_median": duration_text(figures["first_response"]["median_s"]),
        "first_p90": duration_text(figures["first_response"]["p90_s"]),
        "resolution_median": duration_text(figures["resolution"]["median_s"]),
        "resolution_p90": duration_text(figures["resolution"]["p90_s"]),
        "good_share": share_text(ratings["good"], rated),
        "answered_share": share_text(figures["answered"], figures["chats"]),
    }


def chart_data(report: dict[str, Any]) -> dict[str, Any]:
    """What static/reports.js draws: one array per series, a value per day (None: nothing measured)."""
    days = report["days"]
    data: dict[str, Any] = {
        "dates": [day["date"] for day in days],
        "chats": [day["chats"] for day in days],
        "missed": [day["missed"] for day in days],
        "offline": [day["offline_messages"] for day in days],
        "first_median": [day["first_response"]["median_s"] for day in days],
        "first_p90": [day["first_response"]["p90_s"] for day in days],
        "resolution_median": [day["resolution"]["median_s"] for day in days],
        "resolution_p90": [day["resolution"]["p90_s"] for day in days],
        "good": [day["ratings"]["good"] for day in days],
        "bad": [day["ratings"]["bad"] for day in days],
        "groups": [],
    }
    groups = report["groups"]  # most chats first
    for group in groups[:CHART_GROUPS]:
        data["groups"].append({"name": group["name"], "chats": [day["chats"] for day in group["days"]]})
    if len(groups) > CHART_GROUPS:
        rest = [0] * len(days)
        for group in groups[CHART_GROUPS:]:
            rest = [total + day["chats"] for total, day in zip(rest, group["days"], strict=True)]
        data["groups"].append({"name": "Others", "chats": rest})
    return data


def _choices(current: str, options: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The options of a select, with the value asked for even when it is not among them (a site removed
    since, an agent of another contact center), so the form shows what the figures are of."""
    if current and current not in {value for value, _ in options}:
        options = [*options, (current, current)]
    return options


def _by_name(options: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(options, key=lambda option: option[1].casefold())


async def reports_page(page: Page) -> Response:
    runtime = page.runtime
    params = page.request.query_params
    values = {name: (params.get(name) or "").strip()[: MAX_FILTER + 1] for name in FIELDS}
    errors: dict[str, str] = {}
    query: ReportQuery | None = None
    try:
        query = parse_query(params, now=model.now_ms())
    except QueryError as error:
        errors[error.field] = error.message
    sites = runtime.sites.all()
    users = await runtime.store.list_users()
    zones = sorted({site.hours.zone.key for site in sites if site.hours is not None} - {"UTC"})
    context: dict[str, Any] = {
        "title": "Reports",
        "nav": "reports",
        "errors": errors,
        "zones": _choices(values["tz"], [("UTC", "UTC"), *((zone, zone) for zone in zones)]),
        "sites": _choices(values["site"], _by_name((site.id, site.name) for site in sites)),
        "agents": _choices(values["agent"], _by_name((user.name, user.display_name) for user in users)),
        "report": None,
    }
    if query is None:
        return page.render("admin_reports.html", {**context, "values": values}, status=400)
    names = await group_names(runtime.store, sites, query.group_by, runtime.config.teams.values())
    report = await read_report(runtime.store, query, names=names, sites=sites)
    values = {**values, "from": query.first.isoformat(), "to": query.last.isoformat(), "tz": query.zone.key}
    context.update(
        values=values,
        report=report,
        query=query,
        site_name=dict(context["sites"]).get(query.site or "", query.site),
        agent_name=dict(context["agents"]).get(query.agent or "", query.agent),
        totals=row_of(report["totals"]),
        days=[{"label": date_text(day["date"]), **row_of(day)} for day in report["days"]],
        first_text=date_text(report["from"], year=True),
        last_text=date_text(report["to"], year=True),
        groups=[{"key": g["key"], "name": g["name"], **row_of(g["totals"])} for g in report["groups"]],
        chart=chart_data(report),
    )
    return page.render("admin_reports.html", context)


routes = [
    Route("/admin/reports", guarded(reports_page, roles.reads_reports, SUPERVISORS_ONLY), methods=["GET"])
]
