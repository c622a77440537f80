"""The README's production section keeps up with the settings and the deployment files."""

from __future__ import annotations

import re

from tests.deploy.files import ROOT

SETTINGS = ROOT / "app" / "settings.py"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def production_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Production")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_setting_read_from_the_environment_is_documented() -> None:
    names = set(
        re.findall(r"env(?:str|bool|int|list|pairs)\(\s*\"([A-Z0-9_]+)\"", SETTINGS.read_text())
    )
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= names
    section = production_section()
    missing = sorted(name for name in names if f"`{name}`" not in section)
    assert not missing, f"add to README's configuration reference: {missing}"


def test_the_entrypoint_variables_are_documented() -> None:
    names = set(re.findall(r"\$\{([A-Z_]+):-", ENTRYPOINT.read_text()))
    assert "WEB_CONCURRENCY" in names
    section = production_section()
    assert not sorted(n for n in names if f"`{n}`" not in section)


def test_procedures_are_there() -> None:
    section = production_section()
    for needle in (
        "### Upgrade and rollback",
        "migrate-job.yaml",
        "rollout undo",
        "pg_dump",
        "pg_restore",
        "manage.py verify_audit",
        "### Scaling workers",
        "Distributed Locust",
    ):
        assert needle in section, needle
