from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bench.generate import generate


class Command(BaseCommand):
    help = (
        "Generate a large, realistic data set for the dashboards' benchmarks (default: "
        "1,000 services, 30 teams, a year of runs, about a million check results). Use an "
        "empty database: the rows are added to whatever is there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--services", type=int, default=1000)
        parser.add_argument("--teams", type=int, default=30)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        report = generate(
            services_n=options["services"],
            teams_n=options["teams"],
            days=options["days"],
            seed=options["seed"],
            log=self.stdout.write,
        )
        self.stdout.write(
            f"generated {report.teams} teams, {report.services} services, "
            f"{report.audit_events} audit events, {report.runs} runs, {report.results} "
            f"check results, {report.launch_reviews} launch reviews in {report.seconds:.1f} s"
        )
        for note in report.notes:
            self.stdout.write(f"note: {note}")
