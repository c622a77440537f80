"""The other sources: a git repository (through checks' guarded clone, a real git on a real
repository) and a Backstage catalog's HTTP API (the documented entity JSON over real HTTP on
loopback, paged, with a bearer token, through the guarded client); the command, the
scheduled task."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogsync.models import CatalogSync
from catalogsync.services import import_catalog
from catalogsync.tasks import sync_catalog
from portal.models import Service, Team
from tests.support.backstage import Catalog, CatalogApi, write_catalog
from tests.support.gitrepos import git, write_and_commit

TOKEN = "catalog-bearer-token-for-tests"


@pytest.fixture
def api_settings(settings):
    settings.PREFLIGHT_CATALOG_TOKEN = TOKEN
    settings.PREFLIGHT_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    return settings


def test_a_repository_is_cloned_and_its_catalog_files_imported(
    tmp_path: Path, catalog: Catalog, template
) -> None:
    repo = tmp_path / "repo"
    write_catalog(repo, catalog)
    (repo / "all.yaml").rename(repo / "catalog-info.yaml")
    git("init", "-q", "-b", "main", cwd=repo)
    write_and_commit(repo, {}, "catalog")
    sync, report = import_catalog(source=f"git+{repo.as_uri()}#main")
    assert sync is not None and sync.status == CatalogSync.Status.SUCCEEDED, sync.error
    assert Service.objects.count() == 70 and Team.objects.count() == 10
    assert report.counts["refused"] == 10


def test_a_repository_that_cannot_be_cloned_fails_the_sync(tmp_path: Path, template) -> None:
    sync, _ = import_catalog(source=f"git+{(tmp_path / 'none').as_uri()}")
    assert sync is not None and sync.status == CatalogSync.Status.FAILED
    assert sync.error.startswith("git clone failed")
    assert not Service.objects.exists()


def test_the_catalog_api_is_read_page_by_page_with_the_token(
    api_settings, catalog: Catalog, template
) -> None:
    with CatalogApi(catalog.entities, token=TOKEN) as api:
        sync, report = import_catalog(source=api.url)
    assert sync is not None and sync.status == CatalogSync.Status.SUCCEEDED, sync.error
    # Only Components and Groups are asked for (Backstage ORs repeated filters).
    assert sync.entities_read == 80
    assert Service.objects.count() == 70 and Team.objects.count() == 10
    [page] = api.requests  # 80 entities in one page of 200
    assert page.startswith("/api/catalog/entities/by-query?limit=200")
    assert "filter=kind%3Dcomponent&filter=kind%3Dgroup" in page
    assert report.counts["created"] == 80 and "refused" not in report.counts


def test_small_pages_follow_the_cursor_to_the_end(api_settings, catalog: Catalog, template) -> None:
    from catalogsync import sources

    with CatalogApi(catalog.entities, token=TOKEN) as api:
        reading = sources.read_api(api.url, _client(), token=TOKEN, page_size=25)
    assert len(reading.entities) == 80
    assert len(api.requests) == 4  # 25 + 25 + 25 + 5
    assert "cursor=" in api.requests[1] and "limit=25" in api.requests[1]


def _client():
    from checks.engine import shared_client
    from checks.selectors import outbound_policy

    return shared_client(outbound_policy(), timeout=5.0)


def test_an_older_catalog_is_read_with_limit_and_offset(
    api_settings, catalog: Catalog, template
) -> None:
    from catalogsync import sources

    with CatalogApi(catalog.entities, token=TOKEN, legacy=True) as api:
        reading = sources.read_api(api.url + "/api/catalog", _client(), token=TOKEN, page_size=50)
    assert len(reading.entities) == 80
    kinds = "filter=kind%3Dcomponent&filter=kind%3Dgroup"
    assert [r.split("?")[1] for r in api.requests[1:]] == [
        f"limit=50&offset=0&{kinds}",
        f"limit=50&offset=50&{kinds}",
    ]


def test_a_failed_page_imports_nothing(api_settings, catalog: Catalog, template) -> None:
    from catalogsync import sources

    with CatalogApi(catalog.entities, token=TOKEN) as api:
        api.fail_page = 3
        with pytest.raises(sources.SourceFailed, match=r"\(page 3\) answered 500"):
            sources.read_api(api.url, _client(), token=TOKEN, page_size=25)
        api.fail_page = 1
        sync, _ = import_catalog(source=api.url)
    assert sync is not None and sync.status == CatalogSync.Status.FAILED
    assert sync.error.endswith("by-query answered 500")
    assert not Service.objects.exists() and not Team.objects.exists()


def test_a_wrong_token_is_a_failed_sync_that_never_shows_the_token(
    api_settings, catalog: Catalog, template
) -> None:
    with CatalogApi(catalog.entities, token="another-token") as api:
        sync, _ = import_catalog(source=api.url)
    assert sync is not None and sync.status == CatalogSync.Status.FAILED
    assert "answered 401" in sync.error and TOKEN not in sync.error


def test_the_command_reports_changes_and_refusals(catalog_dir: Path) -> None:
    out = io.StringIO()
    call_command("import_catalog", str(catalog_dir / "all.yaml"), "--quiet", stdout=out)
    text = out.getvalue()
    assert "80 created, 37 ignored" in text
    assert (
        "refused   component:default/no-owner (components/broken.yaml#1): spec.owner is missing"
        in text
    )
    out = io.StringIO()
    call_command("import_catalog", str(catalog_dir / "all.yaml"), "--json", stdout=out)
    [report] = json.loads(out.getvalue())
    assert report["status"] == "succeeded" and report["changes"] == []
    assert report["counts"]["unchanged"] == 80 and len(report["refused"]) == 10


def test_the_command_fails_for_a_source_it_cannot_read(tmp_path: Path, template) -> None:
    with pytest.raises(CommandError, match="1 of 1 source"):
        call_command("import_catalog", str(tmp_path / "nowhere"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="PREFLIGHT_CATALOG_SOURCES is empty"):
        call_command("import_catalog", stdout=io.StringIO())


def test_the_scheduled_sync_imports_every_configured_source(
    settings, catalog_dir: Path, tmp_path: Path
) -> None:
    settings.PREFLIGHT_CATALOG_SOURCES = [str(catalog_dir / "all.yaml"), str(tmp_path / "gone")]
    sync_catalog()
    syncs = {s.source: s for s in CatalogSync.objects.all()}
    assert syncs[str(catalog_dir / "all.yaml")].status == "succeeded"
    assert syncs[str(catalog_dir / "all.yaml")].trigger == "schedule"
    assert syncs[str(tmp_path / "gone")].status == "failed"
    # A source whose sync still runs is skipped.
    CatalogSync.objects.create(source=str(catalog_dir / "all.yaml"))
    sync_catalog()
    assert CatalogSync.objects.filter(source=str(catalog_dir / "all.yaml")).count() == 2
    settings.PREFLIGHT_CATALOG_SOURCES = []
    sync_catalog()  # nothing configured: nothing done
    assert CatalogSync.objects.count() == 4
