"""Who may do what. Roles: team lead (a Membership of a team), reviewer (the "reviewers"
group), admin (staff). Every signed-in user may read; only members of a service's owning team
change its checklist."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from portal.models import Membership, Service

REVIEWERS_GROUP = "reviewers"


def can_edit_service(user: AbstractBaseUser | AnonymousUser, service: Service) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user_id=user.pk, team_id=service.team_id).exists()


def is_reviewer(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return user.groups.filter(name=REVIEWERS_GROUP).exists()  # type: ignore[attr-defined]
