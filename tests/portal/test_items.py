from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import selectors, services
from portal.models import AuditEvent, ItemState, Service

KEY = "security.cors_allowlist"  # blocking, evidence required
EVIDENCE = "https://wiki.example.com/cors"


def _state(service: Service, key: str = KEY) -> ItemState:
    return ItemState.objects.get(service=service, item_key=key)


def test_a_lead_marks_an_item_done_with_evidence_and_history(service, lead) -> None:
    state = services.item_transition(
        service=service,
        item_key=KEY,
        action="done",
        actor=lead,
        seen_version=0,
        note="checked",
        evidence_url=EVIDENCE,
    )
    assert state.state == "done" and state.version == 1 and state.updated_by == lead
    assert state.expires_at is not None and state.item is not None
    assert state.expires_at - state.verified_at == timedelta(days=state.item.valid_days)
    event = AuditEvent.objects.filter(action="tick").get()
    assert (event.actor_name, event.item_key, event.from_state, event.to_state) == (
        "lead",
        KEY,
        "open",
        "done",
    )
    assert event.evidence_url == EVIDENCE and event.note == "checked"


@pytest.mark.parametrize(
    ("action", "note", "evidence", "message"),
    [
        ("na", "", "", "needs a reason"),
        ("done", "", "", "needs evidence to be marked done"),
        ("done", "", "javascript:alert(1)", "must be an http"),
        ("done", "", "ftp://files.example.com/x", "must be an http"),
        ("explode", "", "", "Unknown action"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    service, lead, action, note, evidence, message
) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(services.InvalidInput, match=message):
        services.item_transition(
            service=service,
            item_key=KEY,
            action=action,
            actor=lead,
            seen_version=0,
            note=note,
            evidence_url=evidence,
        )
    assert _state(service).state == "open" and _state(service).version == 0
    assert AuditEvent.objects.count() == events


def test_an_unknown_item_key_is_not_found(service, lead) -> None:
    with pytest.raises(services.NotFound):
        services.item_transition(
            service=service, item_key="security.nope", action="reopen", actor=lead, seen_version=0
        )


@pytest.mark.parametrize("persona", ["outsider", "reviewer", "admin_user"])
def test_only_members_of_the_owning_team_change_items(service, persona, request) -> None:
    user = request.getfixturevalue(persona)
    with pytest.raises(services.NotAllowed):
        services.item_transition(
            service=service,
            item_key=KEY,
            action="done",
            actor=user,
            seen_version=0,
            evidence_url=EVIDENCE,
        )
    assert _state(service).state == "open"


def test_it_rejects_a_stale_update_and_overwrites_nothing(service, lead) -> None:
    # Two people opened the page at version 0; the first saves, the second is refused.
    services.item_transition(
        service=service,
        item_key=KEY,
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url=EVIDENCE,
        note="first",
    )
    with pytest.raises(services.Conflict, match="lead changed this item"):
        services.item_transition(
            service=service, item_key=KEY, action="na", actor=lead, seen_version=0, note="second"
        )
    state = _state(service)
    assert (state.state, state.note, state.version) == ("done", "first", 1)
    assert AuditEvent.objects.filter(item_key=KEY).count() == 1


def test_not_applicable_and_reopen(service, lead) -> None:
    services.item_transition(
        service=service, item_key=KEY, action="na", actor=lead, seen_version=0, note="internal"
    )
    state = services.item_transition(
        service=service, item_key=KEY, action="reopen", actor=lead, seen_version=1
    )
    assert state.state == "open" and state.expires_at is None
    actions = list(AuditEvent.objects.filter(item_key=KEY).values_list("action", flat=True))
    assert actions == ["na", "reopen"]


def test_readiness_counts_blocking_and_all_items(service, lead) -> None:
    blocking = list(
        ItemState.objects.filter(service=service, item__blocking=True).values_list(
            "item_key", flat=True
        )
    )
    before = selectors.service_readiness(service)
    assert (before.total, before.complete, before.pct_all) == (39, 0, 0)
    assert before.blocking_total == len(blocking) and before.state == "in_progress"
    for key in blocking[:3]:
        services.item_transition(
            service=service, item_key=key, action="na", actor=lead, seen_version=0, note="n/a"
        )
    after = selectors.service_readiness(service)
    assert after.complete == 3 and after.blocking_complete == 3
    assert after.pct_all == round(300 / 39)
    assert after.pct_blocking == round(300 / len(blocking))


def test_a_service_with_every_blocking_item_complete_is_ready(service, lead) -> None:
    for state in ItemState.objects.filter(service=service, item__blocking=True):
        services.item_transition(
            service=service,
            item_key=state.item_key,
            action="na",
            actor=lead,
            seen_version=state.version,
            note="demo",
        )
    assert selectors.service_readiness(service).state == "ready"


def test_expiry_turns_old_ticks_stale_once(service, lead) -> None:
    old = timezone.now() - timedelta(days=365)
    services.item_transition(
        service=service,
        item_key=KEY,
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url=EVIDENCE,
        now=old,
    )
    services.item_transition(
        service=service,
        item_key="security.tls_hsts",
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url=EVIDENCE,
    )
    from portal.tasks import expire_stale_items

    assert expire_stale_items() == 1  # the task, called as a plain function
    assert services.expire_stale_items() == 0  # idempotent
    assert _state(service).state == "stale"
    assert _state(service, "security.tls_hsts").state == "done"
    event = AuditEvent.objects.get(action="stale")
    assert event.actor_name == "preflight-system" and event.item_key == KEY
    readiness = selectors.service_readiness(service)
    assert readiness.stale == 1 and readiness.state == "stale"


def test_service_list_filters_by_team_tier_state_and_name(service, lead, other_team, template):
    other = services.service_create(
        name="Search Indexer", slug="indexer", team=other_team, template=template, tier=3
    )
    assert [r.service for r in selectors.service_list(team="search")] == [other]
    assert [r.service for r in selectors.service_list(tier="1")] == [service]
    assert [r.service for r in selectors.service_list(q="index")] == [other]
    assert selectors.service_list(state="ready") == []
    assert len(selectors.service_list(state="in_progress")) == 2


# --- automated verdicts: only "verifies" mappings decide -------------------------------------


def _feed(service: Service, results: dict[str, str], label: str = "Validation run #1") -> dict:
    return services.items_from_checks(
        service=service,
        results=results,
        evidence_url="https://preflight.example.com/runs/1/",
        run_label=label,
        summaries={k: f"{k} said {v}" for k, v in results.items()},
    )


def test_a_verifying_pass_ticks_and_a_supporting_pass_only_shows(service) -> None:
    counts = _feed(service, {"security.cors": "pass", "observability.request_id": "pass"})
    assert counts == {"verified": 1, "failing": 0, "reopened": 0}
    assert _state(service).state == "done"  # security.cors verifies it
    logs = _state(service, "observability.structured_logs")  # request_id only supports it
    assert logs.state == "open"
    assert logs.check_results["observability.request_id"]["status"] == "pass"
    assert logs.check_results["observability.request_id"]["summary"].endswith("said pass")
    assert [c["role"] for c in logs.evidence_checks] == ["supports"]


def test_a_supporting_failure_fails_nothing(service) -> None:
    assert _feed(service, {"db.write_concern": "fail"})["failing"] == 0
    state = _state(service, "data.write_concern_majority")
    assert state.state == "open" and state.failing_checks == []


def test_every_verifying_check_must_pass_in_the_run_to_tick(service) -> None:
    _feed(service, {"repo.env_config": "pass"})  # security.secrets_env also needs no_secrets
    assert _state(service, "security.secrets_env").state == "open"
    _feed(service, {"repo.env_config": "pass", "repo.no_secrets": "pass"})
    assert _state(service, "security.secrets_env").state == "done"


def test_a_failing_item_whose_failure_clears_without_full_proof_is_reopened(service) -> None:
    _feed(service, {"repo.env_config": "fail", "repo.no_secrets": "skip"})
    state = _state(service, "security.secrets_env")
    assert state.state == "failing" and state.failing_checks == ["repo.env_config"]
    counts = _feed(service, {"repo.env_config": "pass"}, "Validation run #2")
    assert counts["reopened"] == 1
    state = _state(service, "security.secrets_env")
    assert state.state == "open" and state.failing_checks == []
    assert AuditEvent.objects.filter(action="reopen", actor_name="preflight-system").count() == 1


def test_skip_and_error_decide_nothing_and_not_applicable_keeps_its_state(service, lead) -> None:
    _feed(service, {"security.cors": "skip", "security.tls": "error"})
    assert _state(service).state == "open"
    assert _state(service, "security.tls_hsts").state == "open"
    services.item_transition(
        service=service,
        item_key="security.tls_hsts",
        action="na",
        actor=lead,
        seen_version=_state(service, "security.tls_hsts").version,
        note="TLS ends at the platform's load balancer",
    )
    _feed(service, {"security.tls": "fail"})
    state = _state(service, "security.tls_hsts")
    assert state.state == "na" and state.check_results["security.tls"]["status"] == "fail"
