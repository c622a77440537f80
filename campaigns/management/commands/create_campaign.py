from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.services import campaign_create
from core.errors import InvalidInput
from portal.models import Team


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Create a campaign: a scope (tiers, teams, lifecycles), a target (a level and/or items "
        "and/or check keys), a start and a due date, an owner. Validated and audited; a bad "
        "value is refused naming it, and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="username")
        parser.add_argument("--starts", required=True, help="YYYY-MM-DD")
        parser.add_argument("--due", required=True, help="YYYY-MM-DD")
        parser.add_argument("--template", default="fastapi-mongo", help="template key")
        parser.add_argument("--level", default="", help="target level key (e.g. silver)")
        parser.add_argument("--items", default="", help="target item keys, comma-separated")
        parser.add_argument("--checks", default="", help="target check keys, comma-separated")
        parser.add_argument("--tiers", default="", help="e.g. 1,2 (default: every tier)")
        parser.add_argument("--teams", default="", help="team slugs (default: every team)")
        parser.add_argument("--lifecycles", default="", help="default: every one but retired")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"owner: no user {options['owner']!r}")
        slugs = _list(options["teams"])
        teams = list(Team.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {t.slug for t in teams})
        if unknown:
            raise CommandError(f"teams: no team {', '.join(unknown)}")
        try:
            tiers = [int(t) for t in _list(options["tiers"])]
        except ValueError:
            raise CommandError("tiers: a list of 1, 2, 3") from None
        try:
            campaign = campaign_create(
                name=options["name"],
                owner=owner,
                starts_on=_date(options["starts"]),
                due_on=_date(options["due"]),
                template_key=options["template"],
                target_level=options["level"],
                target_items=_list(options["items"]),
                target_checks=_list(options["checks"]),
                tiers=tiers,
                teams=teams,
                lifecycles=_list(options["lifecycles"]),
                description=options["description"],
            )
        except InvalidInput as exc:
            raise CommandError(f"campaign not created: {exc}") from None
        self.stdout.write(f"created campaign {campaign.slug}: /campaigns/{campaign.slug}/")
