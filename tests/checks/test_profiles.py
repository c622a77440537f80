from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from checks import secrets
from checks.engine import ProfileError
from checks.models import StagingProfile
from checks.services import profiles
from checks.services.schedules import spread
from portal.models import AuditEvent
from tests.conftest import PASSWORD

TOML = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n[auth]\nusername = "probe"\n'


def _save(service, **kw):
    args = {"toml": TOML, "new_secrets": {"password": "s3cret-pw", "otp_secret": ""}, "clear": []}
    args.update(kw)
    return profiles.profile_save(service=service, actor=None, **args)


def test_secrets_are_encrypted_at_rest_and_decrypted_for_the_engine(service) -> None:
    profile = _save(service)
    stored = StagingProfile.objects.get(pk=profile.pk)
    assert "s3cret-pw" not in str(stored.secrets) and "s3cret-pw" not in stored.toml
    assert profiles.engine_profile(stored).auth.password == "s3cret-pw"
    event = AuditEvent.objects.get(action="profile_changed")
    assert event.payload["secrets_set"] == ["password"] and "s3cret-pw" not in str(event.payload)


def test_a_blank_secret_keeps_the_stored_one_and_clear_removes_it(service) -> None:
    _save(service)
    kept = _save(service, new_secrets={"password": "", "otp_secret": ""})
    assert profiles.engine_profile(kept).auth.password == "s3cret-pw"
    cleared = _save(service, new_secrets={"password": "", "otp_secret": ""}, clear=["password"])
    assert cleared.secrets == {} and profiles.engine_profile(cleared).auth.password is None


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[service]\nname = "x"\nbase_url = "ftp://x"\n', "service.base_url"),
        (TOML + 'password = "literal"\n', "auth.password"),
        (TOML + "[limits]\npage_size = 0\n", "limits.page_size"),
        ("[service\n", "profile"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field_and_nothing_is_saved(service, toml, field):
    with pytest.raises(ProfileError) as info:
        _save(service, toml=toml)
    assert info.value.field == field
    assert not StagingProfile.objects.exists()


def test_keys_rotate_without_losing_secrets(service, settings) -> None:
    profile = _save(service)
    new_key = Fernet.generate_key().decode()
    settings.PREFLIGHT_SECRET_KEYS = [new_key, *settings.PREFLIGHT_SECRET_KEYS]
    call_command("rotate_secrets")
    settings.PREFLIGHT_SECRET_KEYS = [new_key]  # the old key is gone
    profile.refresh_from_db()
    assert secrets.decrypt(profile.secrets["password"]) == "s3cret-pw"


def test_the_profile_page_never_renders_a_secret_back(service, lead) -> None:
    _save(service)
    client = Client()
    client.login(username="lead", password=PASSWORD)
    html = client.get(reverse("checks:profile", args=["orders"])).content.decode()
    assert "s3cret-pw" not in html and "<code>password</code>" in html
    response = client.post(
        reverse("checks:profile", args=["orders"]),
        {"toml": TOML + "[limits]\npage_size = 500\n", "schedule_cron": "0 2 * * *"},
    )
    assert response.status_code == 400 and "limits.page_size" in response.content.decode()
    response = client.post(
        reverse("checks:profile", args=["orders"]),
        {"toml": TOML, "schedule_cron": "99 2 * * *", "schedule_enabled": "on"},
    )
    assert response.status_code == 400 and "schedule" in response.content.decode().lower()


def test_outsiders_cannot_change_a_profile(service, outsider) -> None:
    client = Client()
    client.login(username="outsider", password=PASSWORD)
    response = client.post(reverse("checks:profile", args=["orders"]), {"toml": TOML})
    assert response.status_code == 403 and not StagingProfile.objects.exists()


def test_saving_a_profile_schedules_a_nightly_validation(service) -> None:
    from django_celery_beat.models import PeriodicTask

    _save(service)
    task = PeriodicTask.objects.get(name="validate:orders")
    assert task.task == "checks.tasks.scheduled_validation" and task.enabled
    # 02:00, moved by the service's own offset within the spread window (2 h by default).
    assert (task.crontab.minute, task.crontab.hour) == tuple(
        spread("0 2 * * *", "orders").split()[:2]
    )
    assert 120 <= int(task.crontab.hour) * 60 + int(task.crontab.minute) < 240
    _save(service, schedule_enabled=False, schedule_cron="*/30 4 * * 1")
    task.refresh_from_db()
    assert not task.enabled and (task.crontab.minute, task.crontab.hour) == ("*/30", "4")


def test_nightly_schedules_spread_over_the_window_by_service() -> None:
    times = [spread("0 2 * * *", f"service-{n}", 120) for n in range(500)]
    minutes = [int(t.split()[1]) * 60 + int(t.split()[0]) - 120 for t in times]
    assert all(0 <= m < 120 for m in minutes)
    per_slot = [minutes.count(m) for m in range(120)]
    assert max(per_slot) <= 12  # ~4 a minute on average, none piled up at 02:00
    assert spread("0 2 * * *", "service-7", 120) == times[7]  # stable
    assert spread("50 23 * * 1", "x", 120).split()[1:] == ["23", "*", "*", "1"]  # not past 23:59
    assert spread("*/15 * * * *", "x", 120) == "*/15 * * * *"
    assert spread("0 2 * * *", "x", 0) == "0 2 * * *"


def test_a_static_token_and_a_client_secret_are_stored_encrypted(service) -> None:
    toml = TOML.replace('username = "probe"\n', 'style = "static"\nheader = "X-API-Key"\n')
    profile = _save(service, toml=toml, new_secrets={"auth_token": "k3y-123456"})
    stored = StagingProfile.objects.get(pk=profile.pk)
    assert "k3y-123456" not in str(stored.secrets) and "k3y-123456" not in stored.toml
    engine = profiles.engine_profile(stored)
    assert engine.auth.token == "k3y-123456" and "k3y-123456" in engine.secret_values()
    toml = TOML.replace(
        'username = "probe"\n',
        'style = "client_credentials"\nclient_id = "svc"\ntoken_url = "https://idp.test/token"\n',
    )
    profile = _save(service, toml=toml, new_secrets={"client_secret": "cl13nt-s3cret"})
    assert profiles.engine_profile(profile).auth.client_secret == "cl13nt-s3cret"


@pytest.mark.parametrize("key", ["token", "client_secret_env"])
def test_new_secrets_are_refused_in_the_toml(service, key) -> None:
    with pytest.raises(ProfileError) as info:
        _save(service, toml=TOML + f'{key} = "x"\n')
    assert info.value.field == f"auth.{key}"
