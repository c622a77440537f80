from django.contrib import admin

from sso.models import Identity


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    """Admins link an existing account to a provider identity (issuer + subject) here; sign-in
    keeps the rest up to date."""

    list_display = ("user", "issuer", "subject", "last_sign_in_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("created_at", "last_sign_in_at", "last_groups")
    autocomplete_fields = ("user",)
