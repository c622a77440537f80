"""The OpenAPI operations beyond services, runs and facts: annotations, the API login, and
the portal's probes (/health, /ready, /metrics), so that the document covers every route a
client or Preflight's own ``api.openapi`` check expects. ``document`` merges them with
``api.openapi``'s."""

from __future__ import annotations

from functools import cache
from typing import Any

from api import services
from api.models import ApiToken
from api.openapi import (
    INT,
    PAGING,
    READ_ERRORS,
    REQUEST_ID,
    STR,
    STR_OR_NULL,
    WHEN,
    WRITE_ERRORS,
    _core_document,
    _response,
    obj,
    op,
    page,
    ref,
)
from api.openapi import (
    SCHEMAS as CORE_SCHEMAS,
)

S = dict[str, Any]
NAME: S = {"type": "string", "minLength": 1, "maxLength": services.NAME_MAX}
TAGS: S = {
    "type": "array",
    "maxItems": services.TAGS_MAX,
    "items": {"type": "string", "minLength": 1, "maxLength": services.TAG_MAX},
    "description": "Short labels, typically service slugs (orders, payments).",
}
SCHEMAS: dict[str, S] = {
    "Annotation": obj(
        {
            "id": INT,
            "name": STR,
            "tags": {"type": "array", "items": STR},
            "created_by": STR_OR_NULL,
            "created_at": WHEN,
            "updated_at": WHEN,
        }
    ),
    "AnnotationPage": page("Annotation"),
    "AnnotationCreate": obj({"name": NAME, "tags": TAGS}, optional=("tags",)),
    "AnnotationChange": obj({"name": NAME, "tags": TAGS}, optional=("name", "tags")),
    "Login": obj(
        {
            "username": {"type": "string", "minLength": 1, "maxLength": 150},
            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
            "scope": {
                "type": "string",
                "description": "Space-separated subset of "
                f"`{' '.join(services.PERSONAL_SCOPES)}` (default: all of them).",
            },
        },
        optional=("scope",),
    ),
    "AccessToken": obj(
        {
            "access_token": STR,
            "token_type": {"type": "string", "enum": ["bearer"]},
            "expires_in": {"type": "integer", "minimum": 1},
            "scope": STR,
        }
    ),
    "Health": obj({"status": {"type": "string", "enum": ["ok"]}}),
    "ReadyState": obj(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": STR},
        }
    ),
}
ANNOTATION_ID: S = {
    "name": "annotation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**53},
}
NOTES = ApiToken.Scope.ANNOTATIONS_WRITE
PUBLIC: list[S] = []  # no authentication


def _public(operation: S) -> S:
    operation["security"] = PUBLIC
    operation["description"] = "No authentication."
    return operation


def _probe(op_id: str, summary: str, responses: S) -> S:
    return _public(
        {"operationId": op_id, "summary": summary, "parameters": [], "responses": responses}
    )


def _login() -> S:
    operation = op(
        "login",
        "Exchange a username and password for a short-lived personal bearer token",
        ("200", "AccessToken"),
        ("400", "401"),
    )
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": ref("Login")}},
    }
    operation["responses"]["429"] = {
        **_response(
            "Too many failed logins for this username from this address (too_many_attempts)",
            "Error",
        ),
        "headers": {"X-Request-ID": REQUEST_ID, "Retry-After": {"schema": STR}},
    }
    return _public(operation)


def _no_content(operation: S) -> S:
    """DELETE answers 204 without a body."""
    responses = operation["responses"]
    responses["204"] = {"description": "Deleted", "headers": {"X-Request-ID": REQUEST_ID}}
    del responses["200"]
    return operation


PATHS: dict[str, S] = {
    "/api/v1/auth/login": {"post": _login()},
    "/api/v1/annotations": {
        "get": op(
            "listAnnotations",
            "Annotations (deploy markers, notes), oldest first",
            ("200", "AnnotationPage"),
            ("400", "401", "403"),
            params=list(PAGING),
        ),
        "post": op(
            "createAnnotation",
            'Post an annotation, e.g. {"name": "deployed v1.2", "tags": ["orders"]}',
            ("201", "Annotation"),
            tuple(code for code in WRITE_ERRORS if code != "404"),
            scope=NOTES,
            body="AnnotationCreate",
        ),
    },
    "/api/v1/annotations/{annotation_id}": {
        "get": op(
            "getAnnotation",
            "One annotation",
            ("200", "Annotation"),
            READ_ERRORS,
            params=[ANNOTATION_ID],
        ),
        "patch": op(
            "changeAnnotation",
            "Rename or retag an annotation",
            ("200", "Annotation"),
            ("400", "401", "403", "404", "413"),
            scope=NOTES,
            params=[ANNOTATION_ID],
            body="AnnotationChange",
        ),
        "delete": _no_content(
            op(
                "deleteAnnotation",
                "Delete an annotation",
                ("200", "Annotation"),
                ("401", "403", "404"),
                scope=NOTES,
                params=[ANNOTATION_ID],
            )
        ),
    },
    "/health": {
        "get": _probe(
            "health", "Liveness: the process answers", {"200": _response("Alive", "Health")}
        )
    },
    "/ready": {
        "get": _probe(
            "ready",
            "Readiness: database and broker answer (within about a second)",
            {
                "200": _response("Ready", "ReadyState"),
                "503": _response("Not ready; checks says which part is down", "ReadyState"),
            },
        )
    },
    "/metrics": {
        "get": _probe(
            "metrics",
            "Prometheus metrics (text format)",
            {
                "200": {
                    "description": "Prometheus text exposition format",
                    "headers": {"X-Request-ID": REQUEST_ID},
                    "content": {"text/plain": {"schema": STR}},
                },
                "401": {
                    "description": "PREFLIGHT_METRICS_TOKEN is set and the bearer token is wrong",
                    "headers": {"X-Request-ID": REQUEST_ID},
                },
            },
        )
    },
}
# op() offers Idempotency-Key with every body, but only POST honours it: not on PATCH.
PATHS["/api/v1/annotations/{annotation_id}"]["patch"]["parameters"] = [ANNOTATION_ID]


@cache
def document() -> S:
    """The API's whole OpenAPI document: api.openapi's operations and these."""
    doc = _core_document()
    doc["paths"].update(PATHS)
    doc["components"]["schemas"] = {**CORE_SCHEMAS, **SCHEMAS}
    return doc
