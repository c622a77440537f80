"""Which provider account is which Preflight account."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """A Preflight account's identity at an OpenID Provider: the provider's ``iss`` and the
    account's ``sub`` there, which never change (usernames and emails may). A sign-in finds
    its account by this pair only, never by username or email: an account made by hand (a
    break-glass admin, say) is not taken over by a provider user of the same name. An admin
    links an existing account to a provider identity by adding a row here."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    # The provider groups of the last sign-in, as sent (what the mapping was applied to).
    last_groups = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identity_unique_subject")
        ]

    def __str__(self) -> str:
        return f"{self.user} = {self.subject} at {self.issuer}"
