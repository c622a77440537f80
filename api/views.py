"""JSON API views: each parses input, calls one selector or domain operation and returns
``(status, body)``; api.http handles authentication, errors and idempotency."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from api import serializers, services
from api.http import ApiError, Caller, Result, paginate, parse_json
from api.models import Annotation
from api.openapi_extra import document
from checks.models import ValidationRun
from checks.services import runs
from portal import selectors as portal_selectors
from portal.models import Service
from reviews import facts as facts_service
from reviews import selectors as review_selectors
from reviews.gate import compute_gate
from reviews.models import FactReport


def _service(slug: str) -> Service:
    return get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)


def service_list(request: HttpRequest, caller: Caller) -> Result:
    qs = portal_selectors.services_with_readiness()
    team = request.GET.get("team")
    if team:
        qs = qs.filter(team__slug=team)
    return 200, paginate(
        request,
        qs,
        lambda s: serializers.service(s, portal_selectors.readiness_of(s)),
    )


def service_detail(request: HttpRequest, caller: Caller, slug: str) -> Result:
    annotated = get_object_or_404(portal_selectors.services_with_readiness(), slug=slug)
    latest = ValidationRun.objects.filter(service=annotated).order_by("-id").first()
    body = serializers.service(annotated, portal_selectors.readiness_of(annotated))
    body.update(
        items=[serializers.item(s) for s in portal_selectors.item_states(annotated)],
        gate=compute_gate(annotated).as_dict(),
        latest_run=serializers.run(latest) if latest else None,
    )
    return 200, body


def run_list(request: HttpRequest, caller: Caller, slug: str) -> Result:
    service = _service(slug)
    qs = ValidationRun.objects.filter(service=service).select_related("service")
    return 200, paginate(request, qs, serializers.run)


def run_create(request: HttpRequest, caller: Caller, slug: str) -> Result:
    service = _service(slug)
    caller.require_team(service.team_id)
    body = parse_json(request)
    if body is None:
        body = {}
    steps = body.get("steps", []) if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or set(body) - {"steps"}
        or not isinstance(steps, list)
        or not all(isinstance(step, str) for step in steps)
    ):
        raise ApiError(400, "validation_error", 'The body is {"steps": [str, ...]} (optional).')
    # A token is not a person: the run is started as the system (like the scheduler), with
    # trigger "api"; the token's scope and team restriction stand in for team membership.
    run = runs.run_request(
        service=service, actor=None, steps=steps, trigger=ValidationRun.Trigger.API
    )
    return 202, serializers.run(run)


def run_detail(request: HttpRequest, caller: Caller, run_id: int) -> Result:
    run = get_object_or_404(ValidationRun.objects.select_related("service"), pk=run_id)
    body = serializers.run(run)
    body["results"] = [serializers.result(r) for r in run.results.order_by("id")]
    return 200, body


def launch_status(request: HttpRequest, caller: Caller, slug: str) -> Result:
    return 200, review_selectors.launch_dict(review_selectors.launch_status(_service(slug)))


def fact_list(request: HttpRequest, caller: Caller, slug: str) -> Result:
    qs = FactReport.objects.filter(service=_service(slug)).select_related("service")
    return 200, paginate(request, qs, serializers.fact_report)


def fact_create(request: HttpRequest, caller: Caller, slug: str) -> Result:
    service = _service(slug)
    caller.require_team(service.team_id)
    report = facts_service.facts_record(
        service=service,
        data=parse_json(request),
        token_name=caller.token.name if caller.token else "",
    )
    return 201, serializers.fact_report(report)


def fact_detail(request: HttpRequest, caller: Caller, slug: str, fact_id: int) -> Result:
    report = get_object_or_404(
        FactReport.objects.select_related("service"), pk=fact_id, service__slug=slug
    )
    return 200, serializers.fact_report(report)


def openapi(request: HttpRequest, caller: Caller) -> Result:
    return 200, document()


def _annotations() -> QuerySet[Annotation]:
    return Annotation.objects.select_related("created_by", "created_by_token")


def annotation_list(request: HttpRequest, caller: Caller) -> Result:
    return 200, paginate(request, _annotations(), serializers.annotation)


def annotation_create(request: HttpRequest, caller: Caller) -> Result:
    created = services.annotation_create(
        data=parse_json(request), token=caller.token, user=caller.user
    )
    return 201, serializers.annotation(_annotations().get(pk=created.pk))


def annotation_detail(request: HttpRequest, caller: Caller, annotation_id: int) -> Result:
    return 200, serializers.annotation(get_object_or_404(_annotations(), pk=annotation_id))


def annotation_update(request: HttpRequest, caller: Caller, annotation_id: int) -> Result:
    annotation = get_object_or_404(_annotations(), pk=annotation_id)
    services.annotation_update(annotation=annotation, data=parse_json(request))
    return 200, serializers.annotation(annotation)


def annotation_delete(request: HttpRequest, caller: Caller, annotation_id: int) -> Result:
    annotation = get_object_or_404(Annotation, pk=annotation_id)
    services.annotation_delete(annotation=annotation)
    return 204, {}
