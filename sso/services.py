"""Write operations of single sign-on: the account behind a validated sign-in, and its teams
and reviewer role from the provider's groups, re-applied at every sign-in."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal import audit
from portal.actors import is_reserved_username
from portal.models import AuditEvent, Membership, Team
from portal.permissions import REVIEWERS_GROUP
from sso.models import Identity

log = logging.getLogger("preflight.sso")

ROLE_RANK: dict[str, int] = {Membership.Role.MEMBER: 0, Membership.Role.LEAD: 1}


class SignInRefused(Exception):
    """A validated provider identity that may not have an account here; ``reason`` is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grants:
    """What the provider's groups give: team slug -> role, and whether a reviewer."""

    teams: dict[str, str]
    reviewer: bool


def team_mapping() -> list[tuple[str, str, str]]:
    """(provider group, team slug, role) from PREFLIGHT_OIDC_TEAM_GROUPS."""
    rows = []
    for group, target in settings.PREFLIGHT_OIDC_TEAM_GROUPS:
        slug, _, role = target.partition(":")
        rows.append((group, slug, role or Membership.Role.MEMBER))
    return rows


def groups_of(claims: Mapping[str, Any]) -> list[str]:
    """The provider's groups claim as a list of names (a lone string counts as one)."""
    value = claims.get(settings.PREFLIGHT_OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


def grants_for(groups: Iterable[str]) -> Grants:
    """Teams and roles for these provider groups; the highest role wins within a team."""
    held = set(groups)
    teams: dict[str, str] = {}
    for group, slug, role in team_mapping():
        if group in held and ROLE_RANK[role] >= ROLE_RANK.get(teams.get(slug, ""), -1):
            teams[slug] = role
    reviewer = bool(held & set(settings.PREFLIGHT_OIDC_REVIEWER_GROUPS))
    return Grants(teams=teams, reviewer=reviewer)


def _username(claims: Mapping[str, Any]) -> str:
    claim = settings.PREFLIGHT_OIDC_USERNAME_CLAIM
    name = claims.get(claim)
    if not isinstance(name, str) or not name.strip():
        raise SignInRefused(f"the provider sent no {claim} claim to name the account by")
    name = name.strip()
    # portal.actors' guard refuses the save anyway; asked first, it is a refusal with a reason.
    if is_reserved_username(name):
        raise SignInRefused(f"the username {name!r} is reserved for Preflight itself")
    if len(name) > 150:
        raise SignInRefused(f"the username from {claim} is longer than 150 characters")
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError:
        raise SignInRefused(
            f"the username {name[:60]!r} from {claim} has characters an account name cannot "
            "have (letters, digits and @ . + - _ only)"
        ) from None
    return name


def _profile(claims: Mapping[str, Any]) -> dict[str, str]:
    """Email and names, as far as the provider sent them (cut to the columns' sizes)."""
    found: dict[str, str] = {}
    for claim, column, size in (
        ("email", "email", 254),
        ("given_name", "first_name", 150),
        ("family_name", "last_name", 150),
    ):
        value = claims.get(claim)
        if isinstance(value, str):
            found[column] = value.strip()[:size]
    return found


@transaction.atomic
def sign_in(*, issuer: str, claims: Mapping[str, Any]) -> AbstractUser:
    """The account for a validated provider identity: found by (issuer, sub), made on its
    first sign-in, its email and names refreshed, and its teams and reviewer role set from
    the groups claim. Raises SignInRefused (nothing written) when it may not sign in."""
    subject = str(claims["sub"])
    users = get_user_model()
    identity = (
        Identity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    profile = _profile(claims)
    if identity is None:
        name = _username(claims)
        if users.objects.filter(username__iexact=name).exists():
            raise SignInRefused(
                f"an account named {name!r} already exists and is not linked to this "
                "provider identity; an admin can link them (Single sign-on > Identities)"
            )
        user = users(username=name, **profile)
        user.set_unusable_password()  # a provider account has no local password
        user.save()
        identity = Identity.objects.create(user=user, issuer=issuer, subject=subject)
        log.info("sso: account %s created for %s", name, subject)
    else:
        user = identity.user
        if not user.is_active:
            raise SignInRefused("this account is deactivated in Preflight")
        changed = [k for k, v in profile.items() if getattr(user, k) != v]
        if changed:
            for key in changed:
                setattr(user, key, profile[key])
            user.save(update_fields=changed)
    groups = groups_of(claims)
    apply_groups(user, groups)
    identity.last_sign_in_at = timezone.now()
    identity.last_groups = groups[:200]
    identity.save(update_fields=["last_sign_in_at", "last_groups"])
    return user


def apply_groups(user: Any, groups: Iterable[str]) -> dict[str, Any]:
    """Make the account's memberships of the teams named in the mapping, and its reviewer
    role when reviewer groups are configured, exactly what ``groups`` give. Teams the mapping
    does not name, and memberships in them, are left alone. One audit event when anything
    changed. Returns the changes."""
    grants = grants_for(groups)
    managed = {slug for _, slug, _ in team_mapping()}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=managed)}
    for slug in sorted(set(grants.teams) - set(teams)):
        log.warning("sso: PREFLIGHT_OIDC_TEAM_GROUPS names team %r, which does not exist", slug)
    current = {
        m.team.slug: m
        for m in Membership.objects.select_related("team").filter(user=user, team__slug__in=managed)
    }
    changes: dict[str, Any] = {"added": [], "removed": [], "role_changed": []}
    for slug, role in sorted(grants.teams.items()):
        if slug not in teams:
            continue
        held = current.get(slug)
        if held is None:
            Membership.objects.create(user=user, team=teams[slug], role=role)
            changes["added"].append(f"{slug}:{role}")
        elif held.role != role:
            changes["role_changed"].append(f"{slug}:{held.role}->{role}")
            held.role = role
            held.save(update_fields=["role"])
    for slug, held in sorted(current.items()):
        if slug not in grants.teams:
            held.delete()
            changes["removed"].append(f"{slug}:{held.role}")
    if settings.PREFLIGHT_OIDC_REVIEWER_GROUPS:
        reviewers, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
        is_reviewer = user.groups.filter(pk=reviewers.pk).exists()
        if grants.reviewer and not is_reviewer:
            user.groups.add(reviewers)
            changes["reviewer"] = "granted"
        elif not grants.reviewer and is_reviewer:
            user.groups.remove(reviewers)
            changes["reviewer"] = "revoked"
    changes = {k: v for k, v in changes.items() if v}
    if changes:
        audit.record(
            action=AuditEvent.Action.ACCESS_CHANGED,
            actor=user,
            payload={"source": "single sign-on", **changes},
        )
        log.info("sso: access of %s changed: %s", user.get_username(), changes)
    return changes
