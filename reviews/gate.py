"""The launch gate, computed live from the checklist, the runs and the drills.

The gate is a list of small rule functions (``RULE_FUNCTIONS``), each given the same
``GateContext`` and answering a ``GateRule``: passed or not, a one-line reason, and the
*findings* behind it. A finding names one subject — an item, a check, or the run itself —
with its status now (``open``, ``failing``, ``skip``, ``fail``...). Exemptions name subjects
(items and check keys) as they were when granted, so the launch answer (reviews.selectors)
and the invalidation of approvals (reviews.services) compare findings with exemptions
subject by subject: an exemption never excuses a rule wholesale.

Rules:

- ``blocking_items``: every blocking item is done (or not applicable) and not stale;
- ``no_failing_items``: no item of the checklist is failing;
- ``full_run``: a full validation run finished within PREFLIGHT_GATE_RUN_MAX_AGE_DAYS (a
  finding about the run itself cannot be exempted, only fixed by running one), and no
  check's latest result since then failed or errored (a re-run that passes clears one);
- ``verifying_checks``: every check mapped with role ``verifies`` to a blocking item ran and
  passed (latest result, within the run window; drills within the drill window). A skip is
  not a pass: the gate lists skipped checks with the setting each needs;
- ``drills``: every drill check (``checks.selectors.drill_keys``) passed within
  PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS. With no drill registered the rule holds vacuously;
- ``required_level``: the service reaches the level its tier requires on each checklist it
  carries (``[tier_levels]`` of the template file; portal.levels), naming each missing item. Its
  findings are items, like ``blocking_items``'; a launch request justifies here only what no
  other failing rule names (:func:`to_justify`).

Every rule reads the items of every checklist the service carries (its own template and those
that apply by themselves: portal.selectors.service_templates). An item whose
``effective_from`` is still ahead is *upcoming*: no rule counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from checks.models import CheckResult, ValidationRun
from checks.selectors import (
    drill_keys,
    drill_window,
    latest_full_run,
    latest_results,
    run_window,
    skip_setting,
)
from portal.levels import levels_from_json, missing_for
from portal.models import ChecklistTemplate, ItemState, Service
from portal.selectors import all_item_states, level_items, service_templates

ITEM, CHECK, RUN = "item", "check", "run"
_LISTED = 8  # subjects named in a reason before "and N more"

# How bad a subject's status is. An exemption granted for a subject in one status covers it
# in that status or a better one, never a worse one (an open item that starts failing, a
# skipped check that starts failing, is a new regression).
SEVERITY: dict[str, dict[str, int]] = {
    ITEM: {"stale": 1, "expired": 1, "open": 2, "failing": 3},
    CHECK: {"stale": 1, "missing": 1, "skip": 1, "error": 2, "fail": 3},
}


@dataclass(frozen=True)
class Finding:
    """One reason the gate fails: ``kind`` item / check / run, the subject's ``key`` and its
    ``status`` now. A skipped check carries the profile ``setting`` it needs; a check found
    by ``verifying_checks`` lists the blocking ``items`` it verifies."""

    kind: str
    key: str
    status: str
    reason: str
    setting: str = ""
    items: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def exemptable(self) -> bool:
        return self.kind in (ITEM, CHECK)

    @property
    def severity(self) -> int:
        return SEVERITY.get(self.kind, {}).get(self.status, 99)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "status": self.status,
            "reason": self.reason,
            "setting": self.setting or None,
            "items": list(self.items),
        }


@dataclass(frozen=True)
class GateRule:
    key: str
    passed: bool
    reason: str
    findings: tuple[Finding, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "passed": self.passed,
            "reason": self.reason,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class Gate:
    rules: list[GateRule]
    drill_keys: list[str] = field(default_factory=list)
    computed_at: datetime | None = None
    full_run: ValidationRun | None = None

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    @property
    def failing(self) -> list[GateRule]:
        return [rule for rule in self.rules if not rule.passed]

    @property
    def findings(self) -> list[Finding]:
        """Every finding once per subject, at its worst status, in rule order."""
        worst: dict[str, Finding] = {}
        for rule in self.rules:
            for finding in rule.findings:
                known = worst.get(finding.subject)
                if known is None or finding.severity > known.severity:
                    worst[finding.subject] = finding
        return list(worst.values())

    @property
    def skipped(self) -> list[Finding]:
        """Checks that verify a blocking item and were skipped: what the team must configure
        (or have exempted by name)."""
        rule = next((r for r in self.rules if r.key == "verifying_checks"), None)
        return [f for f in (rule.findings if rule else ()) if f.status == "skip"]

    def as_dict(self) -> dict[str, Any]:
        run = self.full_run
        return {
            "passed": self.passed,
            "rules": [rule.as_dict() for rule in self.rules],
            "drill_keys": self.drill_keys,
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "full_run": (
                {"id": run.pk, "verdict": run.verdict, "counts": run.counts} if run else None
            ),
            "skipped": [f.as_dict() for f in self.skipped],
        }


@dataclass
class GateContext:
    """What every rule reads, loaded once per gate computation."""

    service: Service
    now: datetime
    states: list[ItemState]
    drill_keys: list[str]
    full_run: ValidationRun | None
    results: dict[str, CheckResult]  # latest result per check key
    upcoming: list[ItemState] = field(default_factory=list)  # not counted yet (effective_from)
    templates: list[ChecklistTemplate] = field(default_factory=list)  # every checklist it carries


def named(keys: Iterable[str]) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _rule(key: str, findings: list[Finding], fails: str, holds: str) -> GateRule:
    if findings:
        return GateRule(key, False, fails, tuple(findings))
    return GateRule(key, True, holds)


def _day(value: datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d}"


# --- the rules ----------------------------------------------------------------------------


def blocking_items(ctx: GateContext) -> GateRule:
    findings = []
    for state in ctx.states:
        assert state.item is not None
        if not state.item.blocking:
            continue
        expired = (
            state.state == ItemState.State.DONE
            and state.expires_at is not None
            and state.expires_at < ctx.now
        )
        if state.complete and not expired:
            continue
        status = "expired" if expired else str(state.state)
        if status == ItemState.State.DONE:  # pragma: no cover - complete and not expired
            continue
        findings.append(Finding(ITEM, state.item_key, status, f"{state.item_key} is {status}"))
    return _rule(
        "blocking_items",
        findings,
        f"{len(findings)} blocking item(s) not done: {named(f.key for f in findings)}",
        "every blocking item is done or not applicable",
    )


def no_failing_items(ctx: GateContext) -> GateRule:
    findings = [
        Finding(
            ITEM,
            s.item_key,
            "failing",
            f"{s.item_key} is failing"
            + (f" ({named(s.failing_checks)})" if s.failing_checks else ""),
        )
        for s in ctx.states
        if s.state == ItemState.State.FAILING
    ]
    return _rule(
        "no_failing_items",
        findings,
        f"failing: {named(f.key for f in findings)}",
        "no item is failing",
    )


def full_run(ctx: GateContext) -> GateRule:
    """A recent full run, and nothing in it — or run since — that fails or errors now. What
    concerns the run itself cannot be exempted; a failing check can, by its key."""
    run = ctx.full_run
    window = run_window()
    if run is None:
        finding = Finding(RUN, "full_run", "missing", "no full validation run has finished yet")
        return GateRule("full_run", False, finding.reason, (finding,))
    finished = run.finished_at or run.created_at
    if finished < ctx.now - window:
        reason = f"the latest full run #{run.pk} is older than {window.days} days"
        return GateRule("full_run", False, reason, (Finding(RUN, str(run.pk), "stale", reason),))
    if not run.counts["total"]:
        reason = f"the latest full run #{run.pk} recorded no result ({run.verdict})"
        return GateRule("full_run", False, reason, (Finding(RUN, str(run.pk), run.status, reason),))
    findings = [
        Finding(
            CHECK,
            key,
            str(result.status),
            f"{key} {'failed' if result.status == 'fail' else 'errored'} in run "
            f"#{result.run_id}: {result.summary}",
        )
        for key, result in sorted(ctx.results.items())
        if result.run_id >= run.pk
        and result.status in (CheckResult.Status.FAIL, CheckResult.Status.ERROR)
    ]
    summary = f"full run #{run.pk} on {_day(finished)}: {run.verdict}"
    if findings:
        return GateRule(
            "full_run",
            False,
            f"{summary}; failing or undecided now: {named(f.key for f in findings)}",
            tuple(findings),
        )
    return GateRule("full_run", True, summary)


def _check_finding(
    key: str, result: CheckResult | None, window: timedelta, now: datetime, items: tuple[str, ...]
) -> Finding | None:
    """Why ``key`` does not count as passed now, or None when it does."""
    if result is None:
        return Finding(CHECK, key, "missing", f"{key} never ran", items=items)
    at = f"run #{result.run_id}"
    if result.status == CheckResult.Status.PASS:
        if result.created_at >= now - window:
            return None
        return Finding(
            CHECK,
            key,
            "stale",
            f"{key} last passed on {_day(result.created_at)} ({at}), more than "
            f"{window.days} days ago",
            items=items,
        )
    if result.status == CheckResult.Status.SKIP:
        setting = skip_setting(result)
        why = f"needs setting {setting}" if setting else result.summary
        return Finding(
            CHECK, key, "skip", f"{key} skipped in {at}: {why}", setting=setting, items=items
        )
    verb = "failed" if result.status == CheckResult.Status.FAIL else "errored"
    return Finding(
        CHECK, key, str(result.status), f"{key} {verb} in {at}: {result.summary}", items=items
    )


def verifying_checks(ctx: GateContext) -> GateRule:
    verified_by: dict[str, list[str]] = {}
    for state in ctx.states:
        assert state.item is not None
        if state.item.blocking:
            for key in state.item.verify_keys:
                verified_by.setdefault(key, []).append(state.item_key)
    drills = set(ctx.drill_keys)
    findings = []
    for key, items in verified_by.items():
        window = drill_window() if key in drills else run_window()
        finding = _check_finding(key, ctx.results.get(key), window, ctx.now, tuple(items))
        if finding is not None:
            findings.append(finding)
    skipped = [f for f in findings if f.status == "skip"]
    reason = f"{len(findings)} of {len(verified_by)} check(s) verifying blocking items did not pass"
    if skipped:
        reason += f" ({len(skipped)} skipped: not configured or not applicable)"
    reason += f": {named(f.key for f in findings)}"
    return _rule(
        "verifying_checks",
        findings,
        reason,
        f"all {len(verified_by)} check(s) verifying blocking items passed",
    )


def drills(ctx: GateContext) -> GateRule:
    if not ctx.drill_keys:
        return GateRule("drills", True, "no drill check is registered: nothing to require")
    window = drill_window()
    findings = [
        finding
        for key in ctx.drill_keys
        if (finding := _check_finding(key, ctx.results.get(key), window, ctx.now, ())) is not None
    ]
    return _rule(
        "drills",
        findings,
        f"not passed within {window.days} days: {named(f.key for f in findings)}",
        f"{len(ctx.drill_keys)} drill(s) passed within {window.days} days",
    )


def required_level(ctx: GateContext) -> GateRule:
    """On each checklist the service carries, the level its tier requires."""
    tier = ctx.service.tier
    by_template: dict[int, list[ItemState]] = {}
    for state in [*ctx.states, *ctx.upcoming]:
        assert state.item is not None
        by_template.setdefault(state.item.template_id, []).append(state)
    findings: list[Finding] = []
    wanted: list[str] = []
    for template in ctx.templates:
        required = template.tier_levels.get(str(tier), "")
        levels = levels_from_json(template.levels)
        level = next((lv for lv in levels if lv.key == required), None)
        if level is None:
            continue
        items = level_items(by_template.get(template.pk, []), now=ctx.now)
        missing = missing_for(levels, items, required, today=timezone.localdate(ctx.now))
        on = f" on {template.key}" if len(ctx.templates) > 1 else ""
        wanted.append(f"{level.name}{on}")
        findings += [
            Finding(ITEM, m.key, m.status, f"{m.key} is {m.status} (needed for {m.level}{on})")
            for m in missing
        ]
    if not wanted:
        return GateRule("required_level", True, f"no level is required of tier {tier}")
    return _rule(
        "required_level",
        findings,
        f"tier {tier} requires level {', '.join(wanted)}; {len(findings)} item(s) missing: "
        f"{named(f.key for f in findings)}",
        f"tier {tier} requires level {', '.join(wanted)}: reached",
    )


RuleFunction = Callable[[GateContext], GateRule]

RULE_FUNCTIONS: list[tuple[str, RuleFunction]] = [
    ("blocking_items", blocking_items),
    ("no_failing_items", no_failing_items),
    ("full_run", full_run),
    ("verifying_checks", verifying_checks),
    ("drills", drills),
    ("required_level", required_level),
]
# Rules whose findings repeat subjects other rules name: a launch request justifies them only
# for what no other failing rule names.
FOLLOWERS = frozenset({"required_level"})


def to_justify(gate: Gate, open_subjects: set[str]) -> dict[str, list[Finding]]:
    """Per failing rule, the findings a launch request must justify: those in
    ``open_subjects`` (not covered already), a follower's only where no other rule names
    them."""
    elsewhere = {
        f.subject for rule in gate.failing if rule.key not in FOLLOWERS for f in rule.findings
    }
    out: dict[str, list[Finding]] = {}
    for rule in gate.failing:
        findings = [
            f
            for f in rule.findings
            if f.subject in open_subjects
            and (rule.key not in FOLLOWERS or f.subject not in elsewhere)
        ]
        if findings:
            out[rule.key] = findings
    return out


RULES = tuple(key for key, _ in RULE_FUNCTIONS)


def gate_context(service: Service, *, now: datetime | None = None) -> GateContext:
    now = now or timezone.now()
    today = timezone.localdate(now)
    states: list[ItemState] = []
    upcoming: list[ItemState] = []
    templates = service_templates(service)
    for state in all_item_states(service):
        assert state.item is not None
        ahead = state.item.effective_from is not None and state.item.effective_from > today
        (upcoming if ahead else states).append(state)
    return GateContext(
        service=service,
        now=now,
        states=states,
        upcoming=upcoming,
        templates=templates,
        drill_keys=drill_keys(),
        full_run=latest_full_run(service),
        results=latest_results(service),
    )


def compute_gate(service: Service, *, now: datetime | None = None) -> Gate:
    ctx = gate_context(service, now=now)
    return Gate(
        rules=[rule(ctx) for _key, rule in RULE_FUNCTIONS],
        drill_keys=ctx.drill_keys,
        computed_at=ctx.now,
        full_run=ctx.full_run,
    )


def drill_results(service: Service, keys: list[str]) -> dict[str, CheckResult | None]:
    """The latest result of each drill key (None when it never ran): the snapshot's drills."""
    latest = latest_results(service, keys)
    return {key: latest.get(key) for key in keys}
