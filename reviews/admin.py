from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from reviews.models import FactReport, LaunchReview, TeamWebhook


@admin.register(TeamWebhook)
class TeamWebhookAdmin(admin.ModelAdmin):
    list_display = ["team", "url", "active", "created_at"]
    list_filter = ["team", "active"]


class ReadOnly(admin.ModelAdmin):
    """Reviews and facts change only through their domain operations (which audit them)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LaunchReview)
class LaunchReviewAdmin(ReadOnly):
    list_display = ["service", "status", "requested_by", "requested_at", "target_date"]
    list_filter = ["status"]


@admin.register(FactReport)
class FactReportAdmin(ReadOnly):
    list_display = ["service", "created_at", "commit", "token_name"]
