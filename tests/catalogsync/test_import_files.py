"""Import from Backstage descriptors in a directory: an example catalog in the format of
Backstage's own (an all.yaml Location, Groups and Users, Systems, Components, APIs, several
documents per file), 115 good entities and the malformed descriptors real catalogs hold."""

from __future__ import annotations

from pathlib import Path

from catalogsync.models import CatalogEntity, CatalogSync, SyncChange
from catalogsync.services import import_catalog
from portal.models import AuditEvent, Service, Team
from tests.support.backstage import MALFORMED, Catalog, example_catalog, write_catalog


def run(source: Path | str, **kwargs):
    sync, report = import_catalog(source=str(source), **kwargs)
    return sync, report


def test_a_catalog_of_115_entities_creates_the_teams_and_services(catalog_dir: Path) -> None:
    sync, report = run(catalog_dir / "all.yaml")
    assert sync is not None and sync.status == CatalogSync.Status.SUCCEEDED, sync.error
    assert Team.objects.count() == 10
    assert Service.objects.count() == 70
    assert report.counts["created"] == 80  # 10 teams, 70 services
    assert report.counts["ignored"] == 20 + 5 + 10 + 2  # users, systems, APIs, Locations
    service = Service.objects.get(slug="payments-svc-1")
    assert service.team.slug == "payments" and service.team.name == "Payments"
    assert service.catalog_ref == "component:default/payments-svc-1"
    assert service.catalog_system == "system:default/discovery"
    assert service.catalog_lifecycle == "experimental"
    assert service.lifecycle == Service.Lifecycle.DEVELOPMENT
    assert service.repository_url == "https://github.com/example/payments-svc-1/tree/main/"
    assert service.catalog_links == [
        {
            "url": "https://grafana.example.com/d/payments-svc-1",
            "title": "Dashboard",
            "icon": "dashboard",
        },
        {"url": "https://runbooks.example.com/payments-svc-1", "title": "Runbook"},
        {
            "url": "https://github.com/example/payments-svc-1/tree/main/",
            "title": "TechDocs",
            "type": "techdocs",
        },
    ]
    assert Team.objects.get(slug="search").name == "Search & Discovery"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SERVICE_CREATED).count() == 70


def test_each_malformed_descriptor_is_refused_with_its_reason(catalog_dir: Path) -> None:
    sync, _report = run(catalog_dir / "all.yaml")
    assert sync is not None
    refusals = {(r.where, r.entity_ref, r.reason) for r in sync.refusals.all()}
    assert len(refusals) == len(MALFORMED) + 2 == sync.counts["refused"]
    for _file, _text, reason in MALFORMED:
        assert any(reason in r for _, _, r in refusals), reason
    by_ref = {ref: reason for _, ref, reason in refusals}
    assert "spec.owner is missing" in by_ref["component:default/no-owner"]
    assert "defined twice" in by_ref["component:default/payments-svc-0"]
    outside = [r for w, ref, r in refusals if ref == "location:default/elsewhere"]
    assert sorted(outside) == [
        "target '../../../etc/passwd': it points outside the source",
        "target 'https://github.com/example/other/blob/main/catalog-info.yaml': only paths "
        "relative to the file are followed (no URLs, no absolute paths)",
    ]
    syntax = [r for w, _, r in refusals if w == "components/syntax.yaml#1"]
    assert len(syntax) == 1 and syntax[0].startswith("not valid YAML (line 4)")
    # The rest is imported, and the first definition of a duplicate wins.
    assert Service.objects.get(slug="payments-svc-0").team.slug == "payments"
    assert not Service.objects.filter(
        slug__in=["no-owner", "owned-by-a-person", "sneaky-link"]
    ).exists()


def test_a_second_import_changes_nothing(catalog_dir: Path) -> None:
    run(catalog_dir / "all.yaml")
    events = AuditEvent.objects.count()
    services = {s.pk: (s.name, s.team_id, s.catalog_links) for s in Service.objects.all()}
    sync, report = run(catalog_dir / "all.yaml")
    assert sync is not None and sync.status == CatalogSync.Status.SUCCEEDED
    assert not SyncChange.objects.filter(sync=sync).exists()
    assert sync.changed == 0 and report.counts["unchanged"] == 80
    assert AuditEvent.objects.count() == events
    assert {s.pk: (s.name, s.team_id, s.catalog_links) for s in Service.objects.all()} == services


def test_a_changed_owner_moves_the_service_with_an_audit_event(
    tmp_path: Path, catalog: Catalog, template
) -> None:
    root = tmp_path / "c"
    run(write_catalog(root, catalog))
    catalog.find("checkout-svc-2")["spec"]["owner"] = "group:default/platform"
    catalog.find("checkout-svc-2")["spec"]["lifecycle"] = "deprecated"
    sync, report = run(write_catalog(root, catalog))
    service = Service.objects.get(slug="checkout-svc-2")
    assert service.team.slug == "platform"
    assert service.lifecycle == Service.Lifecycle.RETIRED
    moved = AuditEvent.objects.get(action=AuditEvent.Action.SERVICE_MOVED)
    assert moved.service == service and moved.actor is None
    assert moved.payload == {
        "from": "checkout",
        "to": "platform",
        "source": "catalog",
        "entity": "component:default/checkout-svc-2",
    }
    updated = AuditEvent.objects.get(action=AuditEvent.Action.SERVICE_UPDATED)
    assert updated.payload["changes"] == {
        "catalog_lifecycle": ["production", "deprecated"],
        "lifecycle": ["production", "retired"],
    }
    assert [(c.entity_ref, c.action) for c in sync.changes.all()] == [
        ("component:default/checkout-svc-2", "moved"),
        ("component:default/checkout-svc-2", "updated"),
    ]
    assert report.counts["moved"] == 1


def test_an_entity_that_leaves_is_marked_and_listed_never_deleted(
    tmp_path: Path, catalog: Catalog, template
) -> None:
    root = tmp_path / "c"
    run(write_catalog(root, catalog))
    catalog.remove("growth-svc-4")
    sync, _ = run(write_catalog(root, catalog))
    service = Service.objects.get(slug="growth-svc-4")  # still there, with its history
    assert service.catalog_removed_at is not None
    record = CatalogEntity.objects.get(ref="component:default/growth-svc-4")
    assert record.removed_at is not None
    assert [(c.entity_ref, c.action) for c in sync.changes.all()] == [
        ("component:default/growth-svc-4", "removed")
    ]
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.SERVICE_UPDATED, payload__catalog="removed"
        ).count()
        == 1
    )
    # Removed once: the next import marks nothing again.
    sync, _ = run(write_catalog(root, catalog))
    assert sync.changed == 0
    # Back in the catalog: cleared.
    run(write_catalog(root, example_catalog()))
    service.refresh_from_db()
    assert service.catalog_removed_at is None


def test_a_source_with_no_entities_fails_and_marks_nothing_removed(
    tmp_path: Path, catalog_dir: Path
) -> None:
    run(catalog_dir / "all.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    sync, _ = run(empty)
    assert sync is not None and sync.status == CatalogSync.Status.FAILED
    assert "no entities" in sync.error
    missing, _ = run(tmp_path / "nowhere")
    assert missing is not None and "no such file or directory" in missing.error
    assert not Service.objects.filter(catalog_removed_at__isnull=False).exists()


def test_a_dry_run_writes_nothing(catalog_dir: Path) -> None:
    sync, report = run(catalog_dir / "all.yaml", dry_run=True)
    assert sync is None and report.counts["created"] == 80
    assert not Service.objects.exists() and not Team.objects.exists()
    assert not CatalogSync.objects.exists() and not AuditEvent.objects.exists()


def test_a_service_registered_by_hand_is_linked_and_a_taken_slug_is_refused(
    catalog_dir: Path, team, template, lead
) -> None:
    from portal import services as portal_services

    hand = portal_services.service_create(
        name="Payments 1", slug="payments-svc-1", team=team, template=template, actor=lead
    )
    Service.objects.filter(slug="payments-svc-2").delete()
    other = portal_services.service_create(
        name="Other", slug="payments-svc-2", team=team, template=template, actor=lead
    )
    Service.objects.filter(pk=other.pk).update(catalog_ref="component:elsewhere/payments-svc-2")
    sync, _ = run(catalog_dir / "all.yaml")
    hand.refresh_from_db()
    assert hand.catalog_ref == "component:default/payments-svc-1"
    assert hand.name == "Payments Svc 1"  # the catalog's title from now on
    refused = sync.refusals.get(entity_ref="component:default/payments-svc-2")
    assert (
        refused.reason == "the slug 'payments-svc-2' is taken by component:elsewhere/payments-svc-2"
    )


def test_catalog_info_files_are_found_anywhere_in_a_tree(tmp_path: Path, template) -> None:
    from tests.support.backstage import component, dump, group

    (tmp_path / "services" / "orders").mkdir(parents=True)
    (tmp_path / "services" / "orders" / "catalog-info.yaml").write_text(
        dump([component("orders", "shop", 0)])
    )
    (tmp_path / "catalog-info.yaml").write_text(dump([group("shop", "Shop")]))
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "catalog-info.yaml").write_text("not: read")
    sync, _ = run(tmp_path)
    assert sync.status == "succeeded" and sync.counts == {"created": 2}
    assert Service.objects.get(slug="orders").team.name == "Shop"
