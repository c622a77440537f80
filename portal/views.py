"""Portal pages. Each view parses input, calls one domain operation or selector, and renders
a page or (for htmx) a fragment from the same URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, InvalidInput, refused
from core.htmx import is_partial
from portal import evidence_files, exports, selectors, services
from portal.forms import HistoryFilterForm, ItemChangeForm, ServiceFilterForm
from portal.models import AuditEvent, EvidenceFile, ItemState, Service
from portal.permissions import can_edit_service


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Where sign-in lands (LOGIN_REDIRECT_URL): the user's team dashboard, or the portfolio
    for users of no team."""
    team = selectors.home_team(request.user)
    if team is not None:
        return redirect("dashboards:team", team.slug)
    return redirect("dashboards:portfolio")


@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    form = ServiceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.service_list(
        team=filters.get("team", ""),
        tier=filters.get("tier", ""),
        state=filters.get("state", ""),
        q=filters.get("q", ""),
        section=filters.get("section", ""),
    )
    template = (
        "portal/htmx/service_rows.html" if is_partial(request) else "portal/service_list.html"
    )
    return render(request, template, {"form": form, "rows": rows})


@require_GET
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)
    return render(
        request,
        "portal/service_detail.html",
        {
            "service": service,
            "sections": selectors.checklist(service),
            "readiness": selectors.service_readiness(service),
            "can_edit": can_edit_service(request.user, service),
            "catalog_url": selectors.catalog_entity_url(service),
            "catalog_links": selectors.catalog_links(service),
        },
    )


def _error(request: HttpRequest, service: Service, error: DomainError) -> HttpResponse:
    return refused(request, error, reverse("portal:service-detail", args=[service.slug]))


@require_POST
def item_update(request: HttpRequest, slug: str, item_key: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)
    form = ItemChangeForm(request.POST, request.FILES)
    if not form.is_valid():
        fields = ", ".join(sorted(form.errors))
        return _error(request, service, InvalidInput(f"Invalid form field(s): {fields}."))
    data = form.cleaned_data
    try:
        state = services.item_transition(
            service=service,
            item_key=item_key,
            action=data["action"],
            actor=request.user,
            seen_version=data["version"],
            note=data["note"],
            evidence_url=data["evidence_url"],
            evidence_text=data["evidence_text"],
            evidence_file=data["evidence_file"],
        )
    except DomainError as error:
        current = ItemState.objects.filter(service=service, item_key=item_key).first()
        if is_partial(request) and current is not None and current.item is not None:
            return _item_fragment(request, service, current, error=error)
        return _error(request, service, error)
    if is_partial(request):
        return _item_fragment(request, service, state)
    messages.success(request, f"{state.item_key}: {state.get_state_display()}.")
    return redirect(f"{reverse('portal:service-detail', args=[slug])}#item-{state.pk}")


def _item_fragment(
    request: HttpRequest,
    service: Service,
    state: ItemState,
    *,
    error: DomainError | None = None,
) -> HttpResponse:
    assert state.item is not None
    return render(
        request,
        "portal/htmx/item_changed.html",
        {
            "service": service,
            "state": state,
            "section": selectors.section_view(service, state.item.section_id),
            "readiness": selectors.service_readiness(service),
            "can_edit": can_edit_service(request.user, service),
            "error": str(error) if error else "",
        },
        status=error.status if error else 200,
    )


def _history_filters(
    request: HttpRequest, slug: str | None
) -> tuple[Service | None, HistoryFilterForm]:
    service = get_object_or_404(Service, slug=slug) if slug else None
    return service, HistoryFilterForm(request.GET or None)


def _filtered_events(service: Service | None, filters: dict[str, Any]) -> QuerySet[AuditEvent]:
    """The events the history filters match, every one of them (the page cuts them in pages,
    the export streams them all)."""
    return selectors.history(
        service=service,
        team=filters.get("team") or "",
        user=filters.get("user") or "",
        since=filters.get("since"),
        until=filters.get("until"),
        limit=None,
    )


@require_GET
def history(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    service, form = _history_filters(request, slug)
    filters = form.cleaned_data if form.is_valid() else {}
    events = _filtered_events(service, filters)
    page = selectors.history_page(events, before=filters.get("before"), after=filters.get("after"))
    query = {k: request.GET[k] for k in HistoryFilterForm.FILTERS if request.GET.get(k)}
    return render(
        request,
        "portal/history.html",
        {
            "service": service,
            "events": page.events,
            "page": page,
            "form": form,
            "filter_query": urlencode(query),
        },
    )


@require_GET
def history_export(request: HttpRequest, fmt: str, slug: str | None = None) -> HttpResponseBase:
    """Every event the page's filters match, as CSV or JSON, streamed in chain order."""
    if fmt not in ("csv", "json"):
        raise Http404("Export as .csv or .json")
    service, form = _history_filters(request, slug)
    if request.GET and not form.is_valid():
        fields = ", ".join(sorted(form.errors))
        back = reverse("portal:service-history", args=[slug]) if slug else reverse("portal:history")
        return refused(
            request, InvalidInput(f"Invalid filter(s): {fields}. Nothing exported."), back
        )
    filters = form.cleaned_data if form.is_bound else {}
    events = _filtered_events(service, filters)
    rows = selectors.export_rows(events)
    if fmt == "csv":
        response = StreamingHttpResponse(
            exports.csv_lines(rows), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(exports.json_chunks(rows), content_type="application/json")
    name = f"history-{service.slug}" if service else "history"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def evidence_file(request: HttpRequest, file_id: int) -> HttpResponseBase:
    """An evidence file, to signed-in users only (the sign-in middleware), always as a
    download of the type sniffed at upload: never rendered by the browser."""
    return evidence_files.download(get_object_or_404(EvidenceFile, pk=file_id))
