from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def checkpoint_file(settings, tmp_path) -> Path:
    """Each test publishes audit checkpoints to its own file (never var/)."""
    path = tmp_path / "audit-checkpoints.jsonl"
    settings.PREFLIGHT_AUDIT_CHECKPOINT_PATH = path
    return path
