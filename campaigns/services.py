"""Writes of campaigns: creating one (validated against its template, audited) and the
reminders (idempotent; through reviews' notification path: email to the team's leads and
Slack-format webhooks of the team, enqueued after the commit, delivered by the worker)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from campaigns.models import Campaign, CampaignReminder
from campaigns.selectors import Standing, by_team, standing, state
from checks.selectors import check_keys
from core.errors import InvalidInput
from portal import audit
from portal.models import AuditEvent, ChecklistTemplate, Service, Team
from reviews.notify import fan_out_team

_LISTED = 5  # services named in a reminder before "and N more"


@transaction.atomic
def campaign_create(
    *,
    name: str,
    owner: AbstractBaseUser,
    starts_on: date,
    due_on: date,
    template_key: str,
    target_level: str = "",
    target_items: list[str] | None = None,
    target_checks: list[str] | None = None,
    tiers: list[int] | None = None,
    teams: list[Team] | None = None,
    lifecycles: list[str] | None = None,
    description: str = "",
    slug: str = "",
    actor: AbstractBaseUser | None = None,
) -> Campaign:
    """Create a campaign; bad input is refused naming the field, and nothing is written."""
    name = name.strip()
    if not name:
        raise InvalidInput("name: a campaign needs a name.")
    slug = slugify(slug or name)[:100]
    if not slug or Campaign.objects.filter(slug=slug).exists():
        raise InvalidInput(f"slug: {slug!r} is taken or empty.")
    if due_on < starts_on:
        raise InvalidInput("due_on: the due date is before the start date.")
    template = ChecklistTemplate.objects.filter(key=template_key).order_by("-version").first()
    if template is None:
        raise InvalidInput(f"template_key: no template {template_key!r}.")
    levels = [level["key"] for level in template.levels]
    if target_level and target_level not in levels:
        raise InvalidInput(
            f"target_level: {target_level!r} is not a level of {template_key} "
            f"({', '.join(levels) or 'it has none'})."
        )
    items = sorted(set(target_items or []))
    unknown = sorted(set(items) - set(template.items.values_list("key", flat=True)))
    if unknown:
        raise InvalidInput(f"target_items: not items of {template_key}: {', '.join(unknown)}.")
    checks = sorted(set(target_checks or []))
    unknown = sorted(set(checks) - set(check_keys()))
    if unknown:
        raise InvalidInput(f"target_checks: not check keys: {', '.join(unknown)}.")
    if not (target_level or items or checks):
        raise InvalidInput("target: name a level, items or check keys.")
    tiers = sorted(set(tiers or []))
    if any(t not in Service.Tier.values for t in tiers):
        raise InvalidInput("tiers: a tier is 1, 2 or 3.")
    lifecycles = sorted(set(lifecycles or []))
    if any(lc not in Service.Lifecycle.values for lc in lifecycles):
        raise InvalidInput(f"lifecycles: one of {', '.join(Service.Lifecycle.values)}.")
    campaign = Campaign.objects.create(
        slug=slug,
        name=name,
        description=description.strip(),
        owner=owner,  # type: ignore[misc]
        template_key=template_key,
        target_level=target_level,
        target_items=items,
        target_checks=checks,
        tiers=tiers,
        lifecycles=lifecycles,
        starts_on=starts_on,
        due_on=due_on,
    )
    campaign.teams.set(teams or [])
    audit.record(
        action=AuditEvent.Action.CAMPAIGN_CREATED,
        actor=actor or owner,
        note=f"{campaign.name}: {campaign.target_text} by {due_on.isoformat()}",
        payload=_payload(campaign),
    )
    return campaign


def _payload(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign": campaign.slug,
        "owner": campaign.owner.get_username(),
        "template": campaign.template_key,
        "target_level": campaign.target_level,
        "target_items": campaign.target_items,
        "target_checks": campaign.target_checks,
        "tiers": campaign.tiers,
        "lifecycles": campaign.lifecycles,
        "teams": sorted(campaign.teams.values_list("slug", flat=True)),
        "starts_on": campaign.starts_on.isoformat(),
        "due_on": campaign.due_on.isoformat(),
    }


# --- reminders ------------------------------------------------------------------------------


def _week(today: date) -> str:
    year, week, _ = today.isocalendar()
    return f"{year}-W{week:02d}"


def _due_kind(
    campaign: Campaign, team_id: int, behind: int, today: date, now: datetime
) -> tuple[str, str] | None:
    """Which reminder (kind, period) a team gets now, if any: the start notice first, then
    the overdue notice, then one a week while behind (none within 7 days of the last)."""
    sent = CampaignReminder.objects.filter(campaign=campaign, team_id=team_id)
    if not sent.filter(kind=CampaignReminder.Kind.START).exists():
        return CampaignReminder.Kind.START, ""
    if not behind:
        return None
    if today > campaign.due_on and not sent.filter(kind=CampaignReminder.Kind.OVERDUE).exists():
        return CampaignReminder.Kind.OVERDUE, ""
    last = sent.order_by("-sent_at").values_list("sent_at", flat=True).first()
    if last is None or now - last >= timedelta(days=7):
        return CampaignReminder.Kind.WEEKLY, _week(today)
    return None


def _message(
    campaign: Campaign, kind: str, team_name: str, rows: list[Standing]
) -> tuple[str, str]:
    behind = [s for s in rows if not s.there]
    head = {
        CampaignReminder.Kind.START: "started",
        CampaignReminder.Kind.WEEKLY: "weekly reminder",
        CampaignReminder.Kind.OVERDUE: "OVERDUE",
    }[CampaignReminder.Kind(kind)]
    title = f"Campaign {campaign.name}: {head}"
    text = (
        f"*{campaign.name}*: {campaign.target_text}, due {campaign.due_on.isoformat()}. "
        f"{team_name}: {len(rows) - len(behind)} of {len(rows)} service(s) there."
    )
    if behind:
        named = "; ".join(
            f"{s.name} lacks {len(s.lacks)}: {', '.join(m.key for m in s.lacks[:3])}"
            + ("…" if len(s.lacks) > 3 else "")
            for s in behind[:_LISTED]
        )
        more = f" and {len(behind) - _LISTED} more" if len(behind) > _LISTED else ""
        text += f"\nNot there yet: {named}{more}."
    return title, text


def send_reminders(*, now: datetime | None = None) -> int:
    """Send the reminders due now (beat, hourly; idempotent). Returns how many were sent."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    sent = 0
    for campaign in Campaign.objects.filter(starts_on__lte=today).select_related("owner"):
        rows = standing(campaign, now=now)
        if state(campaign, rows, today) == "done" and campaign.reminders.exists():
            continue
        url = settings.PREFLIGHT_BASE_URL.rstrip("/") + reverse(
            "campaigns:detail", args=[campaign.slug]
        )
        for team in by_team(rows):
            mine = [s for s in rows if s.team == team.team]
            behind = team.in_scope - team.there
            due = _due_kind(campaign, mine[0].team_id, behind, today, now)
            if due is None:
                continue
            kind, period = due
            try:
                with transaction.atomic():
                    CampaignReminder.objects.create(
                        campaign=campaign,
                        team_id=mine[0].team_id,
                        kind=kind,
                        period=period,
                        sent_at=now,
                        behind=behind,
                        in_scope=team.in_scope,
                    )
                    title, text = _message(campaign, kind, team.team_name, mine)
                    fan_out_team(mine[0].team_id, title, text, url)
                    audit.record(
                        action=AuditEvent.Action.CAMPAIGN_REMINDED,
                        actor=None,
                        note=f"{title} ({team.team})",
                        payload={
                            "campaign": campaign.slug,
                            "team": team.team,
                            "kind": kind,
                            "period": period,
                            "behind": behind,
                            "in_scope": team.in_scope,
                        },
                    )
            except IntegrityError:
                continue  # another beat run sent it meanwhile
            sent += 1
    return sent
