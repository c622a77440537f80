"""Demo data for `make run`: two teams, five personas (two reviewers outside Payments, so a
tier-1 launch can get its two approvals) and two services part-way through the checklist.
Passwords are generated here and shown once by the caller — never stored in the repository."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from portal import services
from portal.models import ChecklistTemplate, ItemState, Membership, Service, Team
from portal.permissions import REVIEWERS_GROUP

DEMO_USERS = {
    # username: (role description, team slug or "", reviewer?, admin?)
    "lead": ("team lead of Payments", "payments", False, False),
    "reviewer": ("reviewer", "", True, False),
    "reviewer2": ("reviewer, member of Search", "search", True, False),
    "admin": ("admin", "", False, True),
    "outsider": ("member of Search (read-only on Payments)", "search", False, False),
}

DEMO_SERVICES = [
    # slug, name, tier, items ticked in checklist order (None: ready for the tour), description
    ("orders", "Orders API", 1, None, "Order intake and lifecycle."),
    ("inventory", "Inventory API", 2, 7, "Stock levels per warehouse."),
]
# What the demo's staging cannot check: no TLS terminator, no MongoDB, no repository of its
# own. Orders leaves open the items these verify (the tour has them exempted by name with
# the launch), and two blocking items the tour ticks by hand; the rest carry demo evidence.
DEMO_CANNOT_RUN = ("security.tls", "db.", "repo.")
TOUR_TICKS = ("reliability.circuit_breaker", "docker.rollback_documented")
# Their staging: the reference services `make run` starts (healthy, flawed).
DEFAULT_STAGING = {"orders": "http://127.0.0.1:8101", "inventory": "http://127.0.0.1:8102"}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


def _user(username: str, *, admin: bool) -> tuple[User, str | None]:
    user, created = User.objects.get_or_create(username=username)
    if not created:
        return user, None
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.is_staff = user.is_superuser = admin
    user.email = f"{username}@example.com"
    user.save()
    return user, password


@transaction.atomic
def load_demo(
    *, template: ChecklistTemplate, staging: dict[str, str] | None = None
) -> list[DemoLogin]:
    """Create what is missing; returns the logins created now (existing users keep theirs).
    ``staging`` maps a demo service's slug to its staging URL (default: DEFAULT_STAGING)."""
    staging = {**DEFAULT_STAGING, **(staging or {})}
    teams = {
        "payments": Team.objects.get_or_create(slug="payments", defaults={"name": "Payments"})[0],
        "search": Team.objects.get_or_create(slug="search", defaults={"name": "Search"})[0],
    }
    reviewers, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    created: list[DemoLogin] = []
    lead = None
    for username, (role, team_slug, reviewer, admin) in DEMO_USERS.items():
        user, password = _user(username, admin=admin)
        if team_slug:
            Membership.objects.get_or_create(user=user, team=teams[team_slug])
        if reviewer:
            user.groups.add(reviewers)
        if password:
            created.append(DemoLogin(username, password, role))
        if username == "lead":
            lead = user
    assert lead is not None
    for slug, name, tier, ticks, description in DEMO_SERVICES:
        if Service.objects.filter(slug=slug).exists():
            continue
        service = services.service_create(
            name=name,
            slug=slug,
            team=teams["payments"],
            template=template,
            tier=tier,
            lifecycle=Service.Lifecycle.STAGING,
            description=description,
            repository_url=f"https://git.example.com/payments/{slug}",
            staging_base_url=staging[slug],
            actor=lead,
        )
        _tick_some(service, lead, ticks)
    return created


def _tick_some(service: Service, lead: User, count: int | None) -> None:
    states = list(
        service.item_states.select_related("item").order_by(
            "item__section__position", "item__position"
        )
    )
    if count is None:
        ticked = [s for s in states if _ticked_for_the_tour(s)]
        na = None
    else:
        ticked, na = states[:count], states[count + 1]
    long_ago = timezone.now() - timedelta(days=400)
    for index, state in enumerate(ticked):
        assert state.item is not None
        # The last tick of the second service is a year old: it shows up as stale.
        old = service.slug == "inventory" and index == len(ticked) - 1
        services.item_transition(
            service=service,
            item_key=state.item_key,
            action="done",
            actor=lead,
            seen_version=state.version,
            note="Demo: verified during the readiness review.",
            evidence_url=f"https://wiki.example.com/{service.slug}/{state.item_key}",
            now=long_ago if old else None,
        )
    if na is not None:
        services.item_transition(
            service=service,
            item_key=na.item_key,
            action="na",
            actor=lead,
            seen_version=na.version,
            note="Demo: not applicable to this service.",
        )
    services.expire_stale_items()


def _ticked_for_the_tour(state: ItemState) -> bool:
    assert state.item is not None
    if state.item_key in TOUR_TICKS:
        return False
    return not any(key.startswith(DEMO_CANNOT_RUN) for key in state.item.verify_keys)
