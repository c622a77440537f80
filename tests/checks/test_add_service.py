"""Adding a service from its staging URL (issue 12, item 8): the start form, discovery as the
worker runs it (the task called as a plain function here; tests/checks/test_add_service_worker.py
runs it in a real worker), the draft as a form beside its TOML, the save that creates the
service, its profile and its secrets in one transaction, the failures and what the lead can
do about them, and who may do any of it.

Every service is real: the real-convention services of tests/support/realsvc run as
processes on loopback, and the small FastAPI apps below are served by uvicorn on loopback.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from checks import secrets
from checks.engine import build_target
from checks.engine.discover import blank_draft
from checks.engine.draft import Draft
from checks.models import DiscoveryJob, StagingProfile
from checks.selectors import outbound_policy
from checks.services import discoveries, profiles
from checks.tasks import discover_service
from core.errors import Conflict
from portal import services as portal_services
from portal.models import AuditEvent, Service
from tests.catalog.conftest import closed_port
from tests.support.realservices import RunningRealService, run_real_service

from .discovery_support import draft_post, signed_in, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checklist(template):
    """Every service needs a checklist template; the default one is imported."""
    return template


@pytest.fixture(scope="module")
def oauth_app() -> Iterator[RunningRealService]:
    with run_real_service("oauth_app") as service:
        yield service


def _discovered(
    lead, team, oauth_app: RunningRealService, password: str | None = None
) -> DiscoveryJob:
    response = start(
        signed_in("lead"),
        team,
        oauth_app.base_url,
        username=oauth_app.username,
        password=oauth_app.password if password is None else password,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = DiscoveryJob.objects.get()
    assert discover_service(job.pk) in ("drafted", "failed")
    job.refresh_from_db()
    return job


# --- who may ---------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(db) -> None:
    response = Client().get(reverse("checks:add-service"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_reviewer_in_no_team_may_not_add_a_service(reviewer, team, template) -> None:
    client = signed_in("reviewer")
    assert client.get(reverse("checks:add-service")).status_code == 403
    response = start(client, team, "http://127.0.0.1:9")
    assert response.status_code == 403 and "not a member of any team" in response.content.decode()
    assert not DiscoveryJob.objects.exists()
    assert 'id="add-service"' not in client.get(reverse("portal:service-list")).content.decode()


def test_a_lead_chooses_only_among_their_own_teams(lead, team, other_team, template) -> None:
    client = signed_in("lead")
    html = client.get(reverse("checks:add-service")).content.decode()
    teams = re.search(r'<select name="team".*?</select>', html, re.S)
    assert teams and ">Payments</option>" in teams.group() and "Search" not in teams.group()
    response = start(client, other_team, "http://127.0.0.1:9")
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not DiscoveryJob.objects.exists()
    assert 'id="add-service"' in client.get(reverse("portal:service-list")).content.decode()


def test_an_outsider_can_neither_see_nor_change_another_teams_draft(
    lead, team, outsider, template
) -> None:
    start(signed_in("lead"), team, f"http://127.0.0.1:{closed_port()}")
    job = DiscoveryJob.objects.get()
    discover_service(job.pk)
    job.refresh_from_db()
    client = signed_in("outsider")
    assert client.get(reverse("checks:discovery", args=[job.pk])).status_code == 403
    for name in ("checks:discovery", "checks:discovery-retry", "checks:discovery-blank"):
        response = client.post(reverse(name, args=[job.pk]), {"source": "toml", "toml": "x"})
        assert response.status_code == 403, name
    job.refresh_from_db()
    assert (job.status, job.reason) == ("failed", "unreachable")
    assert not Service.objects.filter(slug="items-api").exists()


def test_bad_start_input_is_refused_and_nothing_is_recorded(lead, team, service) -> None:
    client = signed_in("lead")
    response = start(client, team, "ftp://staging.example.com", slug="orders")
    html = response.content.decode()
    assert response.status_code == 400
    assert "must be an http:// or https:// URL" in html and "slug &#x27;orders&#x27; exists" in html
    assert not DiscoveryJob.objects.exists()


# --- the draft as a form, and the save -------------------------------------------------------


def test_a_discovered_draft_is_a_form_by_section_with_sources_and_no_secret(
    lead, team, oauth_app
) -> None:
    job = _discovered(lead, team, oauth_app)
    assert job.status == "drafted", job.message
    # Secrets are encrypted at rest, in the job too.
    assert oauth_app.password not in str(job.secrets) and sorted(job.secrets) == ["password"]
    assert secrets.decrypt(job.secrets["password"]) == oauth_app.password
    html = signed_in("lead").get(reverse("checks:discovery", args=[job.pk])).content.decode()
    assert oauth_app.password not in html
    sections = re.findall(r'data-section="([a-z]+)"', html)
    assert sections[:4] == ["service", "auth", "paths", "resource"]
    # An inferred value, editable, with its source as help text and a reference link.
    assert re.search(r'name="paths\.login" value="/api/v1/login/access-token"', html)
    assert "OAuth2 password flow" in html
    assert 'href="/docs/profile/#auth.style"' in html
    # The style is chosen, not typed; the probe's secret is a write-only field, not a name.
    assert re.search(
        r'<select name="auth\.style"[^>]*>.*?<option value="oauth2_password" selected>', html, re.S
    )
    assert "password_env" not in html and 'name="password"' in html
    # Uninferred settings are empty, with the default shown as a placeholder.
    assert re.search(r'name="tls\.https_url" placeholder="https://staging.example.com"', html)
    # The TOML beside it is the same draft; the buttons say which one is saved.
    assert "style = &quot;oauth2_password&quot;" in html
    assert "Create the service from the form" in html and "Create the service from the TOML" in html


def test_saving_the_form_creates_the_service_profile_and_secrets_in_one_go_and_logs_in(
    lead, team, oauth_app
) -> None:
    job = _discovered(lead, team, oauth_app)
    data = draft_post(job, lead, source="form", **{"limits.login_attempts": "40"})
    data["toml"] = "this TOML is ignored: the form is saved"
    response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 302 and response["Location"] == "/services/items-api/"
    service = Service.objects.get(slug="items-api")
    assert (service.team, service.tier, service.lifecycle) == (team, 2, "staging")
    assert service.staging_base_url == oauth_app.base_url
    profile = StagingProfile.objects.get(service=service)
    assert sorted(profile.secrets) == ["password"] and oauth_app.password not in profile.toml
    parsed = tomllib.loads(profile.toml)
    assert parsed["limits"]["login_attempts"] == 40 and parsed["auth"]["style"] == "oauth2_password"
    assert "# login_attempts" not in profile.toml and "set in the portal" in profile.toml
    # The saved profile logs in, as a validation run would.
    target = build_target(profiles.engine_profile(profile), outbound_policy())
    assert target.session().access_token
    events = list(AuditEvent.objects.filter(service=service).values_list("action", "payload"))
    assert [a for a, _ in events] == ["service_created", "profile_changed"]
    assert events[1][1]["secrets_set"] == ["password"] and oauth_app.password not in str(events)
    job.refresh_from_db()
    assert (job.status, job.service, job.secrets) == ("saved", service, {})


def test_saving_the_toml_uses_the_toml_as_written_and_ignores_the_fields(
    lead, team, oauth_app
) -> None:
    job = _discovered(lead, team, oauth_app)
    data = draft_post(job, lead, source="toml", **{"resource.create_body": "{ not toml"})
    data["toml"] += "\n[http]\ntimeout_s = 7\n"
    response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 302
    profile = StagingProfile.objects.get(service__slug="items-api")
    assert profile.toml == data["toml"] and tomllib.loads(profile.toml)["http"]["timeout_s"] == 7


def test_preview_rewrites_the_toml_from_the_form_and_saves_nothing(lead, team, oauth_app) -> None:
    job = _discovered(lead, team, oauth_app)
    data = draft_post(job, lead, source="preview", **{"cors.allowed_origin": "https://app.test"})
    response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 200
    assert (
        "allowed_origin = &quot;https://app.test&quot;  # set in the portal"
        in response.content.decode()
    )
    assert not Service.objects.filter(slug="items-api").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"resource.create_body": "{ title = "},
            "resource.create_body",
            "Enter an inline TOML value",
        ),
        ({"resource.create_body": "[1, 2]"}, "resource.create_body", "Enter a value like {"),
        ({"limits.login_attempts": "ten"}, "limits.login_attempts", "Enter a number"),
        ({"auth.style": "carrier-pigeon"}, "auth.style", "Select a valid choice"),
        ({"service.base_url": "ftp://x"}, "service.base_url", "must be an http(s) URL"),
        (
            {
                "source": "toml",
                "toml": '[service]\nname = "x"\nbase_url = "http://x"\n[auth]\npassword = "pw"\n',
            },
            "toml",
            "secrets go in the secret fields",
        ),
        ({"source": "toml", "toml": "[service\n"}, "toml", "invalid TOML"),
        ({"source": ""}, None, "Press one of the buttons"),
    ],
)
def test_bad_draft_input_is_a_400_naming_the_field_and_nothing_is_written(
    lead, team, oauth_app, overrides, field, message
) -> None:
    job = _discovered(lead, team, oauth_app)
    data = draft_post(job, lead, **{"source": "form", **overrides})
    response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html.replace("&#x27;", "'").replace("&quot;", '"'), html[:3000]
    if field and field != "toml":  # the error sits by the field it names
        block = html.split(f'data-setting="{field}"', 1)[1].split("</div>", 1)[0]
        assert message.split("(")[0] in block.replace("&#x27;", "'")
    assert oauth_app.password not in html
    assert not Service.objects.filter(slug="items-api").exists()
    assert not StagingProfile.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["service_created", "profile_changed"]).exists()
    job.refresh_from_db()
    assert job.status == "drafted" and sorted(job.secrets) == ["password"]


def test_a_slug_taken_meanwhile_is_a_conflict_and_nothing_is_written(
    lead, team, oauth_app, template
) -> None:
    job = _discovered(lead, team, oauth_app)
    data = draft_post(job, lead, source="form")
    portal_services.service_create(name="X", slug="items-api", team=team, template=template)
    with pytest.raises(Conflict):
        discoveries.discovery_save(
            job=job,
            actor=lead,
            details=discoveries.ServiceDetails(
                name="Items",
                slug="items-api",
                team=team,
                template=template,
                tier=2,
                lifecycle="staging",
            ),
            toml=data["toml"],
        )
    response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
    assert response.status_code == 400 and "exists already" in response.content.decode()
    assert not StagingProfile.objects.exists()
    job.refresh_from_db()
    assert job.status == "drafted"


# --- the profile reference ---------------------------------------------------------------------


def test_the_profile_reference_is_a_page_with_an_anchor_for_every_draft_setting(
    lead, team, oauth_app, service
) -> None:
    client = signed_in("lead")
    response = client.get(reverse("checks:profile-reference"))
    html = response.content.decode()
    assert response.status_code == 200 and "<table>" in html and "<h2" in html
    assert "<script" not in html.split("<main>", 1)[1]  # raw HTML in the file is not passed on
    anchors = set(re.findall(r'id="([^"]+)"', html))
    job = _discovered(lead, team, oauth_app)
    blank = discoveries.portal_draft(blank_draft("http://x", "x", username="u"), job)
    names = {
        f"{section.name}.{entry.key}"
        for draft in (Draft.from_data(job.draft), blank)
        for section in draft.sections.values()
        for entry in section.entries
    }
    assert len(names) >= 25 and names - anchors == set()
    # The profile page links the reference.
    profile_page = client.get(reverse("checks:profile", args=[service.slug])).content.decode()
    assert 'href="/docs/profile/" id="profile-reference"' in profile_page


def test_an_api_key_given_as_the_password_becomes_the_static_token_secret(lead, team) -> None:
    with run_real_service("widgets_app") as widgets:
        response = start(signed_in("lead"), team, widgets.base_url, password=widgets.password)
        assert response.status_code == 302
        job = DiscoveryJob.objects.get()
        assert discover_service(job.pk) == "drafted", DiscoveryJob.objects.get().message
        data = draft_post(job, lead, source="form")
        assert data["auth.style"] == "static" and data["auth.header"] == "X-API-Key"
        response = signed_in("lead").post(reverse("checks:discovery", args=[job.pk]), data)
        assert response.status_code == 302, response.content.decode()[:3000]
        profile = StagingProfile.objects.get(service__slug="items-api")
        assert sorted(profile.secrets) == ["auth_token"] and widgets.password not in profile.toml
        engine = profiles.engine_profile(profile)
        assert engine.auth.token == widgets.password
        target = build_target(engine, outbound_policy())
        items = target.http.get(
            widgets.base_url + "/v1/widgets", headers=target.header_for(widgets.password)
        )
    assert items.status_code == 200


def test_the_probes_secrets_are_hidden_from_error_reports(lead, team) -> None:
    from django.test import RequestFactory
    from django.views.debug import get_exception_reporter_filter

    from checks import views

    request = RequestFactory().post(
        reverse("checks:add-service"),
        {"name": "x", "base_url": "not a url", "password": "pw-in-a-report", "otp_secret": "OTP"},
    )
    request.user = lead
    assert views.add_service(request).status_code == 400
    shown = get_exception_reporter_filter(request).get_post_parameters(request)
    assert shown["name"] == "x" and "pw-in-a-report" not in str(dict(shown))
    assert shown["password"] == shown["otp_secret"] != "OTP"
