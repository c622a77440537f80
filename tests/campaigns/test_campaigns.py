"""Campaigns: validated creation (audited), scope, what each service lacks, progress per team
at several moments rebuilt from the audit chain, idempotent reminders through the
notification path, the pages and their exports."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from campaigns import selectors
from campaigns.models import Campaign, CampaignReminder
from campaigns.services import campaign_create, send_reminders
from core.errors import InvalidInput
from portal import services
from portal.models import AuditEvent, ChecklistTemplate, ItemState, Membership, Service, Team
from reviews.models import TeamWebhook
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TODAY = date.today()


def _silver_keys(template: ChecklistTemplate) -> list[str]:
    return [r["key"] for level in template.levels[:2] for r in level["requires"]]


def tick(service: Service, keys: list[str], actor: User) -> None:
    for state in service.item_states.filter(item_key__in=keys).order_by("id"):
        services.item_transition(
            service=service,
            item_key=state.item_key,
            action="done",
            actor=actor,
            seen_version=state.version,
            evidence_url=f"https://wiki.example.com/{state.item_key}",
        )


@pytest.fixture
def search_lead(other_team: Team) -> User:
    user = User.objects.create_user("search-lead", password=PASSWORD, email="s@example.com")
    Membership.objects.create(user=user, team=other_team)
    return user


@pytest.fixture
def search_service(other_team: Team, template: ChecklistTemplate, search_lead: User) -> Service:
    return services.service_create(
        name="Search API", slug="search-api", team=other_team, template=template, tier=1,
        actor=search_lead,
    )  # fmt: skip


def _campaign(owner: User, **extra: object) -> Campaign:
    fields: dict = {
        "name": "Every tier-1 service at Silver",
        "owner": owner,
        "template_key": "fastapi-mongo",
        "target_level": "silver",
        "tiers": [1],
        "starts_on": TODAY - timedelta(days=2),
        "due_on": TODAY + timedelta(days=20),
        **extra,
    }
    return campaign_create(**fields)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_level": "platinum"}, "target_level"),
        ({"target_items": ["security.nope"]}, "target_items"),
        ({"target_checks": ["smoke.nope"]}, "target_checks"),
        ({"due_on": TODAY - timedelta(days=10)}, "due_on"),
        ({"template_key": "nope"}, "template_key"),
        ({"target_level": ""}, "target"),
        ({"tiers": [7]}, "tiers"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_bad_campaign_is_refused_naming_the_field_and_nothing_is_written(
    template, reviewer, change, field
) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidInput, match=f"^{field}:"):
        _campaign(reviewer, **change)
    assert not Campaign.objects.exists() and AuditEvent.objects.count() == events


def test_creating_a_campaign_is_audited(template, reviewer) -> None:
    campaign = _campaign(reviewer)
    event = AuditEvent.objects.get(action="campaign_created")
    assert event.actor == reviewer and event.payload["campaign"] == campaign.slug
    assert event.payload["target_level"] == "silver" and event.payload["tiers"] == [1]


def test_the_scope_follows_tiers_teams_and_lifecycle(
    service, search_service, team, template, lead, reviewer
) -> None:
    services.service_create(name="T2", slug="t2", team=team, template=template, tier=2)
    retired = services.service_create(name="Old", slug="old", team=team, template=template, tier=1)
    Service.objects.filter(pk=retired.pk).update(lifecycle="retired")
    campaign = _campaign(reviewer)
    assert set(selectors.services_in_scope(campaign).values_list("slug", flat=True)) == {
        "orders",
        "search-api",
    }
    only_payments = _campaign(reviewer, slug="payments-only", teams=[team])
    assert list(selectors.services_in_scope(only_payments).values_list("slug", flat=True)) == [
        "orders"
    ]


def test_what_each_service_lacks_level_items_and_checks(
    service, search_service, template, lead, search_lead, reviewer
) -> None:
    tick(search_service, _silver_keys(template), search_lead)
    campaign = _campaign(
        reviewer, target_items=["observability.tracing"], target_checks=["smoke.health"]
    )
    rows = {s.slug: s for s in selectors.standing(campaign)}
    orders, search = rows["orders"], rows["search-api"]
    assert not orders.there and len(orders.lacks) == len(_silver_keys(template)) + 2
    assert {m.key for m in search.lacks} == {"observability.tracing", "check:smoke.health"}
    assert search.level == "Silver"


def test_progress_per_team_at_several_moments_is_rebuilt_from_the_audit_chain(
    service, search_service, template, lead, search_lead, reviewer
) -> None:
    campaign = _campaign(reviewer)
    silver = _silver_keys(template)
    t0 = timezone.now()
    tick(search_service, silver, search_lead)
    t1 = timezone.now()
    tick(service, silver, lead)
    t2 = timezone.now()
    services.item_transition(
        service=service, item_key=silver[0], action="reopen", actor=lead,
        seen_version=ItemState.objects.get(service=service, item_key=silver[0]).version,
    )  # fmt: skip
    t3 = timezone.now()

    def at(moment: datetime) -> dict[str, tuple[int, int]]:
        points = selectors.history(campaign, [moment])
        return {p.team: (p.there, p.in_scope) for p in points}

    assert at(t0) == {"payments": (0, 1), "search": (0, 1)}
    assert at(t1) == {"payments": (0, 1), "search": (1, 1)}
    assert at(t2) == {"payments": (1, 1), "search": (1, 1)}
    assert at(t3) == {"payments": (0, 1), "search": (1, 1)}
    # All at once gives the same, and the last moment agrees with the live standing.
    points = selectors.history(campaign, [t0, t1, t2, t3])
    assert [(p.team, p.there) for p in points] == [
        ("payments", 0), ("search", 0), ("payments", 0), ("search", 1),
        ("payments", 1), ("search", 1), ("payments", 0), ("search", 1),
    ]  # fmt: skip
    live = {t.team: t.there for t in selectors.by_team(selectors.standing(campaign))}
    assert live == {"payments": 0, "search": 1}
    # Every change in a small scope is a point of the chart.
    moments = selectors.sample_points(campaign)
    assert len(moments) >= len(silver) * 2 + 1


def test_a_service_created_later_joins_the_progress_when_it_was_registered(
    service, team, template, reviewer
) -> None:
    campaign = _campaign(reviewer)
    before = timezone.now()
    services.service_create(name="Late", slug="late", team=team, template=template, tier=1)
    assert selectors.history(campaign, [before])[0].in_scope == 1
    assert selectors.history(campaign, [timezone.now()])[0].in_scope == 2


@pytest.fixture
def eager():
    from app.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_reminders_at_the_start_weekly_while_behind_and_when_overdue(
    service, search_service, template, lead, search_lead, reviewer, receiver, eager,
    mailoutbox, django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    TeamWebhook.objects.create(team=service.team, url=receiver.url)
    tick(search_service, _silver_keys(template), search_lead)
    campaign = _campaign(reviewer)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(now=now) == 2  # a start notice to each team in scope
        assert send_reminders(now=now) == 0  # idempotent
    kinds = sorted(CampaignReminder.objects.values_list("team__slug", "kind"))
    assert kinds == [("payments", "start"), ("search", "start")]
    (payload,) = receiver.received  # payments' webhook
    assert payload["blocks"][0]["text"]["text"] == f"Campaign {campaign.name}: started"
    assert "0 of 1 service(s) there" in payload["text"] and "Orders API lacks" in payload["text"]
    # Email to each team's members with an address (payments' lead has none here).
    assert [m.to for m in mailoutbox] == [["s@example.com"]]
    assert mailoutbox[0].subject == f"[Preflight] Campaign {campaign.name}: started"
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(now=now + timedelta(days=3)) == 0  # within the week
        assert send_reminders(now=now + timedelta(days=8)) == 1  # payments only: search is there
    assert CampaignReminder.objects.get(kind="weekly").team.slug == "payments"
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(now=now + timedelta(days=21)) == 1
    assert CampaignReminder.objects.filter(kind="overdue", team__slug="payments").exists()
    assert "OVERDUE" in receiver.received[-1]["text"]
    assert AuditEvent.objects.filter(action="campaign_reminded").count() == 4


def test_the_campaign_pages_show_progress_the_due_date_and_what_each_lacks(
    client, service, search_service, template, lead, search_lead, reviewer
) -> None:
    tick(search_service, _silver_keys(template), search_lead)
    campaign = _campaign(reviewer)
    client.force_login(lead)
    listing = client.get("/campaigns/").content.decode()
    assert f'data-due="{campaign.due_on.isoformat()}"' in listing and "1/2" in listing
    page = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert f'data-due="{campaign.due_on.isoformat()}"' in page
    assert 'data-service="orders"' in page and 'data-lacks="security.cors_allowlist"' in page
    assert 'data-figure="chart-progress-data"' in page and 'data-state="active"' in page
    data = page.split('id="chart-progress-data" type="application/json">')[1]
    figure = json.loads(data.split("</script>")[0])
    assert {t["name"] for t in figure["data"]} == {"Payments", "Search", "all teams"}
    service_page = client.get("/services/orders/").content.decode()
    assert f'data-campaign="{campaign.slug}"' in service_page
    assert f'data-due="{campaign.due_on.isoformat()}"' in service_page


def test_the_exports_are_csv_safe_and_json(client, service, team, template, lead, reviewer):
    services.service_create(name="=cmd|' /C calc'!A0", slug="evil", team=team, template=template,
                            tier=1)  # fmt: skip
    campaign = _campaign(reviewer)
    client.force_login(lead)
    csv = client.get(f"/campaigns/{campaign.slug}/data/services.csv").content.decode()
    assert csv.splitlines()[0] == ",".join(selectors.SERVICE_COLUMNS)
    assert "'=cmd" in csv
    doc = json.loads(client.get(f"/campaigns/{campaign.slug}/data/progress.json").content)
    assert doc["campaign"]["due_on"] == campaign.due_on.isoformat()
    assert {r["team"] for r in doc["rows"]} == {"payments"}
    assert client.get(f"/campaigns/{campaign.slug}/data/other.csv").status_code == 404


def test_the_create_campaign_command_creates_or_refuses_naming_the_field(
    template, reviewer, team, capsys
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    due = (TODAY + timedelta(days=30)).isoformat()
    args = ["--owner", "reviewer", "--starts", TODAY.isoformat(), "--due", due]
    with pytest.raises(CommandError, match="target_level: 'platinum' is not a level"):
        call_command("create_campaign", "--name", "X", "--level", "platinum", *args)
    with pytest.raises(CommandError, match="teams: no team nope"):
        call_command("create_campaign", "--name", "X", "--level", "gold", "--teams", "nope", *args)
    assert not Campaign.objects.exists()
    call_command(
        "create_campaign", "--name", "Payments at Gold", "--level", "gold", "--tiers", "1,2",
        "--teams", "payments", *args,
    )  # fmt: skip
    assert "created campaign payments-at-gold" in capsys.readouterr().out
    campaign = Campaign.objects.get()
    assert campaign.tiers == [1, 2] and list(campaign.teams.all()) == [team]


def test_campaign_pages_and_exports_need_a_sign_in(client, template, reviewer) -> None:
    campaign = _campaign(reviewer)
    for url in (
        "/campaigns/",
        f"/campaigns/{campaign.slug}/",
        f"/campaigns/{campaign.slug}/data/services.csv",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
