"""Annotations as domain operations: validate, create, change, delete. Deploy markers and notes
("deployed v1.2") posted by CI or people, tagged with service slugs, shown on dashboards."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db import transaction

from api.models import Annotation, ApiToken
from core.errors import InvalidInput

NAME_MAX = 200
TAG_MAX = 100
TAGS_MAX = 20
FIELDS = ("name", "tags")


class BadAnnotation(InvalidInput):
    """Every problem of a body at once: ``details`` is ``[{field, message}]``."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        self.details = details
        super().__init__("The annotation is not valid: " + "; ".join(d["message"] for d in details))


def _text_problem(value: Any, limit: int) -> str | None:
    """Why ``value`` is not a storable short text, or None.

    Control characters and lone surrogates are refused: PostgreSQL cannot store NUL, and a
    lone surrogate cannot be encoded at all; both would otherwise surface as a 500."""
    if not isinstance(value, str):
        return "must be a string"
    if not value.strip():
        return "must not be blank"
    if len(value) > limit:
        return f"must be at most {limit} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return "must not contain control characters"
    return None


def validate(data: Any, *, partial: bool) -> dict[str, Any]:
    """The fields of a create (all required but tags) or change (any subset) body."""
    if not isinstance(data, dict):
        raise BadAnnotation([{"field": "", "message": "the body must be a JSON object"}])
    errors = [
        {"field": key, "message": f"unknown field {key}"} for key in sorted(set(data) - set(FIELDS))
    ]
    if not partial and "name" not in data:
        errors.append({"field": "name", "message": "name is required"})
    if "name" in data and (problem := _text_problem(data["name"], NAME_MAX)):
        errors.append({"field": "name", "message": f"name {problem}"})
    tags = data.get("tags", [])
    if not isinstance(tags, list) or len(tags) > TAGS_MAX:
        errors.append(
            {"field": "tags", "message": f"tags must be a list of at most {TAGS_MAX} strings"}
        )
    else:
        for n, tag in enumerate(tags):
            if problem := _text_problem(tag, TAG_MAX):
                errors.append({"field": f"tags[{n}]", "message": f"tags[{n}] {problem}"})
    if errors:
        raise BadAnnotation(errors)
    return {key: data[key] for key in FIELDS if key in data}


def _creator(token: ApiToken | None, user: Any) -> Any:
    if user is not None:
        return user
    return token.user if token is not None else None


@transaction.atomic
def annotation_create(*, data: Any, token: ApiToken | None, user: Any = None) -> Annotation:
    fields = validate(data, partial=False)
    return Annotation.objects.create(
        name=fields["name"],
        tags=fields.get("tags", []),
        created_by=_creator(token, user),
        created_by_token=token,
    )


@transaction.atomic
def annotation_update(*, annotation: Annotation, data: Any) -> Annotation:
    fields = validate(data, partial=True)
    for key, value in fields.items():
        setattr(annotation, key, value)
    annotation.save()  # always: updated_at says when it was last touched
    return annotation


@transaction.atomic
def annotation_delete(*, annotation: Annotation) -> None:
    annotation.delete()
