"""Who may do what with a launch review. Separation of duties: a reviewer never decides a
launch of their own team, nor one they requested; only the requester withdraws."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from portal.models import Membership
from portal.permissions import can_edit_service, is_reviewer
from reviews.models import Exemption, LaunchReview

User = AbstractBaseUser | AnonymousUser

can_request = can_edit_service


def decide_refusal(user: User, review: LaunchReview) -> str | None:
    """Why ``user`` may not approve or reject ``review``; None when they may."""
    if not user.is_authenticated:
        return "Sign in to decide a launch."
    if not is_reviewer(user):
        return "Only members of the reviewers group approve or reject launches."
    if Membership.objects.filter(user_id=user.pk, team_id=review.service.team_id).exists():
        return "Reviewers do not decide launches of their own team."
    if review.requested_by_id == user.pk:
        return "You cannot decide a launch you requested."
    return None


def exemption_refusal(user: User, exemption: Exemption) -> str | None:
    """Why ``user`` may not approve or reject an item exemption; None when they may. The
    same separation of duties as a launch: a reviewer of another team, not the requester."""
    if not user.is_authenticated:
        return "Sign in to decide an exemption."
    if not is_reviewer(user):
        return "Only members of the reviewers group approve or reject exemptions."
    if Membership.objects.filter(user_id=user.pk, team_id=exemption.service.team_id).exists():
        return "Reviewers do not decide exemptions of their own team."
    if exemption.requested_by_id == user.pk:
        return "You cannot decide an exemption you requested."
    return None


def can_decide(user: User, review: LaunchReview) -> bool:
    return decide_refusal(user, review) is None


def can_withdraw(user: User, review: LaunchReview) -> bool:
    return user.is_authenticated and review.requested_by_id == user.pk
