from django.contrib import admin

from core.admin import ReadOnlyAdmin
from reviews.models import FactReport, LaunchReview, TeamWebhook


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
