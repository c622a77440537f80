"""Drill pages (history per service, one drill's timeline and artifacts, cancel) and the
Alertmanager webhook."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.auth import bearer_matches
from core.errors import DomainError, refused
from core.htmx import STOP_POLLING, is_partial
from drills import selectors, services
from drills.models import Drill
from portal.models import Service
from portal.permissions import can_edit_service


@csrf_exempt  # a machine caller with a bearer token, no session: CSRF does not apply
@login_not_required  # authenticated by PREFLIGHT_ALERTMANAGER_TOKEN, not a session
@require_POST
def alertmanager_webhook(request: HttpRequest) -> HttpResponse:
    token = settings.PREFLIGHT_ALERTMANAGER_TOKEN
    if not token:
        return JsonResponse({"error": "the alert webhook is not configured"}, status=503)
    if not bearer_matches(request, token):
        response = JsonResponse({"error": "bearer token required"}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    try:
        payload = json.loads(request.body)
        stored = services.alerts_receive(payload=payload)
    except (ValueError, DomainError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"stored": len(stored)})


@require_GET
def drill_history(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    return render(
        request,
        "drills/history.html",
        {
            "service": service,
            "drills": selectors.drill_history(service),
            "alerts": selectors.recent_alerts(service, limit=20),
        },
    )


@require_GET
def drill_detail(request: HttpRequest, drill_id: int) -> HttpResponse:
    drill = get_object_or_404(Drill.objects.select_related("service", "run"), pk=drill_id)
    context = {
        "drill": drill,
        "can_edit": can_edit_service(request.user, drill.service),
        "load_curve": selectors.load_curve(drill),
    }
    if is_partial(request):
        status = STOP_POLLING if drill.finished else 200
        return render(request, "drills/htmx/drill_live.html", context, status=status)
    return render(request, "drills/detail.html", context)


@require_POST
def drill_cancel(request: HttpRequest, drill_id: int) -> HttpResponse:
    drill = get_object_or_404(Drill.objects.select_related("service"), pk=drill_id)
    try:
        services.drill_cancel(drill=drill, actor=request.user)
    except DomainError as error:
        return refused(request, error, reverse("drills:detail", args=[drill.pk]))
    return redirect("drills:detail", drill.pk)
