"""Sign-off history beyond one page (keyset page links) and its CSV/JSON exports, which read
the same filters and permissions as the page."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from portal import audit, selectors
from portal.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _events(service, actor, n: int, note: str = "n") -> None:
    for i in range(n):
        audit.record(action="tick", actor=actor, service=service, item_key=f"k{i}", note=note)


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_keyset_pages_walk_every_event_once_both_ways(service, lead) -> None:
    _events(service, lead, 11)  # + the service_created event: 12
    events = selectors.history(limit=None)
    ids = list(events.values_list("id", flat=True))
    seen, page = [], selectors.history_page(events, size=5)
    assert page.newer is None
    while True:
        seen += [e.pk for e in page.events]
        if page.older is None:
            break
        page = selectors.history_page(events, before=page.older, size=5)
    assert seen == ids and len(seen) == 12
    assert len(page.events) == 2 and page.newer is not None
    back = selectors.history_page(events, after=page.newer, size=5)
    assert [e.pk for e in back.events] == ids[5:10]
    assert back.newer == ids[5] and back.older == ids[9]


def test_a_page_stays_put_while_new_events_arrive(service, lead) -> None:
    _events(service, lead, 6)
    events = selectors.history(limit=None)
    second = selectors.history_page(events, before=selectors.history_page(events, size=3).older)
    _events(service, lead, 4)
    again = selectors.history_page(selectors.history(limit=None), before=second.events[0].pk + 1)
    assert [e.pk for e in again.events][:3] == [e.pk for e in second.events][:3]


def test_the_page_links_go_beyond_200_events_and_keep_the_filters(service, lead) -> None:
    _events(service, lead, 230)
    client = _client(lead)
    url = reverse("portal:history")
    first = client.get(url, {"user": "lead"}).content.decode()
    assert first.count("<tr>") + first.count('<tr class="by-system">') == 1 + 200  # + thead
    newest = AuditEvent.objects.filter(actor=lead).order_by("-id")
    cursor = newest[199].pk
    assert f"?user=lead&amp;before={cursor}" in first and "← Newer" not in first
    second = client.get(url, {"user": "lead", "before": cursor}).content.decode()
    assert second.count("<tr>") == 1 + 31  # the lead's 231 events: 230 ticks, the service
    assert "Older →" not in second and f"after={newest[200].pk}" in second


def test_exports_hold_every_matching_event_as_csv_and_json(service, lead, outsider) -> None:
    _events(service, lead, 205, note='=HYPERLINK("http://evil")')
    audit.record(action="tick", actor=outsider, service=service, item_key="x", note="other")
    client = _client(outsider)  # any signed-in user may read (and export) the history
    url = reverse("portal:service-history-export", args=["orders", "csv"])
    response = client.get(url, {"user": "lead"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="history-orders.csv"'
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert len(rows) == 206  # 205 ticks + service_created, not the outsider's event
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    assert rows[-1]["note"] == '\'=HYPERLINK("http://evil")'  # core.csvsafe
    assert rows[-1]["actor"] == "lead" and rows[-1]["actor_kind"] == "user"
    data = json.loads(_body(client.get(url.replace(".csv", ".json"), {"user": "lead"})))
    assert len(data) == 206 and data[-1]["note"] == '=HYPERLINK("http://evil")'
    assert data[0]["action"] == "service_created" and data[0]["payload"]["tier"] == 1
    assert data[-1]["hash"] == AuditEvent.objects.filter(actor=lead).last().hash


def test_the_system_exports_as_the_system_whatever_a_user_is_called(service, lead) -> None:
    audit.record(action="stale", actor=None, service=service, item_key="k")
    url = reverse("portal:history-export", args=["json"])
    data = json.loads(_body(_client(lead).get(url, {"user": "preflight-system"})))
    assert [(d["actor"], d["actor_kind"]) for d in data] == [("preflight-system", "system")]


def test_an_invalid_filter_exports_nothing_and_says_why(service, lead) -> None:
    response = _client(lead).get(
        reverse("portal:history-export", args=["csv"]), {"since": "yesterday"}
    )
    assert response.status_code == 400
    assert b"since" in response.content and b"Nothing exported" in response.content


def test_exports_need_a_signed_in_user_and_a_known_format(service, lead) -> None:
    anonymous = Client().get(reverse("portal:history-export", args=["csv"]))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert _client(lead).get(reverse("portal:history-export", args=["xml"])).status_code == 404
