"""The catalog page for admins (last sync, what changed, what was refused and why, what left
the catalog), the service page's link to its entity, and the API answer a Backstage card
asks for: Preflight's verdict on a catalog entity."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.test import Client

from catalogsync.services import import_catalog
from portal.models import Service
from reviews import services as review_services
from tests.support.backstage import Catalog, write_catalog


def test_admins_see_the_last_sync_its_changes_and_its_refusals(
    settings, tmp_path: Path, catalog: Catalog, template, admin_user
) -> None:
    root = tmp_path / "c"
    source = str(write_catalog(root, catalog))
    settings.PREFLIGHT_CATALOG_SOURCES = [source]
    first, _ = import_catalog(source=source)
    catalog.remove("mobile-svc-3")
    second, _ = import_catalog(source=str(write_catalog(root, catalog)))
    client = Client()
    client.force_login(admin_user)
    page = client.get("/catalog/").content.decode()
    assert f"#{second.pk}" in page and "Succeeded" in page
    assert "component:default/mobile-svc-3" in page  # listed as no longer in the catalog
    assert "Sync now" in page
    detail = client.get(f"/catalog/syncs/{second.pk}/").content.decode()
    assert "Removed from the catalog (marked, kept)" in detail
    assert "spec.owner is missing" in detail and "component:default/no-owner" in detail
    first_page = client.get(f"/catalog/syncs/{first.pk}/").content.decode()
    assert first_page.count("<td>Created</td>") == 80

    client.force_login(User.objects.create_user(username="someone"))
    assert client.get("/catalog/").status_code == 403
    assert client.get(f"/catalog/syncs/{first.pk}/").status_code == 403
    assert client.post("/catalog/sync/", {"source": source}).status_code == 403


def test_sync_now_takes_configured_sources_only(settings, admin_user, tmp_path: Path) -> None:
    settings.PREFLIGHT_CATALOG_SOURCES = ["/srv/catalog"]
    client = Client()
    client.force_login(admin_user)
    answer = client.post("/catalog/sync/", {"source": str(tmp_path)}, follow=True)
    assert "Only a configured source" in answer.content.decode()


def test_the_service_page_links_to_its_catalog_entity(settings, catalog_dir: Path, lead) -> None:
    settings.PREFLIGHT_CATALOG_UI_URL = "https://backstage.example.com"
    import_catalog(source=str(catalog_dir / "all.yaml"))
    client = Client()
    client.force_login(lead)
    page = client.get("/services/payments-svc-1/").content.decode()
    assert 'href="https://backstage.example.com/catalog/default/component/payments-svc-1"' in page
    assert "system:default/discovery" in page
    assert 'href="https://runbooks.example.com/payments-svc-1"' in page
    settings.PREFLIGHT_CATALOG_UI_URL = ""
    page = client.get("/services/payments-svc-1/").content.decode()
    assert "<code>component:default/payments-svc-1</code>" in page
    # A link edited by hand into something a browser would run is not rendered.
    Service.objects.filter(slug="payments-svc-1").update(
        catalog_links=[{"url": "javascript:alert(1)", "title": "x"}]
    )
    page = client.get("/services/payments-svc-1/").content.decode()
    assert "javascript:" not in page


def test_the_api_gives_the_verdict_on_a_catalog_entity(
    ready_service, lead, search_reviewers, api_token
) -> None:
    Service.objects.filter(pk=ready_service.pk).update(catalog_ref="component:default/orders")
    token = api_token("read")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    answer = client.get("/api/v1/catalog/readiness", {"entity": "component:default/orders"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["verdict"] == "not_ready" and body["approved"] is False
    assert "no launch has been requested" in body["reasons"]
    assert body["checklist"]["percent"] == 100 and body["checklist"]["state"] == "ready"
    assert body["service"] == "orders" and body["url"].endswith("/services/orders/")

    review = review_services.launch_request(
        service=ready_service, actor=lead, target_date=date.today() + timedelta(days=1)
    )
    for reviewer in search_reviewers:
        review_services.launch_approve(review=review, actor=reviewer)
    # Backstage's short forms: the kind defaults to component, the namespace to default.
    for ref in ("component:default/orders", "Component:Default/Orders", "orders", "default/orders"):
        body = client.get("/api/v1/catalog/readiness", {"entity": ref}).json()
        assert body["verdict"] == "ready" and body["approved"] is True, ref

    missing = client.get("/api/v1/catalog/readiness", {"entity": "component:default/nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/catalog/readiness").status_code == 400
    assert Client().get("/api/v1/catalog/readiness", {"entity": "orders"}).status_code == 401
