"""The API's request and response bodies as pydantic models. django-ninja validates requests
against them (a 400 naming each field otherwise) and generates the OpenAPI document from them;
responses are built with each model's ``of(...)`` from records and the selectors' answers.

Requests are strict (no "42" for 42, no true for 1) and refuse unknown fields. Timestamps are
ISO 8601 with microseconds, as ``datetime.isoformat()`` writes them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from django.urls import reverse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from api import services
from api.models import Annotation as AnnotationRecord
from api.pagination import PageOf
from checks.models import CheckResult, ValidationRun
from portal import selectors as portal_selectors
from portal.models import EvidenceFile as EvidenceFileRecord
from portal.models import ItemState
from portal.models import Service as ServiceRecord
from reviews.facts import SCAN_KINDS, SEVERITIES
from reviews.gate import RULES
from reviews.levels import LevelSummary
from reviews.models import Exemption as ExemptionModel
from reviews.models import FactReport as FactRecord
from reviews.models import LaunchReview


@dataclass(frozen=True)
class OneOf:
    """A value from a fixed list (model choices, rule keys): validated and documented as enum."""

    values: tuple[Any, ...]

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = list(self.values)
        return json_schema

    def _check(self, value: Any) -> Any:
        if value not in self.values:
            raise ValueError(f"must be one of {', '.join(map(str, self.values))}")
        return value


def _iso(value: datetime) -> str:
    return value.isoformat()


When = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL")  # PostgreSQL stores no NUL in text or jsonb
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def optional(description: str | None = None, **json_schema: Any) -> Any:
    """An optional request field: left out, it is unset; sent as null, it is refused (a null
    is never a value of this API's fields). Not a union with None, so that errors name the
    field as sent (``coverage.percent``)."""

    def document(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema.update(json_schema)

    return Field(None, description=description, json_schema_extra=document)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- errors ---------------------------------------------------------------------------------


class ErrorDetail(Out):
    code: str = Field(description="Stable, for programs: validation_error, not_found, …")
    message: str = Field(description="For people.")
    details: Any = Field(description="[{field, message}] for validation errors; else any.")


class Error(Out):
    """Every 4xx and 5xx of the API."""

    error: ErrorDetail


# --- services, items, gate ------------------------------------------------------------------


class Readiness(Out):
    state: Annotated[str, OneOf(("ready", "in_progress", "stale", "failing"))]
    total: int
    complete: int
    blocking_total: int
    blocking_complete: int
    failing: int
    stale: int

    @classmethod
    def of(cls, r: portal_selectors.Readiness) -> Readiness:
        return cls(
            state=r.state,
            total=r.total,
            complete=r.complete,
            blocking_total=r.blocking_total,
            blocking_complete=r.blocking_complete,
            failing=r.failing,
            stale=r.stale,
        )


class TemplateLevel(Out):
    """A service's level and score on one of its checklist templates (docs: "Levels")."""

    template: str = Field(description="The template's key.")
    level: str | None = Field(description="The highest level reached; null below the first.")
    level_name: str
    rank: int = Field(description="0 below the first level, 1 at the first, ...")
    score: float = Field(description="Weighted share of the items complete, 0-100.")
    required_level: str | None = Field(
        description="The level a launch of a service of this tier requires (null: none)."
    )
    meets_required: bool
    next_level: str | None
    missing_count: int = Field(description="Requirements the next level still needs.")

    @classmethod
    def of(cls, t: LevelSummary) -> TemplateLevel:
        return cls(
            template=t.template_key,
            level=t.level_key or None,
            level_name=t.level_name,
            rank=t.rank,
            score=t.score,
            required_level=t.required or None,
            meets_required=t.meets_required,
            next_level=t.next_level or None,
            missing_count=t.missing,
        )


class LevelMissing(Out):
    key: str
    title: str
    status: str
    level: str = Field(description="The level that requires the item.")


class LevelUpcoming(Out):
    key: str
    title: str
    level: str
    effective_from: date


class TemplateLevelDetail(TemplateLevel):
    levels: list[str] = Field(description="The template's level keys, lowest first.")
    missing: list[LevelMissing] = Field(description="What the next level still needs.")
    upcoming: list[LevelUpcoming] = Field(
        description="Requirements that count from a later date: shown, not counted yet."
    )
    exempted: list[str] = Field(description="Items counted complete through an exemption.")

    @classmethod
    def detail(cls, t: portal_selectors.TemplateLevel) -> TemplateLevelDetail:
        r = t.result
        return cls(
            **TemplateLevel.of(LevelSummary.of(t)).model_dump(),
            levels=[lv.key for lv in r.levels],
            missing=[LevelMissing(**m.as_dict()) for m in r.missing],
            upcoming=[
                LevelUpcoming(
                    key=u.key, title=u.title, level=u.level, effective_from=u.effective_from
                )
                for u in r.upcoming
            ],
            exempted=list(r.exempted),
        )


class Service(Out):
    slug: str
    name: str
    team: str = Field(description="The owning team's slug.")
    tier: Annotated[int, OneOf((1, 2, 3))]
    lifecycle: str
    template: str
    created_at: When
    readiness: Readiness
    levels: list[TemplateLevel] = Field(description="Level and score per template.")
    url: str

    @classmethod
    def fields_of(cls, s: ServiceRecord) -> dict[str, Any]:
        """``s`` comes from portal.selectors.services_with_readiness (annotated counts)."""
        return {
            "slug": s.slug,
            "name": s.name,
            "team": s.team.slug,
            "tier": s.tier,
            "lifecycle": s.lifecycle,
            "template": str(s.template),
            "created_at": s.created_at,
            "readiness": Readiness.of(portal_selectors.readiness_of(s)),
            "url": reverse("api:service-detail", args=[s.slug]),
        }

    @classmethod
    def of(cls, s: ServiceRecord, levels: Iterable[LevelSummary] = ()) -> Service:
        return cls(**cls.fields_of(s), levels=[TemplateLevel.of(t) for t in levels])


class ServicePage(PageOf):
    items: list[Service]


class EvidenceFile(Out):
    """A file attached as evidence: what it is, and where a read token downloads it (always
    as an attachment of the type sniffed at upload)."""

    id: int
    name: str
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str
    url: str

    @classmethod
    def of(cls, row: EvidenceFileRecord) -> EvidenceFile:
        # What the audit event seals about the file, and where to download it.
        url = reverse("api:evidence-file", args=[row.pk])
        return cls.model_validate({**row.audit_record(), "url": url})


class Item(Out):
    key: str
    checklist: str = Field(description="The key of the checklist (template) the item is on.")
    title: str
    blocking: bool
    state: Annotated[str, OneOf(ItemState.State.values)]
    verified_at: When | None
    expires_at: When | None
    evidence_url: str | None
    evidence_text: str | None
    evidence_file: EvidenceFile | None

    @classmethod
    def of(cls, state: ItemState) -> Item:
        assert state.item is not None
        return cls(
            key=state.item_key,
            checklist=state.item.template.key,
            title=state.item.title,
            blocking=state.item.blocking,
            state=state.state,
            verified_at=state.verified_at,
            expires_at=state.expires_at,
            evidence_url=state.evidence_url or None,
            evidence_text=state.evidence_text or None,
            evidence_file=EvidenceFile.of(state.evidence_file) if state.evidence_file else None,
        )


class Finding(Out):
    """One reason a gate rule fails: a subject (an item, a check or the run) and its status
    now. A skipped check names the profile setting it needs; a check that verifies blocking
    items lists them."""

    kind: Annotated[str, OneOf(["item", "check", "run"])]
    key: str
    status: str
    reason: str
    setting: str | None
    items: list[str]


class GateRule(Out):
    key: Annotated[str, OneOf(RULES)]
    passed: bool
    reason: str
    findings: list[Finding]


class RunCounts(Out):
    """What a run covered, counted as each result lands."""

    passed: int
    failed: int
    skipped: int
    errored: int
    not_configured: int = Field(description="Skips for a missing profile setting.")
    total: int


class FullRun(Out):
    id: int
    verdict: str
    counts: RunCounts


class Gate(Out):
    """The launch gate's rules, as reviews computes them."""

    passed: bool
    rules: list[GateRule]
    drill_keys: list[str]
    computed_at: When | None
    full_run: FullRun | None
    skipped: list[Finding] = Field(
        description="Checks that verify blocking items and were skipped, with their settings."
    )


# --- runs -----------------------------------------------------------------------------------


class Run(Out):
    id: int
    service: str
    status: Annotated[str, OneOf(ValidationRun.Status.values)]
    trigger: Annotated[str, OneOf(ValidationRun.Trigger.values)]
    full: bool
    steps: list[str]
    keys: list[str]
    created_at: When
    started_at: When | None
    finished_at: When | None
    message: str
    counts: RunCounts
    verdict: str = Field(description='In words, with what it skipped: "passed, 18 skipped: ..."')
    url: str

    @classmethod
    def fields_of(cls, r: ValidationRun) -> dict[str, Any]:
        return {
            "id": r.pk,
            "service": r.service.slug,
            "status": r.status,
            "trigger": r.trigger,
            "full": r.full,
            "steps": list(r.steps),
            "keys": list(r.keys),
            "created_at": r.created_at,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "message": r.message,
            "counts": r.counts,
            "verdict": r.verdict,
            "url": reverse("api:run-detail", args=[r.pk]),
        }

    @classmethod
    def of(cls, r: ValidationRun) -> Run:
        return cls(**cls.fields_of(r))


class RunPage(PageOf):
    items: list[Run]


class Result(Out):
    key: str
    status: Annotated[str, OneOf(CheckResult.Status.values)]
    summary: str
    duration_ms: int
    evidence: dict[str, Any]
    created_at: When

    @classmethod
    def of(cls, c: CheckResult) -> Result:
        return cls(
            key=c.key,
            status=c.status,
            summary=c.summary,
            duration_ms=c.duration_ms,
            evidence=c.evidence if isinstance(c.evidence, dict) else {"value": c.evidence},
            created_at=c.created_at,
        )


class RunDetail(Run):
    results: list[Result]


class ServiceDetail(Service):
    levels: list[TemplateLevelDetail]  # type: ignore[assignment]
    items: list[Item]
    gate: Gate
    latest_run: Run | None


class RunRequest(In):
    """No steps (or no body): a full run."""

    steps: list[Text] = Field(default_factory=list, description="Steps of the check catalog.")


# --- launch ---------------------------------------------------------------------------------


class Exemption(Out):
    """What an exemption names (items and check keys), as each was when it was granted."""

    id: int
    rule: str
    item: str | None
    items: list[str]
    checks: list[str]
    granted: dict[str, str]
    justification: str
    expires_at: When
    status: Annotated[str, OneOf(ExemptionModel.Status.values)]
    approved: bool


class Review(Out):
    id: int
    service: str
    status: Annotated[str, OneOf(LaunchReview.Status.values)]
    requested_by: str
    requested_at: When
    target_date: date
    notes: str
    required_approvals: int
    approvals: list[str]
    decided_at: When | None
    exemptions: list[Exemption]


class LaunchStatus(Out):
    """May the service ship? What reviews.selectors.launch_dict answers, validated."""

    approved: bool
    review: Review | None
    reasons: list[str]
    gate: Gate


# --- the software catalog ------------------------------------------------------------------


class CatalogChecklist(Out):
    state: Annotated[str, OneOf(("ready", "in_progress", "stale", "failing"))]
    complete: int
    total: int
    percent: int
    blocking_complete: int
    blocking_total: int
    failing: int
    stale: int


class CatalogReadiness(Out):
    """Preflight's verdict on a software-catalog entity (reviews.selectors.catalog_readiness):
    what a Backstage entity card shows."""

    entity_ref: str = Field(description="The entity, as component:namespace/name.")
    service: str = Field(description="The service's slug in Preflight.")
    name: str
    team: str
    verdict: Annotated[str, OneOf(("ready", "not_ready"))] = Field(
        description="ready: the launch is approved and the gate holds (or is exempted)."
    )
    approved: bool
    reasons: list[str]
    checklist: CatalogChecklist
    in_catalog: bool = Field(description="False once the entity left the catalog.")
    url: str = Field(description="The service's page in Preflight.")


# --- facts from CI --------------------------------------------------------------------------

Count = Annotated[int, Field(ge=0)]


class Findings(In):
    """Findings per severity."""

    info: Count = optional()
    low: Count = optional()
    medium: Count = optional()
    high: Count = optional()
    critical: Count = optional()


assert tuple(Findings.model_fields) == SEVERITIES, "Findings names reviews.facts.SEVERITIES"


class Coverage(In):
    percent: Annotated[float, Field(ge=0, le=100)]
    tool: Text = optional()


class Scan(In):
    kind: Annotated[str, OneOf(SCAN_KINDS)]
    tool: Text = optional()
    findings: Findings


class DependencyAudit(In):
    tool: Text = optional()
    packages_checked: Count = Field(description="Packages actually checked; 0 is never a pass.")
    packages_total: Count = optional()
    findings: Findings = optional()


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ValueError("must be an http(s) URL")
    return value


class Facts(In):
    """What CI pushes: at least one of coverage, scans, dependency_audit."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["coverage"]},
                {"required": ["scans"]},
                {"required": ["dependency_audit"]},
            ]
        }
    )

    commit: Annotated[Text, Field(max_length=100)] = optional()
    ci_url: Annotated[Text, Field(max_length=500), AfterValidator(_http_url)] = optional(
        format="uri"
    )
    coverage: Coverage = optional()
    scans: Annotated[list[Scan], Field(min_length=1)] = optional()
    dependency_audit: DependencyAudit = optional()

    @model_validator(mode="after")
    def _something(self) -> Facts:
        if not ({"coverage", "scans", "dependency_audit"} & self.model_fields_set):
            raise ValueError("send coverage, scans or dependency_audit")
        return self


class Verdict(Out):
    passed: bool
    reason: str


class FactReport(Out):
    id: int
    service: str
    created_at: When
    commit: str
    ci_url: str | None
    facts: dict[str, Any]
    verdicts: dict[str, Verdict]
    token: str | None = Field(description="The name of the token that pushed the facts.")

    @classmethod
    def of(cls, f: FactRecord) -> FactReport:
        return cls(
            id=f.pk,
            service=f.service.slug,
            created_at=f.created_at,
            commit=f.commit,
            ci_url=f.ci_url or None,
            facts=f.facts,
            verdicts=f.verdicts,
            token=f.token_name or None,
        )


class FactPage(PageOf):
    items: list[FactReport]


# --- annotations ----------------------------------------------------------------------------


def _text(value: str) -> str:
    """A short text a person can read: not blank, no control characters."""
    if not value.strip():
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=services.NAME_MAX), AfterValidator(_text)]
Tag = Annotated[str, Field(min_length=1, max_length=services.TAG_MAX), AfterValidator(_text)]
Tags = Annotated[
    list[Tag],
    Field(
        max_length=services.TAGS_MAX,
        description="Short labels, typically service slugs (orders, payments).",
    ),
]


class AnnotationCreate(In):
    name: Name
    tags: Tags = Field(default_factory=list)


class AnnotationChange(In):
    """Any of the fields; those left out keep their value."""

    name: Name = optional()
    tags: Tags = optional()


class Annotation(Out):
    id: int
    name: str
    tags: list[str]
    created_by: str | None = Field(description="The user, or the CI token's name.")
    created_at: When
    updated_at: When

    @classmethod
    def of(cls, a: AnnotationRecord) -> Annotation:
        creator = a.created_by.get_username() if a.created_by else None
        if creator is None and a.created_by_token is not None:
            creator = a.created_by_token.name
        return cls(
            id=a.pk,
            name=a.name,
            tags=list(a.tags),
            created_by=creator,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )


class AnnotationPage(PageOf):
    items: list[Annotation]


# --- the API login --------------------------------------------------------------------------


def _username(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters")
    return value


class Login(In):
    username: Annotated[str, Field(min_length=1, max_length=150), AfterValidator(_username)]
    password: Annotated[Text, Field(min_length=1, max_length=1024)]
    scope: Text = optional(
        f"Space-separated subset of `{' '.join(services.PERSONAL_SCOPES)}` (default: all of them)."
    )

    @field_validator("scope")
    @classmethod
    def _grantable(cls, value: str) -> str:
        if not value.split():
            raise ValueError("scope is a space-separated string")
        refused = sorted(set(value.split()) - set(services.PERSONAL_SCOPES))
        if refused:
            raise ValueError(
                f"not grantable here: {' '.join(refused)} "
                f"(allowed: {' '.join(services.PERSONAL_SCOPES)})"
            )
        return value

    @property
    def scopes(self) -> list[str]:
        return sorted(set(self.scope.split())) if self.scope else list(services.PERSONAL_SCOPES)


class AccessToken(Out):
    access_token: str
    token_type: Annotated[str, OneOf(("bearer",))]
    expires_in: Annotated[int, Field(ge=1)]
    scope: str
