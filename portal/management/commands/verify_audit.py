from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import checkpoints


class Command(BaseCommand):
    help = (
        "Verify the sign-off history: every row's seal (HMAC with PREFLIGHT_AUDIT_KEYS), the "
        "chain's links, the signed checkpoints, and that the chain still reaches the last "
        "published head. Exits non-zero naming what is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoints",
            type=Path,
            metavar="FILE",
            help="checkpoint file to check against (default: PREFLIGHT_AUDIT_CHECKPOINT_PATH)",
        )
        parser.add_argument(
            "--logs",
            type=Path,
            metavar="FILE",
            help="an export of the JSON log stream to take the checkpoints from instead",
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="verify the rows only, when no checkpoint was ever published",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["logs"]:
            sources = [checkpoints.Source(options["logs"], logs=True)]
        else:
            path = options["checkpoints"] or checkpoints.checkpoint_path()
            sources = [checkpoints.Source(path)]
        report = checkpoints.verify(sources, require_checkpoint=not options["no_checkpoint"])
        if not report.ok:
            problems = "\n  ".join(report.problems)
            raise CommandError(
                f"audit chain NOT verified ({report.checked} events read):\n  {problems}"
            )
        if report.last is None:
            self.stdout.write(
                self.style.WARNING(
                    f"audit chain intact: {report.checked} events verified; no checkpoint to "
                    "compare with"
                )
            )
            return
        behind = report.head_seq - report.last.seq
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain intact: {report.checked} events verified; it reaches the last "
                f"of {report.checkpoints} checkpoints (event number {report.last.seq}, "
                f"{report.last.at}), {behind} event(s) after it"
            )
        )
