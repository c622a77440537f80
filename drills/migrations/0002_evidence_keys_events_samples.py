"""Stored drill evidence moves to the settled keys (check-catalog.md): every drill's timeline
of actions and observations is ``events``, a load test's per-second curve is ``samples``.

Before, drills other than the load test kept their events under ``timeline``, and the load
test kept its curve under ``timeline`` (events already under ``events``)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

LOAD = "load.target_rps"


def _forward(key: str, evidence: Any) -> Any:
    if not isinstance(evidence, dict) or "timeline" not in evidence:
        return None
    moved = dict(evidence)
    target = "samples" if key == LOAD else "events"
    if target in moved:
        return None
    moved[target] = moved.pop("timeline")
    return moved


def _backward(key: str, evidence: Any) -> Any:
    source = "samples" if key == LOAD else "events"
    if not isinstance(evidence, dict) or source not in evidence or "timeline" in evidence:
        return None
    moved = dict(evidence)
    moved["timeline"] = moved.pop(source)
    return moved


def _rewrite(apps: Any, change: Any) -> None:
    for app, model in (("checks", "CheckResult"), ("drills", "Drill")):
        rows = apps.get_model(app, model).objects
        drills = rows.filter(key__regex=r"^(load|chaos|alerts|rollout)\.")
        for row in drills.only("pk", "key", "evidence").iterator(chunk_size=500):
            moved = change(row.key, row.evidence)
            if moved is not None:
                rows.filter(pk=row.pk).update(evidence=moved)


def forward(apps: Any, schema_editor: Any) -> None:
    _rewrite(apps, _forward)


def backward(apps: Any, schema_editor: Any) -> None:
    _rewrite(apps, _backward)


class Migration(migrations.Migration):
    dependencies = [
        ("drills", "0001_initial"),
        ("checks", "0002_run_complete_selection"),
    ]

    operations = [migrations.RunPython(forward, backward)]
