"""A service's level on its template, read from the database: states by key, exemptions by
name, and a template upgrade that keeps the level (levels name items by key)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from django.utils import timezone

from portal import services
from portal.models import ItemState, Service
from portal.templates_io import DEFAULT_TEMPLATE, ItemData, LevelData, load_template_file
from portal.templates_io import LevelRequirement as Req
from reviews.levels import service_levels
from reviews.models import Exemption

BRONZE = [
    "security.secrets_env", "security.tls_hsts", "observability.structured_logs",
    "observability.metrics", "reliability.readiness_probes", "docker.non_root",
    "testing.suites_pass", "data.backups_restore_tested",
]  # fmt: skip


def _done(service: Service, keys: list[str], *, days: int = 30) -> None:
    now = timezone.now()
    ItemState.objects.filter(service=service, item_key__in=keys).update(
        state="done", verified_at=now, expires_at=now + timedelta(days=days)
    )


def test_a_service_with_bronzes_items_done_is_at_bronze_with_silvers_items_missing(
    service: Service,
) -> None:
    (level,) = service_levels(service)
    assert level.result.rank == 0 and level.required == "gold" and not level.meets_required
    _done(service, BRONZE)
    (level,) = service_levels(service)
    assert level.result.level_key == "bronze"
    assert level.result.next_level is not None and level.result.next_level.key == "silver"
    assert "security.cors_allowlist" in {m.key for m in level.result.missing}
    assert 0 < level.result.score < 100


def test_a_tick_that_outlived_its_validity_lowers_the_level(service: Service) -> None:
    _done(service, BRONZE)
    _done(service, ["docker.non_root"], days=-1)
    (level,) = service_levels(service)
    assert level.result.rank == 0
    assert [(m.key, m.status) for m in level.result.missing] == [("docker.non_root", "expired")]


def test_an_approved_exemption_naming_an_item_completes_it_until_it_expires(
    service: Service,
) -> None:
    _done(service, BRONZE[1:])
    exemption = Exemption.objects.create(
        service=service,
        items=[BRONZE[0]],
        granted={f"item:{BRONZE[0]}": "open"},
        justification="Vault migration in flight.",
        expires_at=timezone.now() + timedelta(days=7),
        status=Exemption.Status.APPROVED,
    )
    (level,) = service_levels(service)
    assert level.result.level_key == "bronze" and level.result.exempted == (BRONZE[0],)
    (later,) = service_levels(service, now=timezone.now() + timedelta(days=8))
    assert later.result.rank == 0  # the exemption expired (and so did nothing else)
    exemption.status = Exemption.Status.WITHDRAWN
    exemption.save()
    assert service_levels(service)[0].result.rank == 0


def test_a_template_upgrade_keeps_the_level_by_item_key(service: Service) -> None:
    _done(service, BRONZE)
    before = service_levels(service)[0]
    data = load_template_file(DEFAULT_TEMPLATE)
    new = ItemData("security.mfa_admins", "Admins use MFA", "Enforce MFA.", True, True, 30)
    first = dataclasses.replace(data.sections[0], items=[*data.sections[0].items, new])
    gold = data.levels[2]
    # v-next: one more item, required for Gold
    levels = [*data.levels[:2], LevelData(gold.key, gold.name, [*gold.requires, Req(new.key)])]
    services.template_import(
        data=dataclasses.replace(
            data, version=data.version + 1, sections=[first, *data.sections[1:]], levels=levels
        )
    )
    service.refresh_from_db()
    after = service_levels(service)[0]
    assert after.version == data.version + 1
    assert after.result.level_key == before.result.level_key == "bronze"
    assert [m.key for m in after.result.missing] == [m.key for m in before.result.missing]


def test_the_service_page_shows_the_level_the_score_and_what_the_next_level_needs(
    client, service: Service, lead
) -> None:
    _done(service, BRONZE)
    client.force_login(lead)
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert 'data-level="bronze"' in page
    assert "Missing for Silver" in page and 'data-missing="security.cors_allowlist"' in page
    assert 'data-missing="security.secrets_env"' not in page
    assert "tier 1 requires Gold" in page
    # Gold's chaos test counts from 2027-03-01: upcoming until then, missing after.
    if timezone.localdate() < date(2027, 3, 1):
        assert 'data-upcoming="testing.chaos_test"' in page


def test_levels_of_many_services_at_once_agree_with_one_services_levels(
    service: Service, team, template, lead
) -> None:
    from reviews.levels import LevelSummary, level_summaries, levels_by_service

    other = services.service_create(
        name="Billing", slug="billing", team=team, template=template, tier=2, actor=lead
    )
    _done(service, BRONZE)
    _done(other, BRONZE[:-1])
    _done(other, [BRONZE[-1]], days=-1)  # expired
    Exemption.objects.create(
        service=other,
        items=["security.cors_allowlist"],
        granted={"item:security.cors_allowlist": "open"},
        justification="x",
        expires_at=timezone.now() + timedelta(days=3),
        status=Exemption.Status.APPROVED,
    )
    third = services.service_create(
        name="Ledger", slug="ledger", team=team, template=template, tier=3, actor=lead
    )
    _done(third, BRONZE)
    _done(third, ["security.cors_allowlist"])
    ItemState.objects.filter(service=third, item_key="testing.chaos_test").update(state="failing")
    scope = Service.objects.filter(pk__in=[service.pk, other.pk, third.pk])
    bulk = levels_by_service(scope)
    summaries = level_summaries(scope)
    for s in (service, other, third):
        (one,) = service_levels(s)
        (many,) = bulk[s.pk]
        assert many.result == one.result and many.required == one.required
        assert summaries[s.pk] == [LevelSummary.of(one)]
    assert bulk[other.pk][0].result.exempted == ("security.cors_allowlist",)
    assert bulk[other.pk][0].required == "silver"
    assert summaries[third.pk][0].level_key == "bronze" and summaries[third.pk][0].required == ""
