"""The /api/v1 operations. Each one is thin: django-ninja has authenticated the caller (scope
in ``auth``) and validated the parameters and body against api/schemas.py; the operation calls
one selector or service and returns a schema. Refusals raise; api/errors.py answers them in
the error format."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from ninja import P, PathEx, Query, Router, Status
from ninja.decorators import decorate_view
from ninja.params import HeaderEx, QueryEx

from api import schemas, services
from api.auth import FACTS, NOTES, READ, RUNS, caller, scoped
from api.errors import ApiError
from api.idempotency import HEADER, KEY_MAX, idempotent
from api.models import Annotation
from api.pagination import Paging, paginate
from checks.models import ValidationRun
from checks.services import runs
from portal import evidence_files
from portal import selectors as portal_selectors
from portal.models import EvidenceFile, Service
from reviews import facts as facts_service
from reviews import selectors as review_selectors
from reviews.gate import compute_gate
from reviews.levels import level_summaries, service_levels
from reviews.models import FactReport

router = Router()

Slug = PathEx[str, P(pattern=r"^[-a-zA-Z0-9_]+$", max_length=100, example="orders")]
Id = PathEx[int, P(ge=1, le=2**53)]
IdempotencyKey = HeaderEx[
    str | None,
    P(
        alias=HEADER,
        max_length=KEY_MAX,
        description="Same key and body: the first response again. Another body: 409.",
    ),
]
LIST_ERRORS = frozenset({400, 401, 403})
READ_ERRORS = frozenset({400, 401, 403, 404})
WRITE_ERRORS = frozenset({400, 401, 403, 404, 409, 413})


def _service(slug: str) -> Service:
    return get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)


def _scope(scope: str) -> str:
    return f"Scope: `{scope}`."


# --- services, runs, launch -----------------------------------------------------------------


@router.get(
    "/services",
    auth=scoped(READ),
    response={200: schemas.ServicePage, LIST_ERRORS: schemas.Error},
    operation_id="listServices",
    summary="Services with their readiness, levels and scores",
    description=_scope(READ),
    url_name="service-list",
)
def service_list(
    request: HttpRequest, paging: Query[Paging], team: str | None = None
) -> schemas.ServicePage:
    qs = portal_selectors.services_with_readiness()
    if team:
        qs = qs.filter(team__slug=team)
    page = paginate(qs, paging, lambda s: s)
    levels = level_summaries(Service.objects.filter(pk__in=[s.pk for s in page["items"]]))
    page["items"] = [schemas.Service.of(s, levels.get(s.pk, [])) for s in page["items"]]
    return schemas.ServicePage(**page)


@router.get(
    "/services/{slug:slug}",
    auth=scoped(READ),
    response={200: schemas.ServiceDetail, READ_ERRORS: schemas.Error},
    operation_id="getService",
    summary="A service: readiness, levels, items, gate, latest run",
    description=_scope(READ),
    url_name="service-detail",
)
def service_detail(request: HttpRequest, slug: Slug) -> schemas.ServiceDetail:
    annotated = get_object_or_404(portal_selectors.services_with_readiness(), slug=slug)
    latest = ValidationRun.objects.filter(service=annotated).order_by("-id").first()
    return schemas.ServiceDetail(
        **schemas.Service.fields_of(annotated),
        levels=[schemas.TemplateLevelDetail.detail(t) for t in service_levels(annotated)],
        items=[
            schemas.Item.of(s)
            for s in portal_selectors.all_item_states(annotated).select_related("evidence_file")
        ],
        gate=schemas.Gate(**compute_gate(annotated).as_dict()),
        latest_run=schemas.Run.of(latest) if latest else None,
    )


@router.get(
    "/evidence/{int:file_id}",
    auth=scoped(READ),
    response={READ_ERRORS: schemas.Error},
    operation_id="downloadEvidenceFile",
    summary="An evidence file, as an attachment of the type sniffed at upload",
    description=_scope(READ),
    url_name="evidence-file",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file's bytes (Content-Disposition: attachment).",
                "content": {
                    content_type: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in settings.PREFLIGHT_EVIDENCE_TYPES
                },
            }
        }
    },
)
def evidence_file(request: HttpRequest, file_id: Id) -> HttpResponseBase:
    return evidence_files.download(get_object_or_404(EvidenceFile, pk=file_id))


@router.get(
    "/services/{slug:slug}/runs",
    auth=scoped(READ),
    response={200: schemas.RunPage, READ_ERRORS: schemas.Error},
    operation_id="listRuns",
    summary="Validation runs of a service",
    description=_scope(READ),
    url_name="run-list",
)
def run_list(request: HttpRequest, slug: Slug, paging: Query[Paging]) -> schemas.RunPage:
    qs = ValidationRun.objects.filter(service=_service(slug)).select_related("service")
    return schemas.RunPage(**paginate(qs, paging, schemas.Run.of))


@router.post(
    "/services/{slug:slug}/runs",
    auth=scoped(RUNS),
    response={202: schemas.Run, WRITE_ERRORS: schemas.Error},
    operation_id="startRun",
    summary="Start a validation run (no steps: a full run)",
    description=_scope(RUNS),
)
@decorate_view(idempotent(RUNS))
def run_create(
    request: HttpRequest,
    slug: Slug,
    payload: schemas.RunRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Status[schemas.Run]:
    service = _service(slug)
    caller(request).require_team(service.team_id)
    # A token is not a person: the run is started as the system (like the scheduler), with
    # trigger "api"; the token's scope and team restriction stand in for team membership.
    run = runs.run_request(
        service=service,
        actor=None,
        steps=payload.steps if payload else [],
        trigger=ValidationRun.Trigger.API,
    )
    return Status(202, schemas.Run.of(run))


@router.get(
    "/runs/{int:run_id}",
    auth=scoped(READ),
    response={200: schemas.RunDetail, READ_ERRORS: schemas.Error},
    operation_id="getRun",
    summary="A run and its results",
    description=_scope(READ),
    url_name="run-detail",
)
def run_detail(request: HttpRequest, run_id: Id) -> schemas.RunDetail:
    run = get_object_or_404(ValidationRun.objects.select_related("service"), pk=run_id)
    return schemas.RunDetail(
        **schemas.Run.fields_of(run),
        results=[schemas.Result.of(r) for r in run.results.order_by("id")],
    )


@router.get(
    "/services/{slug:slug}/launch",
    auth=scoped(READ),
    response={200: schemas.LaunchStatus, READ_ERRORS: schemas.Error},
    operation_id="getLaunchStatus",
    summary="May this service ship? (the CI gate)",
    description=_scope(READ),
    url_name="launch-status",
)
def launch_status(request: HttpRequest, slug: Slug) -> schemas.LaunchStatus:
    status = review_selectors.launch_status(_service(slug))
    return schemas.LaunchStatus.model_validate(review_selectors.launch_dict(status))


# --- the software catalog ------------------------------------------------------------------

EntityRef = QueryEx[
    str,
    P(
        min_length=1,
        max_length=255,
        description="The entity ref, e.g. component:default/orders (the kind defaults to "
        "component, the namespace to default; case does not matter).",
        example="component:default/orders",
    ),
]


@router.get(
    "/catalog/readiness",
    auth=scoped(READ),
    response={200: schemas.CatalogReadiness, READ_ERRORS: schemas.Error},
    operation_id="getCatalogReadiness",
    summary="Preflight's verdict on a software-catalog entity, for a catalog card",
    description=_scope(READ),
    url_name="catalog-readiness",
)
def catalog_readiness(request: HttpRequest, entity: EntityRef) -> schemas.CatalogReadiness:
    service = portal_selectors.service_by_catalog_ref(entity)
    if service is None:
        raise ApiError(404, "not_found", f"No service is the catalog entity {entity!r}.")
    return schemas.CatalogReadiness.model_validate(review_selectors.catalog_readiness(service))


# --- facts from CI --------------------------------------------------------------------------


@router.get(
    "/services/{slug:slug}/facts",
    auth=scoped(READ),
    response={200: schemas.FactPage, READ_ERRORS: schemas.Error},
    operation_id="listFacts",
    summary="Facts pushed by CI",
    description=_scope(READ),
    url_name="fact-list",
)
def fact_list(request: HttpRequest, slug: Slug, paging: Query[Paging]) -> schemas.FactPage:
    qs = FactReport.objects.filter(service=_service(slug)).select_related("service")
    return schemas.FactPage(**paginate(qs, paging, schemas.FactReport.of))


@router.post(
    "/services/{slug:slug}/facts",
    auth=scoped(FACTS),
    response={201: schemas.FactReport, WRITE_ERRORS: schemas.Error},
    operation_id="pushFacts",
    summary="Push facts from CI; verifies or fails the Testing & Quality Gates items",
    description=_scope(FACTS),
)
@decorate_view(idempotent(FACTS))
def fact_create(
    request: HttpRequest,
    slug: Slug,
    payload: schemas.Facts,
    idempotency_key: IdempotencyKey = None,
) -> Status[schemas.FactReport]:
    service = _service(slug)
    who = caller(request)
    who.require_team(service.team_id)
    report = facts_service.facts_record(
        service=service,
        data=payload.model_dump(exclude_unset=True),
        token_name=who.token.name if who.token else "",
    )
    return Status(201, schemas.FactReport.of(report))


@router.get(
    "/services/{slug:slug}/facts/{int:fact_id}",
    auth=scoped(READ),
    response={200: schemas.FactReport, READ_ERRORS: schemas.Error},
    operation_id="getFacts",
    summary="One facts report",
    description=_scope(READ),
    url_name="fact-detail",
)
def fact_detail(request: HttpRequest, slug: Slug, fact_id: Id) -> schemas.FactReport:
    report = get_object_or_404(
        FactReport.objects.select_related("service"), pk=fact_id, service__slug=slug
    )
    return schemas.FactReport.of(report)


# --- annotations ----------------------------------------------------------------------------


def _annotations() -> QuerySet[Annotation]:
    return Annotation.objects.select_related("created_by", "created_by_token")


@router.get(
    "/annotations",
    auth=scoped(READ),
    response={200: schemas.AnnotationPage, LIST_ERRORS: schemas.Error},
    operation_id="listAnnotations",
    summary="Annotations (deploy markers, notes), oldest first",
    description=_scope(READ),
    url_name="annotation-list",
)
def annotation_list(request: HttpRequest, paging: Query[Paging]) -> schemas.AnnotationPage:
    return schemas.AnnotationPage(**paginate(_annotations(), paging, schemas.Annotation.of))


@router.post(
    "/annotations",
    auth=scoped(NOTES),
    response={201: schemas.Annotation, WRITE_ERRORS - {404}: schemas.Error},
    operation_id="createAnnotation",
    summary='Post an annotation, e.g. {"name": "deployed v1.2", "tags": ["orders"]}',
    description=_scope(NOTES),
)
@decorate_view(idempotent(NOTES))
def annotation_create(
    request: HttpRequest,
    payload: schemas.AnnotationCreate,
    idempotency_key: IdempotencyKey = None,
) -> Status[schemas.Annotation]:
    who = caller(request)
    created = services.annotation_create(
        name=payload.name, tags=payload.tags, token=who.token, user=who.user
    )
    return Status(201, schemas.Annotation.of(_annotations().get(pk=created.pk)))


@router.get(
    "/annotations/{int:annotation_id}",
    auth=scoped(READ),
    response={200: schemas.Annotation, READ_ERRORS: schemas.Error},
    operation_id="getAnnotation",
    summary="One annotation",
    description=_scope(READ),
    url_name="annotation-detail",
)
def annotation_detail(request: HttpRequest, annotation_id: Id) -> schemas.Annotation:
    return schemas.Annotation.of(get_object_or_404(_annotations(), pk=annotation_id))


@router.patch(
    "/annotations/{int:annotation_id}",
    auth=scoped(NOTES),
    response={200: schemas.Annotation, READ_ERRORS | {413}: schemas.Error},
    operation_id="changeAnnotation",
    summary="Rename or retag an annotation (the creator's team, or an admin)",
    description=_scope(NOTES),
)
def annotation_update(
    request: HttpRequest, annotation_id: Id, payload: schemas.AnnotationChange
) -> schemas.Annotation:
    who = caller(request)
    annotation = get_object_or_404(_annotations(), pk=annotation_id)
    services.annotation_update(
        annotation=annotation,
        changes=payload.model_dump(exclude_unset=True),
        token=who.token,
        user=who.user,
    )
    return schemas.Annotation.of(annotation)


@router.delete(
    "/annotations/{int:annotation_id}",
    auth=scoped(NOTES),
    response={204: None, READ_ERRORS: schemas.Error},
    operation_id="deleteAnnotation",
    summary="Delete an annotation (the creator's team, or an admin)",
    description=_scope(NOTES),
)
def annotation_delete(request: HttpRequest, annotation_id: Id) -> Status[None]:
    who = caller(request)
    annotation = get_object_or_404(_annotations(), pk=annotation_id)
    services.annotation_delete(annotation=annotation, token=who.token, user=who.user)
    return Status(204, None)
