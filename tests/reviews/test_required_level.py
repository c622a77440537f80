"""The gate's required_level rule: a tier's required level (the template's [tier_levels])
blocks a launch below it, naming the missing items; upcoming items block nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from core.errors import InvalidInput
from portal.models import ItemState, Service, TemplateItem
from reviews import services
from reviews.gate import compute_gate
from reviews.selectors import launch_status, rules_to_justify

GOLD_ITEM = "reliability.canary_deploy"
SOON = date.today() + timedelta(days=7)


def _rule(service: Service):
    return {r.key: r for r in compute_gate(service).rules}["required_level"]


def test_a_ready_tier_1_service_reaches_gold(ready_service: Service) -> None:
    rule = _rule(ready_service)
    assert rule.passed and rule.reason == "tier 1 requires level Gold: reached"


def test_a_tier_1_service_below_gold_is_blocked_naming_the_missing_items(
    ready_service: Service, lead, search_reviewers
) -> None:
    ItemState.objects.filter(service=ready_service, item_key=GOLD_ITEM).update(state="open")
    rule = _rule(ready_service)
    assert not rule.passed
    assert rule.reason == f"tier 1 requires level Gold; 1 item(s) missing: {GOLD_ITEM}"
    assert [(f.subject, f.status) for f in rule.findings] == [(f"item:{GOLD_ITEM}", "open")]
    status = launch_status(ready_service)
    assert not status.approved
    assert any(GOLD_ITEM in r and "required_level" in r for r in status.reasons)


def test_a_gold_item_that_is_not_blocking_still_blocks_a_tier_1_launch_until_justified(
    ready_service: Service, lead
) -> None:
    TemplateItem.objects.filter(key=GOLD_ITEM).update(blocking=False)
    ItemState.objects.filter(service=ready_service, item_key=GOLD_ITEM).update(state="open")
    gate = compute_gate(ready_service)
    assert [r.key for r in gate.failing] == ["required_level"]
    # Only required_level names it, so the request must justify required_level.
    assert [r.rule.key for r in rules_to_justify(ready_service, gate)] == ["required_level"]
    with pytest.raises(InvalidInput, match="The gate fails on required_level"):
        services.launch_request(service=ready_service, actor=lead, target_date=SOON)
    review = services.launch_request(
        service=ready_service,
        actor=lead,
        target_date=SOON,
        justifications={"required_level": "canary tooling lands next sprint"},
        exemption_expires=SOON,
    )
    (exemption,) = review.exemptions.all()
    assert exemption.rule == "required_level" and exemption.items == [GOLD_ITEM]


def test_a_lower_tier_requires_its_own_level_or_none(ready_service: Service) -> None:
    ItemState.objects.filter(service=ready_service, item_key=GOLD_ITEM).update(state="open")
    Service.objects.filter(pk=ready_service.pk).update(tier=2)
    ready_service.refresh_from_db()
    assert _rule(ready_service).reason == "tier 2 requires level Silver: reached"
    Service.objects.filter(pk=ready_service.pk).update(tier=3)
    ready_service.refresh_from_db()
    assert _rule(ready_service).reason == "no level is required of tier 3"


def test_an_upcoming_item_blocks_nothing_until_its_date(ready_service: Service) -> None:
    ahead = timezone.localdate() + timedelta(days=30)
    TemplateItem.objects.filter(key=GOLD_ITEM).update(effective_from=ahead)
    ItemState.objects.filter(service=ready_service, item_key=GOLD_ITEM).update(state="open")
    gate = compute_gate(ready_service)
    assert gate.passed, [r.reason for r in gate.failing]
    later = compute_gate(ready_service, now=timezone.now() + timedelta(days=31))
    failing = {r.key for r in later.failing}
    assert {"blocking_items", "required_level"} <= failing
