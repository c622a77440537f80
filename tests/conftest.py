"""Shared personas and data for the suite: a team lead, a reviewer, an admin and an outsider,
the default checklist template and a service of the lead's team."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from portal import services
from portal.models import ChecklistTemplate, Membership, Service, Team
from portal.permissions import REVIEWERS_GROUP
from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

pytest_plugins = ["tests.support.refservice", "tests.support.worker", "tests.support.launches"]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def template(db: None) -> ChecklistTemplate:
    return services.template_import(data=load_template_file(DEFAULT_TEMPLATE)).template


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(name="Payments", slug="payments")


@pytest.fixture
def other_team(db: None) -> Team:
    return Team.objects.create(name="Search", slug="search")


def _user(username: str, **extra: object) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, **extra)  # type: ignore[arg-type]


@pytest.fixture
def lead(team: Team) -> User:
    user = _user("lead")
    Membership.objects.create(user=user, team=team)
    return user


@pytest.fixture
def reviewer(db: None) -> User:
    user = _user("reviewer")
    user.groups.add(Group.objects.get_or_create(name=REVIEWERS_GROUP)[0])
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    return _user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(other_team: Team) -> User:
    user = _user("outsider")
    Membership.objects.create(user=user, team=other_team)
    return user


@pytest.fixture
def service(team: Team, template: ChecklistTemplate, lead: User) -> Service:
    return services.service_create(
        name="Orders API", slug="orders", team=team, template=template, tier=1, actor=lead
    )
