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
    for username in ("lead", "reviewer", "admin", "outsider"):
        assert username in out
    logins = (tmp_path / "demo-logins.txt").read_text()
    assert len(logins.splitlines()) == 4
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o077 == 0
    assert Service.objects.count() == 2
    assert ItemState.objects.filter(state="done").exists()
    assert ItemState.objects.filter(state="stale").count() == 1
    assert verify_chain()[1] is None
    call_command("load_demo")  # again: nothing new, no passwords shown
    assert "already present" in capsys.readouterr().out
    assert Service.objects.count() == 2
