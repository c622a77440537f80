"""Dashboard tables against small cases computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from dashboards.models import CheckStatus
from dashboards.selectors import common, portfolio
from dashboards.selectors import service as service_sel
from dashboards.selectors import team as team_sel
from dashboards.selectors.service import replay
from portal.models import ItemState
from tests.dashboards.conftest import make_run, make_service, set_states

pytestmark = pytest.mark.django_db


def test_heatmap_counts_complete_items_per_team_and_section(
    payments_services, other_team, template, lead
) -> None:
    alpha, _beta = payments_services
    make_service(other_team, template, "gamma")
    # alpha: 3 of 7 security items done (1 of them n/a); beta: none; gamma: all 6 data items.
    keys = list(
        ItemState.objects.filter(service=alpha, item__section__key="security")
        .order_by("item__position")
        .values_list("item_key", flat=True)
    )
    ItemState.objects.filter(service=alpha, item_key__in=keys[:2]).update(state="done")
    ItemState.objects.filter(service=alpha, item_key=keys[2]).update(state="na")
    ItemState.objects.filter(service=alpha, item_key=keys[3]).update(state="failing")
    ItemState.objects.filter(service__slug="gamma", item__section__key="data").update(state="done")

    rows = {(r["team"], r["section"]): r for r in portfolio.readiness_heatmap().records()}

    assert rows[("payments", "security")]["items"] == 14
    assert rows[("payments", "security")]["complete"] == 3
    assert rows[("payments", "security")]["pct"] == 21  # 3/14
    assert rows[("search", "data")]["pct"] == 100
    assert rows[("search", "security")]["pct"] == 0
    assert rows[("payments", "security")]["url"] == "/services/?team=payments&section=security"
    assert len(rows) == 2 * 7  # two teams x seven sections


def test_services_by_state_follows_the_documented_definitions(
    payments_services, other_team, template, lead
) -> None:
    alpha, _beta = payments_services
    gamma = make_service(other_team, template, "gamma")
    delta = make_service(other_team, template, "delta")
    set_states(alpha, "done")  # every item done: ready
    set_states(gamma, "done")
    ItemState.objects.filter(service=gamma).filter(item__blocking=True).filter(
        item_key__startswith="security."
    ).update(state="stale")  # stale (nothing failing)
    set_states(delta, "done")
    ItemState.objects.filter(service=delta, item_key__startswith="api.").update(state="failing")
    # beta: nothing done -> blocked (blocking items open)
    counts = {
        (r["team"], r["state"]): r["services"] for r in portfolio.services_by_state().records()
    }

    assert counts[("payments", "ready")] == 1
    assert counts[("payments", "blocked")] == 1
    assert counts[("search", "stale")] == 1
    assert counts[("search", "blocked")] == 1  # failing counts as blocked
    assert counts[("payments", "in_review")] == 0
    assert sum(counts.values()) == 4


@pytest.mark.skipif(not apps.is_installed("reviews"), reason="reviews app not installed yet")
def test_a_requested_launch_review_puts_a_service_in_review_and_in_flight(
    payments_services, lead
) -> None:
    alpha, _beta = payments_services
    set_states(alpha, "done")
    model = common.launch_review_model()
    assert model is not None
    model.objects.create(
        service=alpha, status="requested", requested_by=lead, target_date=date(2030, 1, 1)
    )
    states = {s.slug: s.state for s in common.readiness_by_service(common.Q())}
    assert states == {"alpha": "in_review", "beta": "blocked"}
    launches = portfolio.launches_in_flight().records()
    assert [r["service"] for r in launches] == ["alpha"]


def test_failing_checks_use_each_services_latest_result(payments_services, other_team, template):
    alpha, beta = payments_services
    gamma = make_service(other_team, template, "gamma")
    make_run(alpha, {"api.openapi": "fail", "security.tls": "fail"})
    make_run(alpha, {"api.openapi": "pass"})  # fixed since: no longer failing
    make_run(beta, {"security.tls": "fail", "api.openapi": "error"})
    make_run(gamma, {"security.tls": "fail", "security.cors": "fail"})

    failing = {r["key"]: r for r in portfolio.failing_checks().records()}
    assert failing["security.tls"]["failing_services"] == 3
    assert failing["api.openapi"]["failing_services"] == 0
    assert failing["api.openapi"]["erroring_services"] == 1
    assert failing["security.cors"]["failing_services"] == 1
    assert next(iter(failing)) == "security.tls"

    offenders = portfolio.top_offenders().records()
    assert [(r["service"], r["failing_checks"]) for r in offenders] == [
        ("gamma", 2),
        ("alpha", 1),
        ("beta", 1),
    ]


def test_drills_are_overdue_without_a_pass_within_30_days(payments_services):
    alpha, beta = payments_services
    make_run(alpha, {"chaos.db_readiness": "pass", "alerts.error_drill": "fail"})
    make_run(beta, {"chaos.db_readiness": "fail"})

    now = timezone.now()
    by_key = {r["key"]: r for r in portfolio.drills_overdue(now).records()}
    assert by_key["chaos.db_readiness"] == {
        "key": "chaos.db_readiness",
        "overdue_services": 1,
        "passing_services": 1,
    }
    assert by_key["alerts.error_drill"]["overdue_services"] == 2
    listed = {r["service"] for r in portfolio.overdue_services(now).records()}
    assert listed == {"alpha", "beta"}  # both miss at least one drill

    # 31 days on, alpha's pass has aged out too.
    later = now + timedelta(days=31)
    assert {r["key"]: r for r in portfolio.drills_overdue(later).records()}["chaos.db_readiness"][
        "overdue_services"
    ] == 2


def test_the_drill_window_is_the_launch_gates_setting(payments_services, settings):
    alpha, _ = payments_services
    make_run(alpha, {"chaos.db_readiness": "pass"})
    settings.PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS = 5
    later = timezone.now() + timedelta(days=6)
    table = portfolio.drills_overdue(later)
    assert "within 5 days" in table.title
    assert {r["key"]: r for r in table.records()}["chaos.db_readiness"]["passing_services"] == 0
    settings.PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS = 7
    table = portfolio.drills_overdue(later)
    assert {r["key"]: r for r in table.records()}["chaos.db_readiness"]["passing_services"] == 1


def test_summary_keeps_the_latest_result_and_the_last_pass(payments_services):
    alpha, _ = payments_services
    first = make_run(alpha, {"api.openapi": "pass"})
    second = make_run(alpha, {"api.openapi": "fail"})
    row = CheckStatus.objects.get(service=alpha, key="api.openapi")
    assert row.status == "fail" and row.run_id == second.pk
    assert row.last_pass_at == first.results.get().created_at

    # A result written out of order (an older id arriving late) never wins.
    from dashboards import summary

    summary.record_result(first.results.get())
    assert CheckStatus.objects.get(service=alpha, key="api.openapi").status == "fail"
    assert summary.rebuild() == 1
    rebuilt = CheckStatus.objects.get(service=alpha, key="api.openapi")
    assert (rebuilt.status, rebuilt.result_id) == ("fail", second.results.get().pk)


def test_readiness_replay_gives_one_point_per_day_with_changes() -> None:
    items = {"a": True, "b": True, "c": False, "d": True}
    day = datetime(2025, 3, 1, 10, tzinfo=UTC)
    events = [
        (day, "a", "done"),
        (day + timedelta(hours=1), "c", "na"),
        (day + timedelta(days=2), "b", "done"),
        (day + timedelta(days=2, hours=3), "a", "failing"),
        (day + timedelta(days=5), "gone", "done"),  # not in the template any more
        (day + timedelta(days=9), "a", "done"),
    ]
    points = replay(items, events, start=date(2025, 2, 28), today=date(2025, 3, 20))
    assert points == [
        (date(2025, 2, 28), 0, 4, 0, 0, 3, 0),
        (date(2025, 3, 1), 2, 4, 50, 1, 3, 33),
        (date(2025, 3, 3), 2, 4, 50, 1, 3, 33),  # b done, a failing: the day's last state
        (date(2025, 3, 10), 3, 4, 75, 2, 3, 67),
        (date(2025, 3, 20), 3, 4, 75, 2, 3, 67),
    ]


def test_readiness_history_reads_the_services_audit_trail(service, lead) -> None:
    from portal import services

    state = ItemState.objects.get(service=service, item_key="security.http_headers")
    services.item_transition(
        service=service,
        item_key=state.item_key,
        action="done",
        actor=lead,
        seen_version=state.version,
        evidence_url="https://wiki.example.com/h",
    )
    rows = service_sel.readiness_history(service).records()
    assert rows[-1]["complete"] == 1
    assert rows[-1]["total"] == 39
    assert rows[-1]["blocking_complete"] == 1
    assert rows[-1]["blocking_pct"] == 3  # 1 of 30 blocking items


def test_service_tables_read_timeline_load_and_drills(service) -> None:
    load = {
        "totals": {"requests": 3000, "failures": 3, "rps": 98.5, "p50_ms": 12.0,
                   "p95_ms": 40.5, "p99_ms": 80.0, "target_rps": 100, "offered_rps": 100},
        "samples": [{"t": 0, "rps": 99, "p50_ms": 12, "p95_ms": 40, "errors": 0}],
    }  # fmt: skip
    first = make_run(service, {"smoke.health": "pass", "load.target_rps": "pass"},
                     evidence={"load.target_rps": load})  # fmt: skip
    skipped = make_run(service, {"load.target_rps": "skip"})  # no load offered: no chart point
    second = make_run(
        service,
        {"smoke.health": "fail", "chaos.db_readiness": "pass", "rollout.canary_drill": "pass"},
        evidence={
            "chaos.db_readiness": {"flip_s": 3.5, "recovery_s": 9.0},
            "rollout.canary_drill": {"canary_share": 0.1, "rollback_s": 12},
        },
    )
    timeline = service_sel.check_timeline(service).records()
    assert [(r["run"], r["key"], r["status"]) for r in timeline] == [
        (first.pk, "load.target_rps", "pass"),
        (first.pk, "smoke.health", "pass"),
        (skipped.pk, "load.target_rps", "skip"),
        (second.pk, "chaos.db_readiness", "pass"),
        (second.pk, "rollout.canary_drill", "pass"),
        (second.pk, "smoke.health", "fail"),
    ]
    (row,) = service_sel.load_history(service).records()
    assert (row["rps"], row["target_rps"], row["p95_ms"], row["p99_ms"]) == (98.5, 100, 40.5, 80)
    drills = {r["key"]: r for r in service_sel.drill_history(service).records()}
    assert drills["chaos.db_readiness"]["flip_s"] == 3.5
    assert drills["rollout.canary_drill"]["canary_share"] == 0.1
    assert drills["rollout.canary_drill"]["flip_s"] is None


def test_team_table_puts_the_teams_services_side_by_side(payments_services, other_team, template):
    alpha, beta = payments_services
    make_service(other_team, template, "gamma")  # another team's: not shown
    set_states(alpha, "done")
    make_run(alpha, {"api.openapi": "fail", "chaos.redis_outage": "pass"})
    load = {"totals": {"p95_ms": 55.0}}
    make_run(beta, {"load.target_rps": "pass"}, evidence={"load.target_rps": load})
    rows = {r["service"]: r for r in team_sel.services_side_by_side(alpha.team).records()}
    assert set(rows) == {"alpha", "beta"}
    assert (rows["alpha"]["state"], rows["alpha"]["blocking_pct"]) == ("ready", 100)
    assert rows["alpha"]["failing_checks"] == 1
    assert rows["alpha"]["last_run_status"] == "failed"
    assert rows["alpha"]["drills_passed_30d"] == 1
    assert rows["beta"]["load_p95_ms"] == 55.0
    assert rows["beta"]["state"] == "blocked"
    sections = team_sel.section_heatmap(alpha.team).records()
    assert {r["service"] for r in sections} == {"alpha", "beta"}
    assert all(r["pct"] == 100 for r in sections if r["service"] == "alpha")


def test_cached_readiness_is_replaced_when_the_audit_chain_moves(
    payments_services, lead, settings
) -> None:
    from django.core.cache import cache

    from portal import services

    settings.PREFLIGHT_DASHBOARD_CACHE_S = 30
    cache.clear()
    alpha, _ = payments_services
    assert portfolio.readiness_heatmap().records()[0]["complete"] == 0
    # A change without an audit event (which portal.services never makes) is not seen...
    set_states(alpha, "done", blocking=False)
    assert portfolio.readiness_heatmap().records()[0]["complete"] == 0
    # ...and any audited change brings everything up to date.
    state = ItemState.objects.get(service=alpha, item_key="security.http_headers")
    services.item_transition(
        service=alpha,
        item_key=state.item_key,
        action="done",
        actor=lead,
        seen_version=state.version,
        evidence_url="https://wiki.example.com/h",
    )
    total_done = sum(r["complete"] for r in portfolio.readiness_heatmap().records())
    assert total_done == 9 + 1  # nine non-blocking items, one ticked
    cache.clear()
