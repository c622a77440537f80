import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from checks.models import StagingProfile
from checks.services import profiles
from portal.models import Service

# Steps 4-6 against the reference service's own /__drill/ hooks: a load target it holds on
# this machine, and windows short enough to watch (the alert arrives within seconds when
# `make run` started Prometheus and Alertmanager). `make run` starts the reference services
# with REF_LOGIN_LIMIT=40: a full run with drills logs in more than 10 times a minute.
DRILLS = """[limits]
login_attempts = 40
[hooks]
preset = "reference"
[load]
target_rps = 20
duration_s = 8
p95_ms = 1000
cache_hit_target = 0.2
[alerts]
deadline_s = 60
resolve_deadline_s = 60
traffic_rps = 10
[rollout]
sample_size = 200
window_s = 2
deadline_s = 10
"""


class Command(BaseCommand):
    help = (
        "Point the demo services at the local reference services (`make run` starts them): "
        "probe password, OTP secret and drill hooks token from REF_PROBE_PASSWORD / "
        "REF_OTP_SECRET / REF_DRILL_TOKEN, encrypted. The profiles exercise the drills: the "
        "reference hooks preset, a load target, short alert and rollout windows."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password, otp = os.environ.get("REF_PROBE_PASSWORD"), os.environ.get("REF_OTP_SECRET")
        drill_token = os.environ.get("REF_DRILL_TOKEN")
        if not password or not otp or not drill_token:
            raise CommandError("REF_PROBE_PASSWORD, REF_OTP_SECRET and REF_DRILL_TOKEN must be set")
        for service in Service.objects.filter(slug__in=["orders", "inventory"]):
            if StagingProfile.objects.filter(service=service).exists():
                continue
            toml = (
                f'[service]\nname = "{service.slug}"\nbase_url = "{service.staging_base_url}"\n'
                f'[auth]\nusername = "probe"\n{DRILLS}'
            )
            profiles.profile_save(
                service=service,
                toml=toml,
                new_secrets={"password": password, "otp_secret": otp, "hooks_token": drill_token},
                clear=[],
                actor=None,
            )
            self.stdout.write(f"staging profile for {service.slug} -> {service.staging_base_url}")
