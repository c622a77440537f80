import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from checks.models import StagingProfile
from checks.services import profiles
from portal.models import Service


class Command(BaseCommand):
    help = (
        "Point the demo services at the local reference services (`make run` starts them): "
        "probe password and OTP secret from REF_PROBE_PASSWORD / REF_OTP_SECRET, encrypted."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password, otp = os.environ.get("REF_PROBE_PASSWORD"), os.environ.get("REF_OTP_SECRET")
        if not password or not otp:
            raise CommandError("REF_PROBE_PASSWORD and REF_OTP_SECRET must be set")
        for service in Service.objects.filter(slug__in=["orders", "inventory"]):
            if StagingProfile.objects.filter(service=service).exists():
                continue
            toml = (
                f'[service]\nname = "{service.slug}"\nbase_url = "{service.staging_base_url}"\n'
                '[auth]\nusername = "probe"\n'
            )
            profiles.profile_save(
                service=service,
                toml=toml,
                new_secrets={"password": password, "otp_secret": otp},
                clear=[],
                actor=None,
            )
            self.stdout.write(f"staging profile for {service.slug} -> {service.staging_base_url}")
