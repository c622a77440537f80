"""The shared core: the constant-time bearer check, enqueueing by task name, the one refusal
page, and the validation panel that the checks app now lends the portal's service page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.exceptions import NotRegistered
from django.test import Client, RequestFactory

from checks.models import StagingProfile
from checks.services import profiles
from core.auth import bearer_matches
from core.broker import enqueue
from portal.models import Service

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("Bearer s3cre", False),  # a prefix of the secret
        ("Bearer s3cret2", False),  # the secret and more
        ("bearer s3cret", False),  # the scheme is matched exactly, as before
        ("s3cret", False),
        ("", False),
    ],
)
def test_the_bearer_check_accepts_only_the_exact_header(header: str, ok: bool) -> None:
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=header)
    assert bearer_matches(request, "s3cret") is ok


def test_an_unknown_task_name_is_a_bug_not_a_dead_broker() -> None:
    with pytest.raises(NotRegistered):
        enqueue("checks.tasks.no_such_task", 1)


def test_a_fresh_web_process_enqueues_every_task_by_name() -> None:
    """A web process (gunicorn, runserver) has imported no tasks module when its first request
    enqueues by name; autodiscovery must run then, not only in the worker."""
    code = (
        "import django; django.setup()\n"
        "from celery import current_app\n"
        "from core.broker import enqueue\n"
        "assert 'checks.tasks.execute_run' not in current_app.tasks\n"
        "for name in ('checks.tasks.execute_run', 'reviews.tasks.deliver_webhook'):\n"
        "    enqueue(name, 0)  # NotRegistered here would be a 500 in the web process\n"
    )
    env = {
        **os.environ,
        "PREFLIGHT_ENV": "test",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens: enqueue says False
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _profile(service: Service) -> StagingProfile:
    return profiles.profile_save(
        service=service,
        toml=f'[service]\nname = "{service.slug}"\nbase_url = "http://127.0.0.1:9"\n',
        new_secrets={},
        clear=[],
        actor=None,
    )


def test_the_service_page_shows_the_validation_panel_with_a_working_form(service, lead) -> None:
    _profile(service)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert 'id="validation"' in page and 'id="run-validation"' in page
    assert 'name="csrfmiddlewaretoken"' in page.split('id="validation"')[1]
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(f"/services/{service.slug}/runs/start/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302  # the run was requested: CSRF passed


def test_outsiders_and_services_without_a_profile_get_no_run_form(service, lead, outsider) -> None:
    page = _client(lead).get(f"/services/{service.slug}/").content.decode()
    assert 'id="validation"' in page and "No staging profile yet." in page
    _profile(service)
    page = _client(outsider).get(f"/services/{service.slug}/").content.decode()
    assert 'id="validation"' in page and 'id="run-validation"' not in page


def test_a_refused_operation_gets_the_one_refusal_page(service, outsider) -> None:
    _profile(service)
    response = _client(outsider).post(f"/services/{service.slug}/runs/start/")
    assert response.status_code == 403
    assert response.templates[0].name == "core/refused.html"
    page = response.content.decode()
    assert "Only members of the owning team start validations." in page
    assert f'href="/services/{service.slug}/"' in page


def test_an_attachment_builds_only_its_format_and_refuses_others() -> None:
    from django.http import Http404

    from core.downloads import attachment

    def never() -> str:
        raise AssertionError("the other format was built")

    response = attachment("csv", "orders-runs", csv=lambda: "a,b\n", json=never)
    assert response.content == b"a,b\n"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="orders-runs.csv"'
    assert attachment("json", "x", csv=never, json=lambda: "[]")["Content-Type"] == (
        "application/json"
    )
    with pytest.raises(Http404):
        attachment("xlsx", "x", csv=never, json=never)
