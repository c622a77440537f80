"""Shared personas and data for the suite: a team lead, a reviewer, an admin and an outsider,
the default checklist template and a service of the lead's team."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group, User

from portal import services
from portal.models import ChecklistTemplate, Membership, Service, Team
from portal.permissions import REVIEWERS_GROUP
from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

pytest_plugins = ["tests.support.refservice", "tests.support.worker", "tests.support.launches"]

# What a test needs to touch the database (pytest-django's marker, or one of these fixtures,
# requested directly or through another fixture).
_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def _uses_the_database(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(fixtures & _DATABASE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With PREFLIGHT_TESTS_DATABASE_ONLY=1 (make test's second pass, on PostgreSQL), leave out
    the tests that never touch the database: the engine and catalog against loopback services,
    the reference service, the deployment files. They ran on the first pass, and a database
    backend cannot change their result (those that start a portal process give it a SQLite
    file of its own)."""
    if os.environ.get("PREFLIGHT_TESTS_DATABASE_ONLY") != "1":
        return
    kept: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        (kept if _uses_the_database(item) else left_out).append(item)
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept


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
