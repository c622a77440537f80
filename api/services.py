"""Write operations of the API app.

API tokens: create (the token is returned once), revoke, authenticate. Stored as SHA-256: a
leaked database does not leak usable tokens.

Annotations: create, change, delete (bodies validated by api/schemas.py), and who may change
them. Deploy markers and notes ("deployed v1.2") posted by CI or people, tagged with service
slugs, shown on dashboards."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import Annotation, ApiToken
from core.errors import Conflict, InvalidInput, NotAllowed
from portal import audit
from portal.models import AuditEvent, Membership, Team

PREFIX = "pf_"
SCOPES = tuple(ApiToken.Scope.values)
# What any active user may hold in a personal token (POST /api/v1/auth/login); team and CI
# scopes stay with admin-made tokens.
PERSONAL_SCOPES = (ApiToken.Scope.READ.value, ApiToken.Scope.ANNOTATIONS_WRITE.value)
PERSONAL_LIFETIME = timedelta(minutes=15)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _require_admin(actor: Any) -> None:
    # None is the command line (manage.py api_token), which only an operator can run.
    if actor is not None and not (actor.is_authenticated and actor.is_staff):
        raise NotAllowed("Only admins create and revoke API tokens.")


def parse_scopes(text: str | list[str]) -> list[str]:
    parts = text if isinstance(text, list) else [p.strip() for p in text.split(",")]
    scopes = sorted({p for p in parts if p})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInput(f"Scopes are a non-empty subset of {', '.join(SCOPES)}.")
    return scopes


@transaction.atomic
def token_create(
    *,
    name: str,
    scopes: list[str],
    actor: Any = None,
    team: Team | None = None,
    days: int | None = None,
) -> NewToken:
    _require_admin(actor)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of at most 100 characters.")
    scopes = parse_scopes(scopes)
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                prefix=secret[:10],
                token_hash=digest(secret),
                scopes=scopes,
                team=team,
                created_by=actor if actor is not None else None,
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )
    except IntegrityError:
        raise Conflict(f"A token named {name!r} exists already.") from None
    audit.record(
        action=AuditEvent.Action.TOKEN_CREATED,
        actor=actor,
        payload={
            "name": name,
            "prefix": token.prefix,
            "scopes": scopes,
            "team": team.slug if team else None,
        },
    )
    return NewToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: Any = None) -> ApiToken:
    _require_admin(actor)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(
        action=AuditEvent.Action.TOKEN_REVOKED,
        actor=actor,
        payload={"name": token.name, "prefix": token.prefix},
    )
    return token


def personal_token_create(*, user: Any, scopes: list[str]) -> NewToken:
    """A short-lived token acting for ``user`` (the API login). Not audited like admin-made
    tokens: it is a session, and the login itself is recorded by django-axes."""
    if not user.is_active:
        raise NotAllowed("This account is inactive.")
    refused = sorted(set(scopes) - set(PERSONAL_SCOPES))
    if refused or not scopes:
        raise InvalidInput(
            f"A personal token's scopes are a subset of {' '.join(PERSONAL_SCOPES)}."
        )
    now = timezone.now()
    # Expired personal tokens of this user are useless: drop them rather than let them pile up.
    ApiToken.objects.filter(user=user, expires_at__lt=now).delete()
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=f"login:{user.pk}:{secrets.token_hex(8)}",
        prefix=secret[:10],
        token_hash=digest(secret),
        scopes=sorted(set(scopes)),
        user=user,
        expires_at=now + PERSONAL_LIFETIME,
    )
    return NewToken(token=token, secret=secret)


def authenticate(secret: str) -> ApiToken | None:
    token = (
        ApiToken.objects.select_related("team", "user").filter(token_hash=digest(secret)).first()
    )
    if token is None or not token.active:
        return None
    if token.user is not None and not token.user.is_active:
        return None  # a personal token dies with its account
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most once a minute
    return token


# --- annotations ----------------------------------------------------------------------------
# The bodies are validated by the API's schemas (api/schemas.py); these are the writes and who
# may make them.

NAME_MAX = 200
TAG_MAX = 100
TAGS_MAX = 20


def _creator(token: ApiToken | None, user: Any) -> Any:
    if user is not None:
        return user
    return token.user if token is not None else None


def _team_ids(user: Any, token: ApiToken | None) -> set[int]:
    teams = set()
    if user is not None:
        teams |= set(Membership.objects.filter(user_id=user.pk).values_list("team_id", flat=True))
    if token is not None and token.team_id is not None:
        teams.add(token.team_id)
    return teams


def may_change_annotation(annotation: Annotation, *, token: ApiToken | None, user: Any) -> bool:
    """Annotation writes stay with the creator's team: the creator, a member of one of its teams
    (the creating user's teams, or the team of the team-bound token that posted it), or an admin.
    An admin-made token bound to no team writes for every team, as it does for runs and facts."""
    person = _creator(token, user)
    if person is not None and person.is_active and person.is_staff:
        return True
    if token is not None and token.user_id is None and token.team_id is None:
        return True
    if person is not None and annotation.created_by_id == person.pk:
        return True
    if token is not None and annotation.created_by_token_id == token.pk:
        return True
    theirs = _team_ids(annotation.created_by, annotation.created_by_token)
    return bool(theirs & _team_ids(person, token))


def _require_change(annotation: Annotation, token: ApiToken | None, user: Any) -> None:
    if not may_change_annotation(annotation, token=token, user=user):
        raise NotAllowed(
            "Only the creator's team (or an admin) changes or deletes this annotation."
        )


@transaction.atomic
def annotation_create(
    *, name: str, tags: list[str], token: ApiToken | None, user: Any = None
) -> Annotation:
    return Annotation.objects.create(
        name=name, tags=tags, created_by=_creator(token, user), created_by_token=token
    )


@transaction.atomic
def annotation_update(
    *,
    annotation: Annotation,
    changes: dict[str, Any],
    token: ApiToken | None,
    user: Any = None,
) -> Annotation:
    _require_change(annotation, token, user)
    for key in ("name", "tags"):
        if key in changes:
            setattr(annotation, key, changes[key])
    annotation.save()  # always: updated_at says when it was last touched
    return annotation


@transaction.atomic
def annotation_delete(*, annotation: Annotation, token: ApiToken | None, user: Any = None) -> None:
    _require_change(annotation, token, user)
    annotation.delete()
