from typing import Any

from django.core.management.base import BaseCommand, CommandError

from campaigns.demo import load_campaign_demo
from portal.models import ChecklistTemplate


class Command(BaseCommand):
    help = (
        "Demo levels and campaigns (after load_demo): Search API at Silver, Orders at Bronze, "
        'and the campaign "every tier-1 service at Silver" due in four weeks.'
    )

    def handle(self, *args: Any, **options: Any) -> None:
        template = ChecklistTemplate.objects.order_by("-version").first()
        if template is None:
            raise CommandError("no checklist template: run `manage.py import_template` first")
        campaign = load_campaign_demo(template=template)
        if campaign is None:
            self.stdout.write("No demo campaign: load_demo first, and a template with levels.")
        else:
            self.stdout.write(f"Demo campaign: {campaign.name} (due {campaign.due_on})")
