"""More than one checklist per service: a template with [template.applies_to] applies by
itself to every service of those tiers and lifecycles; the checklist page, levels, the API,
the gate and campaigns read every checklist a service carries."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from core.errors import InvalidInput
from portal import services
from portal.models import ItemState, Service
from portal.selectors import service_templates
from portal.templates_io import TemplateFileError, load_template_file, parse_template
from reviews.gate import compute_gate
from reviews.levels import level_summaries, service_levels
from reviews.snapshot import build_snapshot, changes_since
from tests.support.launches import make_ready

RETENTION = Path(__file__).resolve().parents[2] / "checklists" / "data-retention" / "v1.toml"
KEYS = [
    "retention.policy_documented",
    "retention.ttl_enforced",
    "retention.backups_expire",
    "retention.subject_export",
    "retention.subject_erasure",
]


@pytest.fixture
def retention(template):
    return services.template_import(data=load_template_file(RETENTION)).template


def _live(team, template, slug: str, tier: int) -> Service:
    return services.service_create(
        name=slug.title(), slug=slug, team=team, template=template, tier=tier,
        lifecycle=Service.Lifecycle.PRODUCTION,
    )  # fmt: skip


def test_an_automatic_checklist_applies_by_tier_and_lifecycle(team, template, retention) -> None:
    existing = _live(team, template, "billing", 1)
    tier3 = _live(team, template, "tier3", 3)
    dev = services.service_create(
        name="Dev", slug="dev", team=team, template=template, tier=1, lifecycle="staging"
    )
    assert [t.key for t in service_templates(existing)] == ["fastapi-mongo", "data-retention"]
    assert [t.key for t in service_templates(tier3)] == ["fastapi-mongo"]
    assert [t.key for t in service_templates(dev)] == ["fastapi-mongo"]
    assert sorted(existing.item_states.filter(item_key__startswith="retention.").values_list(
        "item_key", flat=True)) == sorted(KEYS)  # fmt: skip
    assert not tier3.item_states.filter(item_key__startswith="retention.").exists()
    # A change of lifecycle brings the checklist (the admin and the catalog sync call this).
    Service.objects.filter(pk=dev.pk).update(lifecycle="production")
    dev.refresh_from_db()
    services.sync_checklists(dev)
    assert dev.item_states.filter(item_key__startswith="retention.").count() == len(KEYS)


def test_services_registered_before_the_import_carry_it_too(team, template) -> None:
    before = _live(team, template, "before", 2)
    services.template_import(data=load_template_file(RETENTION))
    assert before.item_states.filter(item_key__startswith="retention.").count() == len(KEYS)


def test_the_checklist_page_and_ticks_cover_every_checklist(
    client, team, template, retention, lead
) -> None:
    service = _live(team, template, "billing", 1)
    client.force_login(lead)
    page = client.get("/services/billing/").content.decode()
    assert "Data retention ·" in page and 'data-key="retention.ttl_enforced"' in page
    state = ItemState.objects.get(service=service, item_key="retention.ttl_enforced")
    services.item_transition(
        service=service, item_key=state.item_key, action="done", actor=lead,
        seen_version=state.version, evidence_url="https://wiki.example.com/ttl",
    )  # fmt: skip
    assert ItemState.objects.get(pk=state.pk).state == "done"


def test_levels_per_checklist_on_the_page_in_bulk_and_in_the_api(
    client, team, template, retention, lead, api_token
) -> None:
    service = _live(team, template, "billing", 1)
    now = timezone.now()
    ItemState.objects.filter(service=service, item_key__in=KEYS[:2]).update(
        state="done", expires_at=now + timedelta(days=9)
    )
    own, extra = service_levels(service)
    assert own.template_key == "fastapi-mongo" and own.result.rank == 0
    assert extra.template_key == "data-retention" and extra.result.level_key == "kept"
    assert extra.required == "compliant" and not extra.meets_required
    bulk = level_summaries(Service.objects.filter(pk=service.pk))[service.pk]
    assert [(s.template_key, s.level_key) for s in bulk] == [
        ("fastapi-mongo", ""),
        ("data-retention", "kept"),
    ]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token('read')}"}
    levels = client.get("/api/v1/services/billing", **auth).json()["levels"]
    assert [t["template"] for t in levels] == ["fastapi-mongo", "data-retention"]


def test_the_gate_considers_every_checklist(team, template, retention) -> None:
    service = _live(team, template, "billing", 1)
    make_ready(service)  # every item done, the retention ones included
    assert compute_gate(service).passed
    ItemState.objects.filter(service=service, item_key="retention.subject_export").update(
        state="open"
    )
    rules = {r.key: r for r in compute_gate(service).rules}
    assert "retention.subject_export" in rules["blocking_items"].reason
    required = rules["required_level"]
    assert not required.passed
    assert required.reason.startswith("tier 1 requires level Gold on fastapi-mongo, Compliant on")
    assert [f.key for f in required.findings] == ["retention.subject_export"]


def test_the_frozen_snapshot_lists_every_checklist_and_names_its_changes(
    team, template, retention
) -> None:
    """A reviewer decides from the snapshot: the items of the other checklists the gate read
    are in it, named by their checklist, and a later change to one is reported."""
    service = _live(team, template, "billing", 1)
    make_ready(service)
    frozen = build_snapshot(service)
    assert frozen["service"]["checklists"] == ["data-retention v1"]
    rows = {row["key"]: row for row in frozen["items"]}
    assert len(rows) == service.item_states.count() == 39 + len(KEYS)
    assert rows["retention.ttl_enforced"]["checklist"] == "data-retention"
    assert "checklist" not in rows[frozen["items"][0]["key"]]  # its own checklist comes first
    ItemState.objects.filter(service=service, item_key="retention.ttl_enforced").update(
        state="open"
    )
    changes = changes_since(frozen, build_snapshot(service))
    assert "item data-retention · retention.ttl_enforced: done → open" in changes


def test_an_upcoming_requirement_of_the_extra_checklist_does_not_count_yet(
    team, template, retention
) -> None:
    service = _live(team, template, "billing", 1)
    ItemState.objects.filter(service=service, item_key__in=KEYS[:4]).update(
        state="done", expires_at=timezone.now() + timedelta(days=9)
    )
    extra = service_levels(service)[1]
    if timezone.localdate() < date(2027, 6, 1):
        assert extra.result.level_key == "compliant"
        assert [u.key for u in extra.result.upcoming] == ["retention.subject_erasure"]
    else:
        assert extra.result.level_key == "kept"


def test_an_automatic_checklist_may_not_share_item_keys(template) -> None:
    text = RETENTION.read_text().replace(
        'key = "retention.backups_expire"', 'key = "data.backups_restore_tested"'
    )
    with pytest.raises(InvalidInput, match=r"data\.backups_restore_tested belong to another"):
        services.template_import(data=parse_template(text))


@pytest.mark.parametrize(
    ("applies", "message"),
    [
        ("applies_to = { tiers = [4] }", "tiers: a list of tiers"),
        ('applies_to = { lifecycles = ["live"] }', "lifecycles: a list of"),
        ("applies_to = { teams = [] }", "unknown field"),
    ],
)
def test_a_bad_applies_to_is_refused(applies: str, message: str) -> None:
    text = RETENTION.read_text().replace(
        'applies_to = { tiers = [1, 2], lifecycles = ["production"] }', applies
    )
    with pytest.raises(TemplateFileError, match=message):
        parse_template(text)


def test_a_campaign_on_the_extra_checklist_scopes_the_services_carrying_it(
    team, template, retention, reviewer
) -> None:
    from campaigns import selectors
    from campaigns.services import campaign_create

    carrying = _live(team, template, "billing", 2)
    _live(team, template, "tier3", 3)
    campaign = campaign_create(
        name="Retention kept", owner=reviewer, template_key="data-retention",
        target_level="kept", starts_on=date.today(), due_on=date.today() + timedelta(days=9),
    )  # fmt: skip
    (only,) = selectors.standing(campaign)
    assert only.slug == carrying.slug and {m.key for m in only.lacks} == set(KEYS[:2])
    (point,) = selectors.history(campaign, [timezone.now()])
    assert (point.in_scope, point.there) == (1, 0)
    assert dataclasses.asdict(point)["team"] == "payments"
