from __future__ import annotations

from django.core.management import call_command

from portal.audit import verify_chain
from portal.models import ItemState, Service


def test_demo_data_has_personas_two_services_and_an_intact_history(
    template, settings, tmp_path, capsys
):
    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    out = capsys.readouterr().out
    for username in ("lead", "reviewer", "reviewer2", "admin", "outsider"):
        assert username in out
    logins = (tmp_path / "demo-logins.txt").read_text()
    assert len(logins.splitlines()) == 5
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o077 == 0
    assert Service.objects.count() == 2
    assert ItemState.objects.filter(state="done").exists()
    assert ItemState.objects.filter(state="stale").count() == 1
    assert verify_chain()[1] is None
    call_command("load_demo")  # again: nothing new, no passwords shown
    assert "already present" in capsys.readouterr().out
    assert Service.objects.count() == 2


def test_demo_staging_follows_the_reference_ports_and_two_reviewers_stand_outside_payments(
    template, settings, tmp_path, monkeypatch
) -> None:
    from django.contrib.auth.models import User

    from portal.permissions import is_reviewer

    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("REF_HEALTHY_PORT", "18101")
    monkeypatch.setenv("REF_FLAWED_PORT", "18102")
    call_command("load_demo")
    urls = dict(Service.objects.values_list("slug", "staging_base_url"))
    assert urls == {"orders": "http://127.0.0.1:18101", "inventory": "http://127.0.0.1:18102"}
    orders = Service.objects.get(slug="orders")
    assert orders.tier == 1  # needs PREFLIGHT_APPROVALS_TIER1 (2) approvals
    outside = [
        u.username
        for u in User.objects.all()
        if is_reviewer(u) and not u.membership_set.filter(team=orders.team).exists()
    ]
    assert len(outside) >= int(settings.PREFLIGHT_APPROVALS_TIER1)


def test_demo_profiles_exercise_the_drills(template, settings, tmp_path, monkeypatch) -> None:
    import tomllib

    from checks.models import StagingProfile

    settings.VAR_DIR = tmp_path
    for name in ("REF_PROBE_PASSWORD", "REF_OTP_SECRET", "REF_DRILL_TOKEN"):
        monkeypatch.setenv(name, f"demo-{name.lower()}-value")
    call_command("load_demo")
    call_command("load_demo_profiles")
    for profile in StagingProfile.objects.all():
        data = tomllib.loads(profile.toml)
        assert data["hooks"]["preset"] == "reference"
        assert data["load"]["target_rps"] > 0
        assert "hooks_token" in profile.secret_names
        assert "demo-ref_drill_token-value" not in profile.toml  # a secret, never in the TOML


def test_orders_is_ready_for_the_tour_but_for_what_the_demo_cannot_check(
    template, settings, tmp_path
) -> None:
    from portal.demo import DEMO_CANNOT_RUN, TOUR_TICKS

    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    open_blocking = {
        s.item_key: s.item.verify_keys
        for s in ItemState.objects.filter(service__slug="orders", item__blocking=True)
        .exclude(state="done")
        .select_related("item")
    }
    for key in TOUR_TICKS:
        assert open_blocking.pop(key) is not None  # the tour ticks these by hand
    assert open_blocking, "items only TLS, MongoDB or a repository could verify stay open"
    for key, verify_keys in open_blocking.items():
        assert any(k.startswith(DEMO_CANNOT_RUN) for k in verify_keys), key
