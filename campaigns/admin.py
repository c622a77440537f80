from django.contrib import admin

from campaigns.models import Campaign, CampaignReminder
from core.admin import ReadOnlyAdmin


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    """Read-only: campaigns are created through campaigns.services (validated, audited)."""

    list_display = ["name", "template_key", "target_level", "starts_on", "due_on", "owner"]


@admin.register(CampaignReminder)
class CampaignReminderAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "team", "kind", "period", "sent_at", "behind"]
