"""Dashboard pages. One URL serves the page and, for htmx, its live fragment: the fragment
polls while something is in flight in the page's scope and answers 286 (stop polling) once
nothing moves. Exports return the table behind a chart as CSV or JSON.

No inline script or style is needed on these pages (the project's CSP, app.security, forbids
inline scripts): figures travel as application/json (json_script) and are drawn by
static/js/dashboards.js."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.downloads import attachment
from core.htmx import STOP_POLLING, is_partial
from dashboards import charts
from dashboards.selectors import common
from dashboards.selectors import portfolio as portfolio_sel
from dashboards.selectors import service as service_sel
from dashboards.selectors import team as team_sel
from dashboards.tables import Table, to_csv, to_json
from portal.models import Service, Team


def _dashboard(
    request: HttpRequest, template: str, context: dict[str, Any], live: common.Live, poll: str
) -> HttpResponse:
    context = {**context, "live": live, "poll": poll, "states": common.STATES}
    if is_partial(request):
        status = 200 if live.moving else STOP_POLLING
        return render(request, f"dashboards/htmx/{template}", context, status=status)
    return render(request, f"dashboards/{template}", context)


@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    tables = portfolio_sel.tables()
    base = reverse("dashboards:portfolio") + "data/"
    context = {"charts": charts.charts("portfolio", tables, base)}
    return _dashboard(request, "portfolio.html", context, common.live(Q()), "every 2s")


@require_GET
def team(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=slug)
    tables = {name: build(team) for name, build in team_sel.TABLES.items()}
    base = reverse("dashboards:team", args=[slug]) + "data/"
    context = {"team": team, "charts": charts.charts("team", tables, base)}
    return _dashboard(request, "team.html", context, common.live(Q(team_id=team.pk)), "every 2s")


@require_GET
def service(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    tables = {name: build(service) for name, build in service_sel.TABLES.items()}
    base = reverse("dashboards:service", args=[slug]) + "data/"
    context = {"service": service, "charts": charts.charts("service", tables, base)}
    live = common.live(Q(pk=service.pk))
    return _dashboard(request, "service.html", context, live, "every 1s")


def _export(table: Table, fmt: str, filename: str) -> HttpResponse:
    return attachment(fmt, filename, csv=lambda: to_csv(table), json=lambda: to_json(table))


def _pick(registry: dict[str, Any], table: str) -> Any:
    if table not in registry:
        raise Http404(f"No table {table!r} here")
    return registry[table]


@require_GET
def portfolio_export(request: HttpRequest, table: str, fmt: str) -> HttpResponse:
    build = _pick(portfolio_sel.TABLES, table)
    return _export(build(), fmt, f"portfolio-{table}")


@require_GET
def team_export(request: HttpRequest, slug: str, table: str, fmt: str) -> HttpResponse:
    build = _pick(team_sel.TABLES, table)
    team = get_object_or_404(Team, slug=slug)
    return _export(build(team), fmt, f"team-{slug}-{table}")


@require_GET
def service_export(request: HttpRequest, slug: str, table: str, fmt: str) -> HttpResponse:
    build = _pick(service_sel.TABLES, table)
    service = get_object_or_404(Service, slug=slug)
    return _export(build(service), fmt, f"service-{slug}-{table}")
