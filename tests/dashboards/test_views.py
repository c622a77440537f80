"""Dashboard pages, their live fragments (htmx) and the exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import plotly
import pytest
from django.conf import settings
from django.test import Client

from checks.models import ValidationRun
from tests.conftest import PASSWORD
from tests.dashboards.conftest import make_run, set_states

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_in(lead) -> Client:
    client = Client()
    client.force_login(lead)
    return client


def test_home_is_the_team_dashboard_of_a_member_and_the_portfolio_otherwise(
    client_in, reviewer
) -> None:
    response = client_in.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboards/teams/payments/"
    client = Client()
    client.force_login(reviewer)  # of no team
    assert client.get("/")["Location"] == "/dashboards/"


def test_signing_in_lands_on_the_team_dashboard(lead) -> None:
    response = Client().post("/login/", {"username": "lead", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/dashboards/teams/payments/"
    assert response.status_code == 200


def test_pages_carry_figures_as_json_and_no_inline_script(client_in, service) -> None:
    make_run(service, {"smoke.health": "pass", "api.openapi": "fail"})
    for url, chart in [
        ("/dashboards/", "heatmap"),
        ("/dashboards/teams/payments/", "services"),
        ("/dashboards/services/orders/", "check_timeline"),
    ]:
        response = client_in.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert f'data-figure="chart-{chart}-data"' in html
        assert f'<script id="chart-{chart}-data" type="application/json">' in html
        assert "/static/vendor/plotly.min.js" in html and "/static/js/dashboards.js" in html
        # Every <script> is either a file or inert JSON: nothing for a strict CSP to block.
        for tag in html.split("<script")[1:]:
            head = tag.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, head


def test_the_live_fragment_polls_while_a_run_is_in_flight_and_then_stops(
    client_in, service
) -> None:
    run = ValidationRun.objects.create(service=service, status="running", keys=["a", "b"])
    for url in ["/dashboards/", "/dashboards/teams/payments/", "/dashboards/services/orders/"]:
        page = client_in.get(url).content.decode()
        assert 'hx-trigger="every' in page and 'data-moving="yes"' in page
        fragment = client_in.get(url, **HTMX)
        assert fragment.status_code == 200
        body = fragment.content.decode()
        assert body.lstrip().startswith('<div id="dashboard"')
        assert f'data-signature="{run.pk}:running:0"' in body
    ValidationRun.objects.filter(pk=run.pk).update(status="passed")
    stopped = client_in.get("/dashboards/services/orders/", **HTMX)
    assert stopped.status_code == 286
    assert 'data-moving="no"' in stopped.content.decode()
    assert "hx-trigger" not in stopped.content.decode()


def test_another_teams_run_does_not_keep_a_team_page_polling(
    client_in, service, other_team, template
) -> None:
    from tests.dashboards.conftest import make_service

    other = make_service(other_team, template, "elsewhere")
    ValidationRun.objects.create(service=other, status="queued", keys=["a"])
    assert client_in.get("/dashboards/teams/payments/", **HTMX).status_code == 286
    assert client_in.get("/dashboards/services/orders/", **HTMX).status_code == 286
    assert client_in.get("/dashboards/teams/search/", **HTMX).status_code == 200
    assert client_in.get("/dashboards/", **HTMX).status_code == 200


def test_csv_and_json_exports_hold_the_table_behind_the_chart(client_in, service) -> None:
    set_states(service, "done")
    make_run(service, {"api.openapi": "fail"})
    response = client_in.get("/dashboards/data/failing_checks.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="portfolio-failing_checks.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["key", "failing_services", "erroring_services"], ["api.openapi", "1", "0"]]

    doc = json.loads(client_in.get("/dashboards/data/states.json").content)
    assert doc["columns"] == ["team", "team_name", "state", "services"]
    assert {"team": "payments", "team_name": "Payments", "state": "ready", "services": 1} in doc[
        "rows"
    ]

    timeline = json.loads(
        client_in.get("/dashboards/services/orders/data/check_timeline.json").content
    )
    assert [(r["key"], r["status"]) for r in timeline["rows"]] == [("api.openapi", "fail")]
    team_csv = client_in.get("/dashboards/teams/payments/data/services.csv").content.decode()
    assert team_csv.splitlines()[1].startswith("orders,Orders API,1,ready,100,100,1,failed,")


def test_exports_refuse_unknown_tables_and_formats(client_in, service) -> None:
    assert client_in.get("/dashboards/data/nope.csv").status_code == 404
    assert client_in.get("/dashboards/data/states.xml").status_code == 404
    assert client_in.get("/dashboards/services/orders/data/nope.json").status_code == 404
    assert client_in.get("/dashboards/teams/payments/data/nope.json").status_code == 404
    assert client_in.get("/dashboards/teams/nobody/data/services.json").status_code == 404


def test_an_uninstalled_app_leaves_an_empty_panel_with_a_note(client_in, service, monkeypatch):
    # Simulates the reviews/drills apps being absent (they are built by other teams).
    from dashboards.selectors import common

    class NothingInstalled:
        @staticmethod
        def is_installed(label: str) -> bool:
            return False

    monkeypatch.setattr(common, "apps", NothingInstalled)
    html = client_in.get("/dashboards/").content.decode()
    assert "Launch reviews are not installed yet" in html
    html = client_in.get("/dashboards/services/orders/").content.decode()
    assert "Alert events are not installed yet" in html


def test_dashboards_need_a_signed_in_user(service) -> None:
    response = Client().get("/dashboards/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_vendored_plotly_is_the_installed_packages_own() -> None:
    vendored = Path(settings.BASE_DIR, "static/vendor/plotly.min.js").read_bytes()
    shipped = Path(plotly.__file__).parent.joinpath("package_data/plotly.min.js").read_bytes()
    assert vendored == shipped, "re-copy plotly/package_data/plotly.min.js to static/vendor/"


def test_a_heatmap_cell_opens_the_teams_services_with_open_items_in_that_section(
    client_in, payments_services, service
) -> None:
    alpha, beta = payments_services
    set_states(alpha, "done")  # alpha has nothing open anywhere
    from portal.models import ItemState

    ItemState.objects.filter(service=beta, item__section__key="security").update(state="done")
    url = next(
        r["url"]
        for r in json.loads(client_in.get("/dashboards/data/heatmap.json").content)["rows"]
        if r["team"] == "payments" and r["section"] == "security"
    )
    assert url == "/services/?team=payments&section=security"
    html = client_in.get(url).content.decode()
    assert "/services/orders/" in html  # nothing done: open security items
    assert "/services/beta/" not in html and "/services/alpha/" not in html
    # The readiness figures of the listed rows are not multiplied by the filter.
    rows = client_in.get(url + "&q=orders").content.decode()
    assert 'title="0%"' in rows and 'title="100%"' not in rows
