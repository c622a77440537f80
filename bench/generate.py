"""A large, realistic data set for the dashboards' benchmarks: teams, services, a year of
checklist history (hash-chained audit events), validation runs and about a million check
results, written with multi-row inserts in a few transactions.

Rows get explicit ids so results can point at runs without reading them back; PostgreSQL
sequences are reset afterwards. The audit chain is computed with ``portal.audit``'s own
content and hash functions under the newest audit key, in the order of the ids, so
``manage.py verify_audit`` passes on the result."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_create
from checks.catalog import REGISTRY
from checks.models import CheckResult, ValidationRun
from checks.selectors import keys_of_kind
from dashboards.models import CheckStatus
from dashboards.selectors.common import LOAD_KEY, launch_review_model
from dashboards.summary import summarise
from portal import audit, services
from portal.actors import SYSTEM_ACTOR_NAME
from portal.models import AuditEvent, ChecklistTemplate, ItemState, Membership, Service, Team
from portal.templates_io import DEFAULT_TEMPLATE, load_template_file

LOAD_KEYS = [k for k in keys_of_kind("drill") if k.startswith("load.")]
DRILL_KEYS = [k for k in keys_of_kind("drill") if k not in LOAD_KEYS]
# Every other check in the catalog runs in every generated run; load tests in half of them
# and the other drills in a quarter.
HTTP_KEYS = [k for k in REGISTRY if k not in LOAD_KEYS and k not in DRILL_KEYS]
# Results per service per year: 1,000 services make about a million, however many checks
# the catalog has (runs are spaced accordingly).
RESULTS_PER_SERVICE_YEAR = 1000
FLUSH_RESULTS = 50_000
TEAM_WORDS = [
    "payments",
    "search",
    "checkout",
    "identity",
    "catalog",
    "pricing",
    "ledger",
    "billing",
    "messaging",
    "growth",
    "platform",
    "mobile",
    "data",
    "risk",
    "fraud",
    "shipping",
    "inventory",
    "support",
    "media",
    "ads",
    "maps",
    "reviews",
    "loyalty",
    "partners",
    "onboarding",
    "notifications",
    "reporting",
    "compliance",
    "infra",
    "edge",
]
NOUNS = [
    "api",
    "gateway",
    "worker",
    "sync",
    "store",
    "index",
    "feed",
    "router",
    "engine",
    "hub",
    "ledger",
    "vault",
]


@dataclass
class Report:
    teams: int = 0
    services: int = 0
    runs: int = 0
    results: int = 0
    audit_events: int = 0
    launch_reviews: int = 0
    campaigns: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _adapt(model: type[models.Model], names: Sequence[str]) -> list[Callable[[Any], Any]]:
    ops = connection.ops
    out: list[Callable[[Any], Any]] = []
    for name in names:
        f = model._meta.get_field(name)
        if isinstance(f, models.JSONField):
            out.append(lambda v: ops.adapt_json_value(v, None))
        elif isinstance(f, models.DateTimeField):
            out.append(ops.adapt_datetimefield_value)
        elif isinstance(f, models.DateField):
            out.append(ops.adapt_datefield_value)
        else:
            out.append(lambda v: v)
    return out


def insert(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Multi-row INSERT of plain tuples (column names are field names or attnames)."""
    fields = [_field_name(model, n) for n in names]
    columns = [cast(models.Field, model._meta.get_field(n)).column for n in fields]
    adapters = _adapt(model, fields)
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608
    batch = [tuple(a(v) for a, v in zip(adapters, row, strict=True)) for row in rows]
    if batch:
        with connection.cursor() as cursor:
            cursor.executemany(sql, batch)
    return len(batch)


def _field_name(model: type[models.Model], name: str) -> str:
    """The field behind a column name: ``service_id`` is the ``service`` relation, while
    ``key_id`` is a field of its own."""
    try:
        return model._meta.get_field(name).name
    except FieldDoesNotExist:
        return name.removesuffix("_id")


def _next_id(model: type[models.Model]) -> int:
    return (model._default_manager.aggregate(m=Max("id"))["m"] or 0) + 1


class _Ids:
    def __init__(self, model: type[models.Model]) -> None:
        self.next = _next_id(model)

    def take(self) -> int:
        self.next += 1
        return self.next - 1


@dataclass
class _Sim:
    """One service's simulated year."""

    rng: random.Random
    now: datetime
    created: datetime
    maturity: float  # 0..1: how far along and how reliable the service is

    def item_events(self, item: dict[str, Any]) -> list[tuple[datetime, str, str, str]]:
        """(when, action, from, to) for one checklist item, oldest first."""
        rng = self.rng
        events: list[tuple[datetime, str, str, str]] = []
        span = (self.now - self.created).total_seconds()
        if rng.random() > 0.35 + 0.65 * self.maturity:
            return events
        at = self.created + timedelta(seconds=span * rng.uniform(0.02, 0.6) * (1.1 - self.maturity))
        if not item["blocking"] and rng.random() < 0.15:
            return [(at, AuditEvent.Action.NOT_APPLICABLE, "open", "na")]
        state = "open"
        action = AuditEvent.Action.VERIFIED if item["check_keys"] else AuditEvent.Action.TICK
        events.append((at, action, state, "done"))
        state = "done"
        valid = timedelta(days=item["valid_days"])
        while at < self.now:
            step = valid * rng.uniform(0.5, 0.85)
            nxt = at + step
            if nxt >= self.now:
                if at + valid < self.now:
                    events.append((at + valid, AuditEvent.Action.STALE, state, "stale"))
                break
            roll = rng.random()
            if roll < 0.08 * (1.2 - self.maturity) and item["check_keys"]:
                events.append((nxt, AuditEvent.Action.FAILED, state, "failing"))
                state = "failing"
                if rng.random() < 0.3 + 0.6 * self.maturity:
                    fix = nxt + timedelta(days=rng.uniform(1, 10))
                    if fix < self.now:
                        events.append((fix, AuditEvent.Action.VERIFIED, state, "done"))
                        state, at = "done", fix
                        continue
                break
            if roll > 0.97 - 0.1 * (1 - self.maturity):
                events.append((at + valid, AuditEvent.Action.STALE, state, "stale"))
                break
            events.append((nxt, action, state, "done"))
            at = nxt
        return [e for e in events if e[0] < self.now]

    def runs(self) -> Iterable[datetime]:
        per_run = len(HTTP_KEYS) + 0.5 * len(LOAD_KEYS) + 0.25 * len(DRILL_KEYS)
        every = 365 / (RESULTS_PER_SERVICE_YEAR / per_run)
        at = self.created + timedelta(days=self.rng.uniform(0.1, every))
        while at < self.now - timedelta(minutes=30):
            yield at
            at += timedelta(days=every * self.rng.uniform(0.6, 1.4))


def _status(rng: random.Random, fail_p: float) -> str:
    roll = rng.random()
    if roll < fail_p:
        return "fail"
    if roll < fail_p * 1.25:
        return "error"
    return "pass"


def _load_evidence(rng: random.Random, maturity: float) -> dict[str, Any]:
    target = rng.choice([50, 100, 200, 400])
    rps = round(target * rng.uniform(0.75 + 0.2 * maturity, 1.02), 1)
    p50 = round(rng.uniform(8, 40) * (1.5 - maturity), 1)
    p95, p99 = round(p50 * rng.uniform(2, 4), 1), 0.0
    p99 = round(p95 * rng.uniform(1.2, 2), 1)
    requests = int(rps * 30)
    samples = [
        {
            "t": t,
            "rps": round(rps * rng.uniform(0.9, 1.1), 1),
            "p50_ms": p50,
            "p95_ms": round(p95 * rng.uniform(0.8, 1.2), 1),
            "errors": rng.randint(0, 2),
        }
        for t in range(0, 30, 3)
    ]
    return {
        "totals": {
            "requests": requests,
            "failures": rng.randint(0, requests // 200),
            "rps": rps,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "target_rps": target,
            "offered_rps": target,
        },
        "samples": samples,
    }


def _drill_evidence(key: str, rng: random.Random, maturity: float) -> dict[str, Any]:
    if key == "chaos.db_readiness":
        return {
            "flip_s": round(rng.uniform(1, 9) * (1.3 - maturity), 2),
            "recovery_s": round(rng.uniform(2, 20), 2),
        }
    if key == "alerts.error_drill":
        return {
            "time_to_alert_s": round(rng.uniform(15, 150), 1),
            "time_to_resolve_s": round(rng.uniform(60, 400), 1),
        }
    if key == "rollout.canary_drill":
        return {
            "canary_share": round(rng.uniform(0.05, 0.25), 3),
            "rollback_s": round(rng.uniform(5, 60), 1),
        }
    return {"degraded_ok": rng.random() < 0.9}


def generate(
    *,
    services_n: int = 1000,
    teams_n: int = 30,
    days: int = 365,
    seed: int = 1,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> Report:
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    now = now or timezone.now()
    report = Report()
    template = ChecklistTemplate.objects.filter(key="fastapi-mongo").order_by("-version").first()
    if template is None:
        template = services.template_import(data=load_template_file(DEFAULT_TEMPLATE)).template
    items: list[dict[str, Any]] = [
        dict(i) for i in template.items.values("id", "key", "blocking", "valid_days", "check_keys")
    ]

    with transaction.atomic():
        teams, leads = _teams_and_leads(rng, teams_n, report)
        weights = [rng.uniform(0.3, 2.0) for _ in teams]
        svc_rows = []
        svc_ids = _Ids(Service)
        for n in range(services_n):
            team_index = rng.choices(range(len(teams)), weights)[0]
            word = rng.choice(NOUNS)
            created = now - timedelta(days=days * rng.uniform(0.9, 1.0))
            svc_rows.append(
                (
                    svc_ids.take(),
                    f"{teams[team_index].slug}-{word}-{n:04d}",
                    team_index,
                    rng.randint(1, 3),
                    created,
                    rng.random() ** 0.7,
                )
            )
        insert(
            Service,
            [
                "id",
                "name",
                "slug",
                "team_id",
                "tier",
                "lifecycle",
                "description",
                "repository_url",
                "staging_base_url",
                "template_id",
                "created_at",
            ],
            [
                (
                    sid,
                    name.replace("-", " ").title(),
                    name,
                    teams[ti].pk,
                    tier,
                    rng.choice(["development", "staging", "staging", "production"]),
                    "",
                    "",
                    "",
                    template.pk,
                    created,
                )
                for sid, name, ti, tier, created, _m in svc_rows
            ],
        )
        report.services = len(svc_rows)
        log(f"  {report.teams} teams, {report.services} services")

        audit_rows: list[tuple[Any, ...]] = []
        state_rows = []
        state_ids = _Ids(ItemState)
        for sid, slug, ti, _tier, created, maturity in svc_rows:
            team, lead = teams[ti], leads[ti]
            sim = _Sim(rng, now, created, maturity)
            audit_rows.append(
                (
                    created,
                    None,
                    SYSTEM_ACTOR_NAME,
                    AuditEvent.Action.SERVICE_CREATED,
                    sid,
                    slug,
                    team.slug,
                    "",
                    "",
                    "",
                    "",
                    {"template": str(template), "generated": True},
                )
            )
            for item in items:
                events = sim.item_events(item)
                final = events[-1] if events else None
                for at, action, before, after in events:
                    system = action in (
                        AuditEvent.Action.VERIFIED,
                        AuditEvent.Action.FAILED,
                        AuditEvent.Action.STALE,
                    )
                    audit_rows.append(
                        (
                            at,
                            None if system else lead.pk,
                            SYSTEM_ACTOR_NAME if system else lead.username,
                            action,
                            sid,
                            slug,
                            team.slug,
                            item["key"],
                            before,
                            after,
                            "generated",
                            {"generated": True},
                        )
                    )
                state = final[3] if final else "open"
                done_at = final[0] if final and state == "done" else None
                state_rows.append(
                    (
                        state_ids.take(),
                        sid,
                        item["id"],
                        item["key"],
                        state,
                        final[0] if final else None,
                        done_at,
                        done_at + timedelta(days=item["valid_days"]) if done_at else None,
                        len(events),
                    )
                )
        insert(
            ItemState,
            [
                "id",
                "service_id",
                "item_id",
                "item_key",
                "state",
                "note",
                "evidence_url",
                "updated_at",
                "verified_at",
                "expires_at",
                "version",
                "check_results",
                "exempt_checks",
            ],
            [
                (i, s, it, k, st, "", "", up, ver, exp, v, {}, [])
                for i, s, it, k, st, up, ver, exp, v in state_rows
            ],
        )
        log(f"  {len(state_rows)} item states")
        report.audit_events = _write_audit(audit_rows)
        log(f"  {report.audit_events} audit events (hash-chained)")

    _write_runs(rng, now, svc_rows, report, log)
    report.launch_reviews = _launch_reviews(rng, svc_rows, teams, leads, now, report)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(
            no_style(),
            [Team, User, Membership, Service, ItemState, AuditEvent, ValidationRun, CheckResult],
        ):
            cursor.execute(sql)
    written = AuditEvent.objects.count()
    report.campaigns = ensure_campaigns(leads[0], template.key, now)
    report.audit_events += AuditEvent.objects.count() - written  # campaign_created
    report.seconds = time.perf_counter() - started
    return report


def ensure_campaigns(owner: User, template_key: str, now: datetime) -> int:
    """Two campaigns for the dashboards to show (through campaigns.services: validated and
    audited): every tier-1 service at Silver, every tier-2 service at Bronze."""
    if Campaign.objects.exists():
        return Campaign.objects.count()
    template = ChecklistTemplate.objects.filter(key=template_key).order_by("-version").first()
    levels = {level["key"] for level in template.levels} if template else set()
    today = timezone.localdate(now)
    for tier, level in ((1, "silver"), (2, "bronze")):
        if level not in levels:
            continue
        campaign_create(
            name=f"Every tier-{tier} service at {level.capitalize()}",
            owner=owner,
            template_key=template_key,
            target_level=level,
            tiers=[tier],
            starts_on=today - timedelta(days=30),
            due_on=today + timedelta(days=30 * tier),
        )
    return Campaign.objects.count()


def _teams_and_leads(
    rng: random.Random, teams_n: int, report: Report
) -> tuple[list[Team], list[User]]:
    taken = set(Team.objects.values_list("slug", flat=True))
    teams, leads = [], []
    for n in range(teams_n):
        word = TEAM_WORDS[n % len(TEAM_WORDS)]
        slug = word if n < len(TEAM_WORDS) else f"{word}-{n}"
        while slug in taken:
            slug = f"{slug}-x"
        taken.add(slug)
        teams.append(Team(name=slug.replace("-", " ").title(), slug=slug))
    Team.objects.bulk_create(teams)
    teams = list(Team.objects.filter(slug__in=[t.slug for t in teams]).order_by("id"))
    users = [User(username=f"lead-{t.slug}", password="!generated") for t in teams]
    User.objects.bulk_create(users)
    by_name = {u.username: u for u in User.objects.filter(username__in=[u.username for u in users])}
    leads = [by_name[f"lead-{t.slug}"] for t in teams]
    Membership.objects.bulk_create(
        Membership(user=u, team=t) for u, t in zip(leads, teams, strict=True)
    )
    report.teams = len(teams)
    return teams, leads


def _write_audit(rows: list[tuple[Any, ...]]) -> int:
    """Chain the events in time order after the last existing one, as audit.record would:
    numbered on from the head and sealed with the newest audit key."""
    seq, prev = audit.head()
    seal = audit.signing_key()
    ids = _Ids(AuditEvent)
    rows.sort(key=lambda r: r[0])
    out = []
    for (
        at,
        actor_id,
        actor_name,
        action,
        sid,
        slug,
        team,
        key,
        before,
        after,
        note,
        payload,
    ) in rows:
        seq += 1
        content = audit.canonical_content(
            seq=seq,
            key_id=seal.id,
            created_at=at,
            actor_id=actor_id,
            actor_name=actor_name,
            action=action,
            service_id=sid,
            service_slug=slug,
            team_slug=team,
            item_key=key,
            from_state=before,
            to_state=after,
            note=note,
            evidence_url="",
            payload=payload,
        )
        digest = audit.chain_hash(content, prev, seal)
        out.append(
            (
                ids.take(),
                seq,
                seal.id,
                at,
                actor_id,
                actor_name,
                action,
                sid,
                slug,
                team,
                key,
                before,
                after,
                note,
                "",
                payload,
                prev,
                digest,
            )
        )
        prev = digest
    for start in range(0, len(out), FLUSH_RESULTS):
        insert(
            AuditEvent,
            [
                "id",
                "seq",
                "key_id",
                "created_at",
                "actor_id",
                "actor_name",
                "action",
                "service_id",
                "service_slug",
                "team_slug",
                "item_key",
                "from_state",
                "to_state",
                "note",
                "evidence_url",
                "payload",
                "prev_hash",
                "hash",
            ],
            out[start : start + FLUSH_RESULTS],
        )
    return len(out)


RUN_COLUMNS = [
    "id",
    "service_id",
    "status",
    "trigger",
    "steps",
    "keys",
    "complete_selection",
    "created_at",
    "dispatched_at",
    "dispatch_attempts",
    "started_at",
    "finished_at",
    "message",
    "pass_count",
    "fail_count",
    "error_count",
    "skip_count",
    "unconfigured_count",
    # Not null without a database default (the run lease, main 3f236e5): a finished run's.
    "claim_token",
    "executions",
    "target_host",
]
RESULT_COLUMNS = [
    "id",
    "run_id",
    "key",
    "status",
    "summary",
    "evidence",
    "duration_ms",
    "created_at",
]


def _write_runs(
    rng: random.Random,
    now: datetime,
    svc_rows: list[tuple[Any, ...]],
    report: Report,
    log: Callable[[str], None],
) -> None:
    run_ids, result_ids = _Ids(ValidationRun), _Ids(CheckResult)
    runs: list[tuple[Any, ...]] = []
    results: list[tuple[Any, ...]] = []
    summary_input: list[tuple[int, str, str, int, int, datetime]] = []
    skipped = {k for k in HTTP_KEYS if k.startswith("auth.")}

    def flush() -> None:
        with transaction.atomic():
            report.runs += insert(ValidationRun, RUN_COLUMNS, runs)
            report.results += insert(CheckResult, RESULT_COLUMNS, results)
        runs.clear()
        results.clear()
        log(f"  {report.runs} runs, {report.results} results")

    for sid, _slug, _ti, _tier, _created, maturity in svc_rows:
        sim = _Sim(rng, now, _created, maturity)
        fail_p = {k: rng.uniform(0, 0.25) * (1.1 - maturity) for k in HTTP_KEYS}
        no_auth = rng.random() < 0.3
        for at in sim.runs():
            rid = run_ids.take()
            keys = list(HTTP_KEYS)
            if rng.random() < 0.5:
                keys += LOAD_KEYS
            if rng.random() < 0.25:
                keys += list(DRILL_KEYS)
            statuses = []
            for n, key in enumerate(keys):
                at_k = at + timedelta(seconds=2 * n + 1)
                evidence: dict[str, Any] = {}
                if key in skipped and no_auth:
                    status = "skip"
                    evidence = {"setting": "auth.username"}
                elif key in fail_p:
                    status = _status(rng, fail_p[key])
                else:
                    status = _status(rng, 0.15 * (1.1 - maturity))
                    evidence = (
                        _load_evidence(rng, maturity)
                        if key == LOAD_KEY
                        else _drill_evidence(key, rng, maturity)
                    )
                statuses.append(status)
                res_id = result_ids.take()
                results.append(
                    (
                        res_id,
                        rid,
                        key,
                        status,
                        f"generated {status}",
                        evidence,
                        rng.randint(5, 900),
                        at_k,
                    )
                )
                summary_input.append((sid, key, status, res_id, rid, at_k))
            run_status = (
                "failed" if "fail" in statuses else "error" if "error" in statuses else "passed"
            )
            end = at + timedelta(seconds=2 * len(keys) + 2)
            runs.append(
                (
                    rid,
                    sid,
                    run_status,
                    rng.choice(["schedule", "schedule", "manual"]),
                    [],
                    keys,
                    True,
                    at,
                    at,
                    1,
                    at,
                    end,
                    "",
                    statuses.count("pass"),
                    statuses.count("fail"),
                    statuses.count("error"),
                    statuses.count("skip"),
                    statuses.count("skip"),  # every generated skip lacks auth.username
                    "",
                    1,
                    "",
                )
            )
        if len(results) >= FLUSH_RESULTS:
            flush()
    flush()
    rows = summarise(summary_input)
    CheckStatus.objects.filter(service_id__in=[r[0] for r in svc_rows]).delete()
    CheckStatus.objects.bulk_create(rows.values(), batch_size=5000)
    log(f"  {len(rows)} summary rows")


def _launch_reviews(
    rng: random.Random,
    svc_rows: list[tuple[Any, ...]],
    teams: list[Team],
    leads: list[User],
    now: datetime,
    report: Report,
) -> int:
    model = launch_review_model()
    if model is None:
        report.notes.append("reviews app not installed: no launch reviews generated")
        return 0
    picked = [r for r in svc_rows if rng.random() < 0.04]
    try:
        with transaction.atomic():
            objs = [
                model(
                    service_id=sid,
                    status="requested",
                    requested_by_id=leads[ti].pk,
                    target_date=(now + timedelta(days=rng.randint(3, 30))).date(),
                )
                for sid, _slug, ti, *_rest in picked
            ]
            model._default_manager.bulk_create(objs)
    except Exception as exc:  # the reviews model is another team's and may change shape
        report.notes.append(f"launch reviews not generated: {exc}")
        return 0
    return len(picked)
