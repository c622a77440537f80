"""Without Redis, `make run` uses Celery's filesystem transport: every file it writes stays
under the var directory, whatever directory the process runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PUBLISH = """
import django
django.setup()
from core.broker import enqueue
assert enqueue("portal.tasks.expire_stale_items"), "not enqueued"
"""


def test_the_filesystem_broker_writes_only_under_var(tmp_path: Path) -> None:
    cwd, var = tmp_path / "elsewhere", tmp_path / "var"
    cwd.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "PREFLIGHT_ENV": "dev",
        "PREFLIGHT_VAR_DIR": str(var),
        "CELERY_BROKER_URL": "filesystem://",
    }
    env.pop("CELERY_BROKER_FILESYSTEM_DIR", None)
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", PUBLISH], cwd=cwd, env=env, check=True, timeout=60)
    assert list(cwd.iterdir()) == []  # no control/, data_in/ or processed/ here
    broker = var / "broker"
    assert any((broker / "control").iterdir()), "the exchange table lives under var/broker"
    assert len(list((broker / "queue").iterdir())) == 1  # the message itself
