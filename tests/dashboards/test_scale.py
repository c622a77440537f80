"""The generator, and query counts that do not grow with the number of services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.generate import generate
from checks.models import CheckResult, ValidationRun
from dashboards import summary
from dashboards.models import CheckStatus
from portal.audit import verify_chain
from portal.models import AuditEvent, ItemState, Service, Team

pytestmark = pytest.mark.django_db

# Fixed bounds per page, whatever the number of services (session, user and the page's
# own aggregated queries). The test runs them at 5 and at 40 services.
# portfolio: +6 for levels (audit head, automatic checklists, templates, items, incomplete
# states, exemptions),
# +3 for campaigns (campaigns, their teams, their templates; a campaign naming items or
# checks adds its own standing, the generated ones name levels only)
MAX_QUERIES = {"portfolio": 25, "team": 14, "service": 14}


def _pages(client: Client) -> dict[str, str]:
    team = Team.objects.order_by("id").first()
    service = Service.objects.filter(team=team).order_by("id").first()
    assert team is not None and service is not None
    return {
        "portfolio": "/dashboards/",
        "team": f"/dashboards/teams/{team.slug}/",
        "service": f"/dashboards/services/{service.slug}/",
    }


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_generate_large_dataset_command_writes_a_verifiable_data_set(template) -> None:
    out = StringIO()
    call_command("generate_large_dataset", services=2, teams=1, days=10, seed=3, stdout=out)
    assert "generated 1 teams, 2 services" in out.getvalue()
    assert Service.objects.count() == 2
    assert verify_chain()[1] is None


def test_generated_data_is_consistent_and_its_audit_chain_verifies(template) -> None:
    report = generate(services_n=6, teams_n=3, days=60, seed=7)
    assert (report.teams, report.services) == (3, 6)
    assert Service.objects.count() == 6
    assert ItemState.objects.count() == 6 * 39
    assert report.runs == ValidationRun.objects.count() > 6
    assert report.results == CheckResult.objects.count()
    assert report.audit_events == AuditEvent.objects.count()
    checked, broken = verify_chain()
    assert broken is None and checked == report.audit_events
    # The bulk-written summary is what the incremental one would be.
    written = set(CheckStatus.objects.values_list("service_id", "key", "status", "result_id"))
    summary.rebuild()
    assert written == set(
        CheckStatus.objects.values_list("service_id", "key", "status", "result_id")
    )
    # Final item states are where the audit history leaves them.
    last = {}
    for service_id, key, to_state in (
        AuditEvent.objects.exclude(item_key="")
        .order_by("id")
        .values_list("service_id", "item_key", "to_state")
    ):
        last[(service_id, key)] = to_state
    for service_id, key, state in ItemState.objects.values_list("service_id", "item_key", "state"):
        assert last.get((service_id, key), "open") == state


@pytest.mark.parametrize("services_n", [5, 40])
def test_query_counts_stay_bounded_whatever_the_number_of_services(
    services_n, template, staff_client, django_assert_max_num_queries
) -> None:
    generate(services_n=services_n, teams_n=3, days=40, seed=3)
    for name, url in _pages(staff_client).items():
        with django_assert_max_num_queries(MAX_QUERIES[name]):
            response = staff_client.get(url)
        assert response.status_code == 200, url
        with django_assert_max_num_queries(MAX_QUERIES[name]):
            assert staff_client.get(url, HTTP_HX_REQUEST="true").status_code in (200, 286)


def test_query_counts_are_the_same_at_5_and_40_services(template, staff_client) -> None:
    counts = []
    for size in (5, 35):
        generate(services_n=size, teams_n=3, days=30, seed=size)
        with CaptureQueriesContext(connection) as ctx:
            for url in _pages(staff_client).values():
                staff_client.get(url)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
