"""Plain functions that turn records into the JSON the OpenAPI document (api/openapi.py)
describes. Keep both in step: the contract tests compare every response with the schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse

from api.models import Annotation
from checks.models import CheckResult, ValidationRun
from portal.models import ItemState, Service
from portal.selectors import Readiness
from reviews.models import FactReport


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def readiness(r: Readiness) -> dict[str, Any]:
    return {
        "state": r.state,
        "total": r.total,
        "complete": r.complete,
        "blocking_total": r.blocking_total,
        "blocking_complete": r.blocking_complete,
        "failing": r.failing,
        "stale": r.stale,
    }


def service(s: Service, r: Readiness) -> dict[str, Any]:
    return {
        "slug": s.slug,
        "name": s.name,
        "team": s.team.slug,
        "tier": s.tier,
        "lifecycle": s.lifecycle,
        "template": str(s.template),
        "created_at": iso(s.created_at),
        "readiness": readiness(r),
        "url": reverse("api:service-detail", args=[s.slug]),
    }


def item(state: ItemState) -> dict[str, Any]:
    assert state.item is not None
    return {
        "key": state.item_key,
        "title": state.item.title,
        "blocking": state.item.blocking,
        "state": state.state,
        "verified_at": iso(state.verified_at),
        "expires_at": iso(state.expires_at),
        "evidence_url": state.evidence_url or None,
    }


def run(r: ValidationRun) -> dict[str, Any]:
    return {
        "id": r.pk,
        "service": r.service.slug,
        "status": r.status,
        "trigger": r.trigger,
        "full": r.full,
        "steps": list(r.steps),
        "keys": list(r.keys),
        "created_at": iso(r.created_at),
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
        "message": r.message,
        "url": reverse("api:run-detail", args=[r.pk]),
    }


def result(c: CheckResult) -> dict[str, Any]:
    return {
        "key": c.key,
        "status": c.status,
        "summary": c.summary,
        "duration_ms": c.duration_ms,
        "evidence": c.evidence if isinstance(c.evidence, dict) else {"value": c.evidence},
        "created_at": iso(c.created_at),
    }


def fact_report(f: FactReport) -> dict[str, Any]:
    return {
        "id": f.pk,
        "service": f.service.slug,
        "created_at": iso(f.created_at),
        "commit": f.commit,
        "ci_url": f.ci_url or None,
        "facts": f.facts,
        "verdicts": f.verdicts,
        "token": f.token_name or None,
    }


def annotation(a: Annotation) -> dict[str, Any]:
    creator = a.created_by.get_username() if a.created_by else None
    if creator is None and a.created_by_token is not None:
        creator = a.created_by_token.name
    return {
        "id": a.pk,
        "name": a.name,
        "tags": list(a.tags),
        "created_by": creator,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }
