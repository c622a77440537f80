from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, QuerySet

from checks.catalog import REGISTRY
from checks.catalog.hints import hint
from checks.engine import DestinationPolicy
from checks.engine.registry import STEPS
from checks.models import CheckResult, DiscoveryJob, StagingProfile, ValidationRun
from portal.models import (
    ChecklistTemplate,
    ItemState,
    Membership,
    RunbookStep,
    Service,
    Team,
    TemplateItem,
)
from portal.templates_io import DEFAULT_TEMPLATE

DEFAULT_TEMPLATE_KEY = DEFAULT_TEMPLATE.parent.name  # checklists/<key>/vN.toml


def outbound_policy() -> DestinationPolicy:
    """Where checks, hooks, webhooks and the remote launch gate may send requests (the
    guarded client enforces it): the deployment's allowlist."""
    return DestinationPolicy(
        allow=settings.PREFLIGHT_OUTBOUND_ALLOWLIST,
        allow_local_repos=settings.PREFLIGHT_ALLOW_LOCAL_REPOS,
    )


def recent_runs(service: Service, limit: int = 5) -> list[ValidationRun]:
    return list(ValidationRun.objects.filter(service=service).order_by("-id")[:limit])


def run_history(service: Service, limit: int = 100) -> QuerySet[ValidationRun]:
    return ValidationRun.objects.filter(service=service).select_related("triggered_by")[:limit]


def run_results(run: ValidationRun) -> list[CheckResult]:
    return list(run.results.order_by("id"))


def run_progress(run: ValidationRun) -> str:
    """What a run page has shown of ``run``: its status and how many results it had. Each
    result moves a counter in the same transaction that stores it, so the mark changes
    exactly when there is something new to show (read from the run row alone)."""
    return f"{run.status}-{run.counts['total']}"


def skip_setting(result: CheckResult) -> str:
    """The profile setting a skipped check lacks (evidence key ``setting``), or ""."""
    evidence = result.evidence if isinstance(result.evidence, dict) else {}
    setting = evidence.get("setting")
    return setting if isinstance(setting, str) else ""


@dataclass(frozen=True)
class Skipped:
    key: str
    setting: str  # "" when the check did not apply rather than lacked a setting
    summary: str


@dataclass(frozen=True)
class RunCoverage:
    """What a run verified: its counts, its verdict in words and what it skipped (with the
    setting each skipped check needs). For the run page, the API and the dashboards."""

    run: ValidationRun
    counts: dict[str, int]
    verdict: str
    skipped: list[Skipped]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "verdict": self.verdict,
            "skipped": [
                {"key": s.key, "setting": s.setting or None, "summary": s.summary}
                for s in self.skipped
            ],
        }


def run_coverage(run: ValidationRun) -> RunCoverage:
    skipped = [
        Skipped(result.key, skip_setting(result), result.summary)
        for result in run.results.filter(status=CheckResult.Status.SKIP).order_by("key")
    ]
    return RunCoverage(run=run, counts=run.counts, verdict=run.verdict, skipped=skipped)


@dataclass(frozen=True)
class MappedItem:
    key: str
    title: str
    role: str  # "verifies" (the check proves the item) or "supports" (evidence only)
    blocking: bool


def items_by_check(service: Service) -> dict[str, list[MappedItem]]:
    """Check key -> the items of the service's checklist it is mapped to, with the role of
    each mapping (the run page links each result to the items it verifies or supports)."""
    mapped: dict[str, list[MappedItem]] = {}
    for item in TemplateItem.objects.filter(template_id=service.template_id).order_by(
        "section__position", "position"
    ):
        for key in item.check_keys:
            role = "verifies" if key in item.verify_keys else "supports"
            mapped.setdefault(key, []).append(MappedItem(item.key, item.title, role, item.blocking))
    return mapped


# --- the run page: results grouped by runbook step, failures first ----------------------------

# Results in a group: what needs acting on first.
STATUS_ORDER = {"fail": 0, "error": 1, "skip": 2, "pass": 3}
# Checks no runbook step lists are grouped by the engine's step, under these titles.
OTHER_GROUPS = {
    "http": "Checklist items verified over HTTP",
    "db": "Checklist items verified in the database",
    "repo": "Checklist items verified in the repository",
}
_COUNT_WORDS = {"pass": "passed", "fail": "failed", "skip": "skipped", "error": "errored"}


@dataclass(frozen=True)
class ItemLink:
    key: str
    title: str
    role: str  # "verifies" or "supports"
    blocking: bool
    anchor: str  # the item's row on the service page ("item-<state id>"), or ""


@dataclass(frozen=True)
class ResultRow:
    result: CheckResult
    title: str  # the check's title from the catalog ("" for a key it no longer has)
    hint: str  # what to fix, shown for fail and error (checks/catalog/hints.py)
    items: list[ItemLink]  # verifying items first

    @property
    def setting(self) -> str:
        """The profile setting a skipped check lacks ("" otherwise)."""
        return skip_setting(self.result) if self.result.status == "skip" else ""

    @property
    def verifies(self) -> list[ItemLink]:
        return [i for i in self.items if i.role == "verifies"]

    @property
    def supports(self) -> list[ItemLink]:
        return [i for i in self.items if i.role != "verifies"]


@dataclass
class ResultGroup:
    key: str
    title: str  # "2. Smoke tests" for a runbook step
    rows: list[ResultRow]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(_COUNT_WORDS.values(), 0)
        for row in self.rows:
            word = _COUNT_WORDS.get(row.result.status)
            if word:
                counts[word] += 1
        return counts

    @property
    def needs_action(self) -> bool:
        return any(row.result.status in ("fail", "error") for row in self.rows)


def _item_links(service: Service) -> dict[str, list[ItemLink]]:
    anchors = dict(
        ItemState.objects.filter(
            service=service, item__template_id=service.template_id
        ).values_list("item_key", "pk")
    )
    return {
        key: sorted(
            (
                ItemLink(
                    m.key,
                    m.title,
                    m.role,
                    m.blocking,
                    f"item-{anchors[m.key]}" if m.key in anchors else "",
                )
                for m in mapped
            ),
            key=lambda link: link.role != "verifies",
        )
        for key, mapped in items_by_check(service).items()
    }


def run_groups(run: ValidationRun, results: list[CheckResult] | None = None) -> list[ResultGroup]:
    """A run's results grouped by the runbook step of the service's template that lists each
    check (checks no step lists: by where they are verified, HTTP, database, repository), each
    result with its fix hint and the checklist items it verifies or supports. Groups with a
    failure or error come first, then runbook order; in a group: failed, errored, skipped,
    passed, then catalog order."""
    results = run_results(run) if results is None else results
    steps = list(RunbookStep.objects.filter(template_id=run.service.template_id).order_by("step"))
    step_of: dict[str, RunbookStep] = {}
    for runbook_step in steps:
        for key in runbook_step.check_keys:
            step_of.setdefault(key, runbook_step)
    links = _item_links(run.service)
    order = {key: i for i, key in enumerate(REGISTRY)}
    groups: dict[str, ResultGroup] = {}
    position: dict[str, int] = {}
    for result in results:
        spec = REGISTRY.get(result.key)
        step = step_of.get(result.key)
        if step is not None:
            gkey, title, pos = f"step-{step.step}", f"{step.step}. {step.title}", step.step
        elif spec is not None and spec.step in OTHER_GROUPS:
            gkey, title = spec.step, OTHER_GROUPS[spec.step]
            pos = 100 + list(OTHER_GROUPS).index(spec.step)
        else:
            gkey, title, pos = "other", "Other checks", 200
        group = groups.setdefault(gkey, ResultGroup(gkey, title, []))
        position[gkey] = pos
        group.rows.append(
            ResultRow(
                result=result,
                title=spec.title if spec else "",
                hint=hint(result.key),
                items=links.get(result.key, []),
            )
        )
    for group in groups.values():
        group.rows.sort(
            key=lambda r: (STATUS_ORDER.get(r.result.status, 9), order.get(r.result.key, 999))
        )
    return sorted(groups.values(), key=lambda g: (not g.needs_action, position[g.key]))


def latest_results(service: Service, keys: list[str] | None = None) -> dict[str, CheckResult]:
    """The latest result of each check key (or of ``keys``) in the service's finished runs,
    re-runs and partial runs included; keys never run are absent. Two queries, whatever the
    history's length (the newest id per key, then those rows)."""
    qs = CheckResult.objects.filter(run__service=service, run__status__in=ValidationRun.FINISHED)
    if keys is not None:
        qs = qs.filter(key__in=keys)
    newest = qs.values("key").annotate(newest=Max("id")).values_list("newest", flat=True)
    rows = CheckResult.objects.filter(pk__in=list(newest)).select_related("run")
    return {row.key: row for row in rows}


def latest_full_run(service: Service) -> ValidationRun | None:
    """The latest finished full validation (every registered check was asked for)."""
    runs = (
        ValidationRun.objects.filter(service=service, status__in=ValidationRun.FINISHED)
        .exclude(trigger=ValidationRun.Trigger.RERUN)
        .order_by("-id")
    )
    return next((run for run in runs.iterator(chunk_size=50) if run.full), None)


def run_window() -> timedelta:
    """How recent the full run (and a gating check's pass) must be
    (PREFLIGHT_GATE_RUN_MAX_AGE_DAYS)."""
    return timedelta(days=settings.PREFLIGHT_GATE_RUN_MAX_AGE_DAYS)


def available_steps() -> list[tuple[str, int]]:
    """Steps that have at least one registered check, with how many."""
    counts = {step: 0 for step in STEPS}
    for spec in REGISTRY.values():
        counts[spec.step] += 1
    return [(step, n) for step, n in counts.items() if n]


def check_keys() -> list[str]:
    """Every registered check key, in registry order."""
    return list(REGISTRY)


def keys_of_kind(kind: str) -> list[str]:
    """Registered check keys of one kind (CheckSpec.kind), in registry order."""
    return [key for key, spec in REGISTRY.items() if spec.kind == kind]


def drill_keys() -> list[str]:
    """The drills: the checks that disturb the service on purpose (load, outages, alerts, a
    canary). The launch gate requires each to have passed within ``drill_window()``."""
    return keys_of_kind("drill")


def drill_window() -> timedelta:
    """How recent a drill's pass must be (PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS)."""
    return timedelta(days=settings.PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS)


def load_curve(key: str, evidence: Any) -> dict[str, Any] | None:
    """A load test's rate and latency over time, for the chart (None for other checks).
    The per-second samples are evidence key ``samples`` (check-catalog.md)."""
    samples = evidence.get("samples") if isinstance(evidence, dict) else None
    if key != "load.target_rps" or not isinstance(samples, list) or not samples:
        return None
    rows = [row for row in samples if isinstance(row, dict)]
    totals = evidence.get("totals") or {}
    return {
        "t": [row.get("t") for row in rows],
        "rps": [row.get("rps") for row in rows],
        "p50_ms": [row.get("p50_ms") for row in rows],
        "p95_ms": [row.get("p95_ms") for row in rows],
        "errors": [row.get("errors") for row in rows],
        "target_rps": totals.get("target_rps"),
        "offered_rps": totals.get("offered_rps"),
    }


def run_load_curve(run: ValidationRun) -> dict[str, Any] | None:
    result = run.results.filter(key="load.target_rps").first()
    return load_curve(result.key, result.evidence) if result else None


def profile_of(service: Service) -> StagingProfile | None:
    return StagingProfile.objects.filter(service=service).first()


# --- adding a service from its staging URL ---------------------------------------------------


def teams_for_new_service(user: Any) -> QuerySet[Team]:
    """The teams ``user`` may add a service to: the teams they belong to (their leads)."""
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user_id=user.pk).distinct().order_by("name")


def can_add_service_to(user: Any, team: Team) -> bool:
    return bool(user.is_authenticated) and (
        Membership.objects.filter(user_id=user.pk, team_id=team.pk).exists()
    )


def newest_templates() -> list[ChecklistTemplate]:
    """The newest version of each checklist template, the default template's first."""
    newest: dict[str, ChecklistTemplate] = {}
    for template in ChecklistTemplate.objects.order_by("key", "-version"):
        newest.setdefault(template.key, template)
    return sorted(newest.values(), key=lambda t: (t.key != DEFAULT_TEMPLATE_KEY, t.key))


def discovery_of(job_id: int) -> DiscoveryJob | None:
    jobs = DiscoveryJob.objects.select_related("team", "template", "service")
    return jobs.filter(pk=job_id).first()
