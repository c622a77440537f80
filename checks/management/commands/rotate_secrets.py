from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from checks import secrets
from checks.models import StagingProfile


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of PREFLIGHT_SECRET_KEYS."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        for profile in StagingProfile.objects.select_for_update():
            profile.secrets = {k: secrets.rotate(v) for k, v in profile.secrets.items()}
            profile.save(update_fields=["secrets"])
            count += len(profile.secrets)
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {count} secret(s)"))
