"""The catalog page for admins: each source's last sync, recent syncs, what each changed and
refused (with the reason, per entity), and the entities that left the catalog."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from catalogsync import selectors
from catalogsync.models import CatalogSync
from core.broker import enqueue


def _staff(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only admins see the catalog import.")


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    _staff(request)
    return render(
        request,
        "catalogsync/overview.html",
        {
            "sources": selectors.sources(),
            "syncs": selectors.recent_syncs(),
            "removed": selectors.removed_entities(),
        },
    )


@require_GET
def sync_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _staff(request)
    sync = get_object_or_404(CatalogSync, pk=pk)
    return render(
        request,
        "catalogsync/sync_detail.html",
        {"sync": sync, "changes": sync.changes.all(), "refusals": sync.refusals.all()},
    )


@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    _staff(request)
    source = request.POST.get("source", "")
    known = {s.source for s in selectors.sources() if s.configured}
    if source not in known:
        messages.error(
            request, "Only a configured source (PREFLIGHT_CATALOG_SOURCES) can be synced here."
        )
    elif enqueue("catalogsync.tasks.sync_catalog", source, "page"):
        messages.success(request, f"Sync of {source} started; reload in a moment.")
    else:
        messages.error(request, "The task queue is not reachable: run manage.py import_catalog.")
    return redirect("catalogsync:overview")
