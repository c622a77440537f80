from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dashboards import summary


class Command(BaseCommand):
    help = "Recompute the dashboards' per service x check summary from the check results."

    def handle(self, *args: Any, **options: Any) -> None:
        count = summary.rebuild()
        self.stdout.write(f"{count} summary rows")
