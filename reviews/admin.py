from django.contrib import admin

from core.admin import ReadOnlyAdmin
from reviews.models import Exemption, FactReport, LaunchReview, TeamWebhook


@admin.register(TeamWebhook)
class TeamWebhookAdmin(admin.ModelAdmin):
    list_display = ["team", "url", "active", "created_at"]
    list_filter = ["team", "active"]


@admin.register(LaunchReview)
class LaunchReviewAdmin(ReadOnlyAdmin):
    list_display = ["service", "status", "requested_by", "requested_at", "target_date"]
    list_filter = ["status"]


@admin.register(FactReport)
class FactReportAdmin(ReadOnlyAdmin):
    list_display = ["service", "created_at", "commit", "token_name"]


@admin.register(Exemption)
class ExemptionAdmin(ReadOnlyAdmin):
    """Read-only: exemptions are requested and decided in the product, with their audit."""

    list_display = ["service", "rule", "item_key", "status", "expires_at", "review"]
    list_filter = ["status"]
