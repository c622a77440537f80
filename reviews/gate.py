"""The launch gate, computed live from the checklist, the runs and the drills.

Rules (each yields ``{key, passed, reason}``):

- ``blocking_items``: every blocking item is done (or not applicable) and not stale;
- ``no_failing_items``: no item of the checklist is failing;
- ``full_run``: the latest finished full validation run passed and is younger than
  PREFLIGHT_GATE_RUN_MAX_AGE_DAYS;
- ``drills``: every drill check (``checks.selectors.drill_keys``: registered checks of kind
  "drill") passed within PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS. With no drill registered the
  rule holds vacuously, and the gate still says which drill keys it considered (none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from checks.models import CheckResult, ValidationRun
from checks.selectors import drill_keys, drill_window
from portal.models import ItemState, Service
from portal.selectors import item_states

RULES = ("blocking_items", "no_failing_items", "full_run", "drills")
_LISTED = 8  # keys named in a reason before "and N more"


@dataclass(frozen=True)
class GateRule:
    key: str
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "passed": self.passed, "reason": self.reason}


@dataclass(frozen=True)
class Gate:
    rules: list[GateRule]
    drill_keys: list[str] = field(default_factory=list)
    computed_at: datetime | None = None

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    @property
    def failing(self) -> list[GateRule]:
        return [rule for rule in self.rules if not rule.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rules": [rule.as_dict() for rule in self.rules],
            "drill_keys": self.drill_keys,
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
        }


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _blocking_rule(states: list[ItemState], now: datetime) -> GateRule:
    missing = []
    for state in states:
        assert state.item is not None
        if not state.item.blocking:
            continue
        expired = (
            state.state == ItemState.State.DONE and state.expires_at and state.expires_at < now
        )
        if not state.complete or expired:
            missing.append(state.item_key)
    if missing:
        return GateRule(
            "blocking_items", False, f"{len(missing)} blocking item(s) not done: {_named(missing)}"
        )
    return GateRule("blocking_items", True, "every blocking item is done or not applicable")


def _failing_rule(states: list[ItemState]) -> GateRule:
    failing = [s.item_key for s in states if s.state == ItemState.State.FAILING]
    if failing:
        return GateRule("no_failing_items", False, f"failing: {_named(failing)}")
    return GateRule("no_failing_items", True, "no item is failing")


def latest_full_run(service: Service) -> ValidationRun | None:
    runs = (
        ValidationRun.objects.filter(service=service, status__in=ValidationRun.FINISHED)
        .exclude(trigger=ValidationRun.Trigger.RERUN)
        .order_by("-id")
    )
    return next((run for run in runs.iterator(chunk_size=50) if run.full), None)


def _run_rule(service: Service, now: datetime) -> GateRule:
    max_age = timedelta(days=settings.PREFLIGHT_GATE_RUN_MAX_AGE_DAYS)
    run = latest_full_run(service)
    if run is None:
        return GateRule("full_run", False, "no full validation run has finished yet")
    if run.status != ValidationRun.Status.PASSED:
        return GateRule("full_run", False, f"the latest full run #{run.pk} {run.status}")
    finished = run.finished_at or run.created_at
    if finished < now - max_age:
        return GateRule(
            "full_run",
            False,
            f"the latest full run #{run.pk} is older than {max_age.days} days",
        )
    return GateRule("full_run", True, f"full run #{run.pk} passed on {finished:%Y-%m-%d}")


def drill_results(service: Service, keys: list[str]) -> dict[str, CheckResult | None]:
    latest: dict[str, CheckResult | None] = dict.fromkeys(keys)
    for result in (
        CheckResult.objects.filter(run__service=service, key__in=keys)
        .order_by("-id")
        .iterator(chunk_size=200)
    ):
        if latest[result.key] is None:
            latest[result.key] = result
        if all(latest.values()):
            break
    return latest


def _drill_rule(service: Service, keys: list[str], now: datetime) -> GateRule:
    if not keys:
        return GateRule("drills", True, "no drill check is registered: nothing to require")
    max_age = drill_window()
    missing = [
        key
        for key, result in drill_results(service, keys).items()
        if result is None
        or result.status != CheckResult.Status.PASS
        or result.created_at < now - max_age
    ]
    if missing:
        return GateRule(
            "drills",
            False,
            f"not passed within {max_age.days} days: {_named(missing)}",
        )
    return GateRule("drills", True, f"{len(keys)} drill(s) passed within {max_age.days} days")


def compute_gate(service: Service, *, now: datetime | None = None) -> Gate:
    now = now or timezone.now()
    states = list(item_states(service))
    keys = drill_keys()
    return Gate(
        rules=[
            _blocking_rule(states, now),
            _failing_rule(states),
            _run_rule(service, now),
            _drill_rule(service, keys, now),
        ],
        drill_keys=keys,
        computed_at=now,
    )
