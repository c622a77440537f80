from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import checkpoints


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head and publish it (log stream and "
        "PREFLIGHT_AUDIT_CHECKPOINT_PATH). Beat does this periodically."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rollback",
            default="",
            metavar="REASON",
            help="accept a head behind the last checkpoint (a restored backup), saying why",
        )
        parser.add_argument(
            "--force", action="store_true", help="publish even if the head has not moved"
        )
        parser.add_argument("--quiet", action="store_true", help="print nothing on success")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = checkpoints.publish(rollback=options["rollback"], force=options["force"])
        except checkpoints.CheckpointError as exc:
            raise CommandError(f"no checkpoint published: {exc}") from None
        if options["quiet"]:
            return
        if checkpoint is None:
            self.stdout.write("the head has not moved since the last checkpoint: nothing to do")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint published: event number {checkpoint.seq}, hash {checkpoint.hash} "
                f"({checkpoints.checkpoint_path()})"
            )
        )
