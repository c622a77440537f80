"""The system actor cannot be impersonated: its name (and anything that looks like it) is
reserved for accounts, and pages tell system events apart by the missing user id."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from portal import audit
from portal.actors import SYSTEM_ACTOR_NAME, is_reserved_username
from portal.models import AuditEvent
from tests.conftest import PASSWORD

LOOKALIKES = [
    "preflight-system",
    "Preflight-System",
    "PREFLIGHT_SYSTEM",
    "preflight.system",
    "preflightsystem",
    "pr\u0435flight-system",  # Cyrillic e
    "preflight-s\u0443stem",  # Cyrillic y
    "".join(chr(ord(c) + 0xFEE0) for c in "preflight-system"),  # full-width forms
    "pref1ight-system",
    "preflight-systern",
    "preflight\u200b-system",  # a zero-width space
    "pr\u00e8flight-system",
]
FINE = ["preflight", "system", "preflight-systems", "lead", "admin", "sysadmin"]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_look_alikes_of_the_system_name_are_reserved(name) -> None:
    assert is_reserved_username(name)


@pytest.mark.parametrize("name", FINE)
def test_other_names_are_free(name) -> None:
    assert not is_reserved_username(name)


@pytest.mark.parametrize("name", ["preflight-system", "Preflight_System", "pr\u0435flight-system"])
def test_no_code_path_creates_an_account_with_a_reserved_name(db, name) -> None:
    # create_user is what demo data, the shell and a single sign-on provisioning call.
    with pytest.raises(ValidationError, match="reserved"):
        User.objects.create_user(username=name, password=PASSWORD)
    assert not User.objects.filter(username=name).exists()


def test_an_account_cannot_be_renamed_to_a_reserved_name(lead) -> None:
    lead.username = "PreFlight-System"
    with pytest.raises(ValidationError, match="reserved"):
        lead.save()
    lead.refresh_from_db()
    assert lead.username == "lead"


def test_createsuperuser_refuses_a_reserved_name(db) -> None:
    with pytest.raises(CommandError, match="reserved"):
        call_command(
            "createsuperuser",
            "--noinput",
            "--username",
            "preflight-system",
            "--email",
            "x@example.com",
        )
    assert not User.objects.exists()


def test_the_admin_add_user_form_refuses_a_reserved_name(admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "Preflight.System",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "This username is reserved" in response.content.decode()
    assert not User.objects.filter(username__iexact="preflight.system").exists()


def test_an_account_that_had_the_name_before_still_signs_in(db) -> None:
    # bulk_create skips the guard, as rows written before it existed did.
    (legacy,) = User.objects.bulk_create([User(username=SYSTEM_ACTOR_NAME)])
    legacy = User.objects.get(username=SYSTEM_ACTOR_NAME)
    legacy.set_password(PASSWORD)
    legacy.save()
    assert Client().login(username=SYSTEM_ACTOR_NAME, password=PASSWORD)


def test_history_tells_the_system_apart_by_user_id_not_by_name(service, lead) -> None:
    # An impostor account from before the guard, and a real system event.
    User.objects.bulk_create([User(username=SYSTEM_ACTOR_NAME)])
    impostor = User.objects.get(username=SYSTEM_ACTOR_NAME)
    audit.record(
        action=AuditEvent.Action.REOPEN, actor=impostor, service=service, note="by the impostor"
    )
    audit.record(
        action=AuditEvent.Action.VERIFIED, actor=None, service=service, note="by the system"
    )
    client = Client()
    client.force_login(lead)
    html = client.get(reverse("portal:service-history", args=[service.slug])).content.decode()
    rows = {
        note: row
        for row in html.split("<tr")
        for note in ("by the impostor", "by the system")
        if note in row
    }
    assert 'class="actor-system"' in rows["by the system"]
    assert 'class="by-system"' in rows["by the system"]
    assert "actor-system" not in rows["by the impostor"]
    assert f'data-user-id="{impostor.pk}"' in rows["by the impostor"]
    # Filtering on the system's name finds the system's events only.
    filtered = client.get(reverse("portal:history"), {"user": SYSTEM_ACTOR_NAME}).content.decode()
    assert "by the system" in filtered and "by the impostor" not in filtered


def test_the_launch_review_timeline_marks_system_decisions_by_user_id(service, lead) -> None:
    from datetime import date

    from reviews.models import Decision, LaunchReview

    review = LaunchReview.objects.create(
        service=service, requested_by=lead, target_date=date.today()
    )
    User.objects.bulk_create([User(username=SYSTEM_ACTOR_NAME)])
    impostor = User.objects.get(username=SYSTEM_ACTOR_NAME)
    Decision.objects.create(
        review=review, kind="invalidate", actor=None, actor_name=SYSTEM_ACTOR_NAME, snapshot={}
    )
    Decision.objects.create(
        review=review, kind="approve", actor=impostor, actor_name=SYSTEM_ACTOR_NAME, snapshot={}
    )
    client = Client()
    client.force_login(lead)
    html = client.get(reverse("reviews:review-detail", args=[review.pk])).content.decode()
    assert html.count('class="actor-system"') == 1
    assert f"by {SYSTEM_ACTOR_NAME} ·" in html  # the impostor: a person's name, not the badge
