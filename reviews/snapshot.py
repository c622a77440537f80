"""Readiness snapshots: everything a reviewer decided on, as plain JSON, and what changed
between a frozen snapshot and now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from checks.models import ValidationRun
from portal.models import Service
from portal.selectors import all_item_states, service_templates
from reviews.gate import Gate, compute_gate, drill_results
from reviews.models import Exemption


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _items(service: Service) -> list[dict[str, Any]]:
    """Every item the gate reads: the service's own checklist first, then each other checklist
    it carries, whose rows name it (``checklist``: the template key)."""
    rows = []
    for state in all_item_states(service):
        assert state.item is not None
        other = state.item.template_id != service.template_id
        rows.append(
            {
                "key": state.item_key,
                **({"checklist": state.item.template.key} if other else {}),
                "state": state.state,
                "blocking": state.item.blocking,
                "verified_at": _iso(state.verified_at),
                "expires_at": _iso(state.expires_at),
                "evidence_url": state.evidence_url,
                "failing_checks": state.failing_checks,
                "exempt_checks": list(state.exempt_checks),
            }
        )
    return rows


def _last_run(service: Service) -> dict[str, Any] | None:
    run = ValidationRun.objects.filter(service=service).order_by("-id").first()
    if run is None:
        return None
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "full": run.full,
        "finished_at": _iso(run.finished_at),
        "verdict": run.verdict,
        "counts": run.counts,
        "results": {key: status for key, status in run.results.values_list("key", "status")},
    }


def build_snapshot(service: Service, *, gate: Gate | None = None) -> dict[str, Any]:
    now = timezone.now()
    gate = gate or compute_gate(service, now=now)
    drills = drill_results(service, gate.drill_keys)
    return {
        "taken_at": now.isoformat(),
        "service": {
            "slug": service.slug,
            "tier": service.tier,
            "template": str(service.template),
            "checklists": [str(t) for t in service_templates(service)[1:]],
        },
        "items": _items(service),
        "last_run": _last_run(service),
        "drills": {
            key: ({"status": r.status, "at": _iso(r.created_at), "run": r.run_id} if r else None)
            for key, r in drills.items()
        },
        "gate": gate.as_dict(),
        "exemptions": [
            {
                "id": e.pk,
                "review": e.review_id,
                "granted": e.granted,
                "status": e.status,
                "expires_at": _iso(e.expires_at),
            }
            for e in Exemption.objects.filter(service=service, expires_at__gt=now).exclude(
                status__in=(Exemption.Status.REJECTED, Exemption.Status.WITHDRAWN)
            )
        ],
    }


def _item_name(row: dict[str, Any]) -> str:
    """An item as the differences name it: its key, after its checklist's when that is not the
    service's own (snapshots frozen before other checklists were listed have none)."""
    return f"{row['checklist']} · {row['key']}" if row.get("checklist") else row["key"]


def changes_since(frozen: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences between a frozen snapshot and the current one."""
    changes: list[str] = []
    before = {_item_name(row): row["state"] for row in frozen.get("items", [])}
    after = {_item_name(row): row["state"] for row in current.get("items", [])}
    for key, state in after.items():
        if key not in before:
            changes.append(f"item {key} added ({state})")
        elif before[key] != state:
            changes.append(f"item {key}: {before[key]} → {state}")
    changes.extend(f"item {key} removed" for key in before if key not in after)
    old_run, new_run = frozen.get("last_run"), current.get("last_run")
    if (old_run or {}).get("id") != (new_run or {}).get("id") and new_run:
        changes.append(f"new run #{new_run['id']} ({new_run['status']})")
    old_rules = {r["key"]: r["passed"] for r in frozen.get("gate", {}).get("rules", [])}
    for rule in current.get("gate", {}).get("rules", []):
        if rule["key"] in old_rules and old_rules[rule["key"]] != rule["passed"]:
            verdict = "now passes" if rule["passed"] else "now fails"
            changes.append(f"gate {rule['key']} {verdict}: {rule['reason']}")
    old_drills, new_drills = frozen.get("drills", {}), current.get("drills", {})
    for key, value in new_drills.items():
        if old_drills.get(key) != value:
            changes.append(f"drill {key}: {(value or {}).get('status', 'no result')}")
    return changes
