from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the hash chain of the sign-off history; exits non-zero at the first break."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"audit chain BROKEN at event #{broken.event_id}: {broken.reason} "
                f"({checked} events read)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
