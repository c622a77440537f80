"""The published OpenAPI 3.1 document of /api/v1/, written by hand from the schema dicts
below. api/serializers.py produces exactly these shapes; the schemathesis contract test
(tests/api/test_contract.py) checks every response against this document."""

from __future__ import annotations

from typing import Any

from api.models import ApiToken
from checks.models import CheckResult, ValidationRun
from portal.models import ItemState
from reviews.facts import SCAN_KINDS, SEVERITIES
from reviews.gate import RULES
from reviews.models import LaunchReview

S = dict[str, Any]
STR: S = {"type": "string"}
INT: S = {"type": "integer"}
BOOL: S = {"type": "boolean"}
WHEN: S = {"type": "string", "format": "date-time"}
WHEN_OR_NULL: S = {"type": ["string", "null"], "format": "date-time"}
STR_OR_NULL: S = {"type": ["string", "null"]}


def ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, S], *, optional: tuple[str, ...] = (), extra: bool = False) -> S:
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
        "additionalProperties": extra,
    }


def page(item: str) -> S:
    return obj({"items": {"type": "array", "items": ref(item)}, "next_cursor": STR_OR_NULL})


FINDINGS: S = {
    "type": "object",
    "properties": {sev: {"type": "integer", "minimum": 0} for sev in SEVERITIES},
    "additionalProperties": False,
}

RUN: S = obj(
    {
        "id": INT,
        "service": STR,
        "status": {"type": "string", "enum": list(ValidationRun.Status.values)},
        "trigger": {"type": "string", "enum": list(ValidationRun.Trigger.values)},
        "full": BOOL,
        "steps": {"type": "array", "items": STR},
        "keys": {"type": "array", "items": STR},
        "created_at": WHEN,
        "started_at": WHEN_OR_NULL,
        "finished_at": WHEN_OR_NULL,
        "message": STR,
        "url": STR,
    }
)
SERVICE_PROPS: dict[str, S] = {
    "slug": STR,
    "name": STR,
    "team": STR,
    "tier": {"type": "integer", "enum": [1, 2, 3]},
    "lifecycle": STR,
    "template": STR,
    "created_at": WHEN,
    "readiness": ref("Readiness"),
    "url": STR,
}
GATE: S = obj(
    {
        "passed": BOOL,
        "rules": {"type": "array", "items": ref("GateRule")},
        "drill_keys": {"type": "array", "items": STR},
        "computed_at": WHEN_OR_NULL,
    }
)

SCHEMAS: dict[str, S] = {
    "Error": obj(
        {"error": obj({"code": STR, "message": STR, "details": {}})},
    ),
    "Readiness": obj(
        {
            "state": {"type": "string", "enum": ["ready", "in_progress", "stale", "failing"]},
            "total": INT,
            "complete": INT,
            "blocking_total": INT,
            "blocking_complete": INT,
            "failing": INT,
            "stale": INT,
        }
    ),
    "Service": obj(SERVICE_PROPS),
    "ServicePage": page("Service"),
    "Item": obj(
        {
            "key": STR,
            "title": STR,
            "blocking": BOOL,
            "state": {"type": "string", "enum": list(ItemState.State.values)},
            "verified_at": WHEN_OR_NULL,
            "expires_at": WHEN_OR_NULL,
            "evidence_url": STR_OR_NULL,
        }
    ),
    "GateRule": obj(
        {"key": {"type": "string", "enum": list(RULES)}, "passed": BOOL, "reason": STR}
    ),
    "Gate": GATE,
    "ServiceDetail": obj(
        {
            **SERVICE_PROPS,
            "items": {"type": "array", "items": ref("Item")},
            "gate": ref("Gate"),
            "latest_run": {"oneOf": [ref("Run"), {"type": "null"}]},
        }
    ),
    "Run": RUN,
    "RunPage": page("Run"),
    "Result": obj(
        {
            "key": STR,
            "status": {"type": "string", "enum": list(CheckResult.Status.values)},
            "summary": STR,
            "duration_ms": INT,
            "evidence": {"type": "object"},
            "created_at": WHEN,
        }
    ),
    "RunDetail": obj({**RUN["properties"], "results": {"type": "array", "items": ref("Result")}}),
    "RunRequest": obj({"steps": {"type": "array", "items": STR}}, optional=("steps",)),
    "Review": obj(
        {
            "id": INT,
            "service": STR,
            "status": {"type": "string", "enum": list(LaunchReview.Status.values)},
            "requested_by": STR,
            "requested_at": WHEN,
            "target_date": {"type": "string", "format": "date"},
            "notes": STR,
            "required_approvals": INT,
            "approvals": {"type": "array", "items": STR},
            "decided_at": WHEN_OR_NULL,
            "exemptions": {
                "type": "array",
                "items": obj(
                    {
                        "rule": STR,
                        "justification": STR,
                        "expires_at": WHEN,
                        "approved": BOOL,
                    }
                ),
            },
        }
    ),
    "LaunchStatus": obj(
        {
            "approved": BOOL,
            "review": {"oneOf": [ref("Review"), {"type": "null"}]},
            "reasons": {"type": "array", "items": STR},
            "gate": ref("Gate"),
        }
    ),
    "Facts": {
        "type": "object",
        "description": "Send at least one of coverage, scans, dependency_audit.",
        "properties": {
            "commit": {"type": "string", "maxLength": 100},
            "ci_url": {"type": "string", "format": "uri", "maxLength": 500},
            "coverage": obj(
                {"percent": {"type": "number", "minimum": 0, "maximum": 100}, "tool": STR},
                optional=("tool",),
            ),
            "scans": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "kind": {"type": "string", "enum": list(SCAN_KINDS)},
                        "tool": STR,
                        "findings": FINDINGS,
                    },
                    optional=("tool",),
                ),
            },
            "dependency_audit": obj(
                {
                    "tool": STR,
                    "packages_checked": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Packages actually checked; 0 is never a pass.",
                    },
                    "packages_total": {"type": "integer", "minimum": 0},
                    "findings": FINDINGS,
                },
                optional=("tool", "packages_total", "findings"),
            ),
        },
        "additionalProperties": False,
        "anyOf": [
            {"required": ["coverage"]},
            {"required": ["scans"]},
            {"required": ["dependency_audit"]},
        ],
    },
    "FactReport": obj(
        {
            "id": INT,
            "service": STR,
            "created_at": WHEN,
            "commit": STR,
            "ci_url": STR_OR_NULL,
            "facts": {"type": "object"},
            "verdicts": {
                "type": "object",
                "additionalProperties": obj({"passed": BOOL, "reason": STR}),
            },
            "token": STR_OR_NULL,
        }
    ),
    "FactPage": page("FactReport"),
}

ERRORS = {
    "400": "Invalid input (validation_error, invalid_json, invalid_cursor)",
    "401": "Missing, unknown or revoked token (unauthenticated, invalid_token)",
    "403": "Missing scope, team-bound token or CSRF (insufficient_scope, forbidden)",
    "404": "No such resource (not_found)",
    "409": "Conflict, or an Idempotency-Key reused with another body (idempotency_conflict)",
    "413": "Body over the size limit (payload_too_large)",
}
REQUEST_ID: S = {
    "description": "Echoed when the request carried a sane X-Request-ID, generated otherwise.",
    "schema": STR,
}


def _response(description: str, schema: str) -> S:
    return {
        "description": description,
        "headers": {"X-Request-ID": REQUEST_ID},
        "content": {"application/json": {"schema": ref(schema)}},
    }


def op(
    op_id: str,
    summary: str,
    ok: tuple[str, str],
    errors: tuple[str, ...],
    *,
    scope: str = ApiToken.Scope.READ,
    params: list[S] | None = None,
    body: str | None = None,
) -> S:
    responses = {ok[0]: _response(summary, ok[1])}
    responses.update({code: _response(ERRORS[code], "Error") for code in errors})
    operation: S = {
        "operationId": op_id,
        "summary": summary,
        "description": f"Scope: `{scope}`.",
        "parameters": params or [],
        "responses": responses,
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
        operation["parameters"] = [*operation["parameters"], IDEMPOTENCY]
    return operation


SLUG: S = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100},
    "example": "orders",
}
RUN_ID: S = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**53},
}
FACT_ID: S = {**RUN_ID, "name": "fact_id"}
PAGING: list[S] = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": STR,
        "description": "next_cursor of the previous page; keyset on (created_at, id).",
    },
]
IDEMPOTENCY: S = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "maxLength": 200},
    "description": "Same key and body: the first response again. Another body: 409.",
}
READ_ERRORS = ("400", "401", "403", "404")
WRITE_ERRORS = ("400", "401", "403", "404", "409", "413")


def _core_document() -> S:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Preflight API",
            "version": "1.0.0",
            "description": "Services, readiness, runs, launch status, facts from CI, "
            "annotations and the API login. Errors: {error: {code, message, details}}. "
            "Lists: cursor pagination.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": {
            "/api/v1/services": {
                "get": op(
                    "listServices",
                    "Services with their readiness",
                    ("200", "ServicePage"),
                    ("400", "401", "403"),
                    params=[*PAGING, {"name": "team", "in": "query", "schema": STR}],
                )
            },
            "/api/v1/services/{slug}": {
                "get": op(
                    "getService",
                    "A service: readiness, items, gate, latest run",
                    ("200", "ServiceDetail"),
                    READ_ERRORS,
                    params=[SLUG],
                )
            },
            "/api/v1/services/{slug}/runs": {
                "get": op(
                    "listRuns",
                    "Validation runs of a service",
                    ("200", "RunPage"),
                    READ_ERRORS,
                    params=[SLUG, *PAGING],
                ),
                "post": op(
                    "startRun",
                    "Start a validation run (no steps: a full run)",
                    ("202", "Run"),
                    WRITE_ERRORS,
                    scope=ApiToken.Scope.RUNS_WRITE,
                    params=[SLUG],
                    body="RunRequest",
                ),
            },
            "/api/v1/runs/{run_id}": {
                "get": op(
                    "getRun",
                    "A run and its results",
                    ("200", "RunDetail"),
                    READ_ERRORS,
                    params=[RUN_ID],
                )
            },
            "/api/v1/services/{slug}/launch": {
                "get": op(
                    "getLaunchStatus",
                    "May this service ship? (the CI gate)",
                    ("200", "LaunchStatus"),
                    READ_ERRORS,
                    params=[SLUG],
                )
            },
            "/api/v1/services/{slug}/facts": {
                "get": op(
                    "listFacts",
                    "Facts pushed by CI",
                    ("200", "FactPage"),
                    READ_ERRORS,
                    params=[SLUG, *PAGING],
                ),
                "post": op(
                    "pushFacts",
                    "Push facts from CI; verifies or fails the Testing & Quality Gates items",
                    ("201", "FactReport"),
                    WRITE_ERRORS,
                    scope=ApiToken.Scope.FACTS_WRITE,
                    params=[SLUG],
                    body="Facts",
                ),
            },
            "/api/v1/services/{slug}/facts/{fact_id}": {
                "get": op(
                    "getFacts",
                    "One facts report",
                    ("200", "FactReport"),
                    READ_ERRORS,
                    params=[SLUG, FACT_ID],
                )
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }
