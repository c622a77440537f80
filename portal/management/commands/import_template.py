import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import services
from portal.templates_io import DEFAULT_TEMPLATE, TemplateFileError, load_template_file


class Command(BaseCommand):
    help = (
        "Import a checklist template data file (default: the FastAPI + MongoDB guide). "
        "Importing a newer version moves services to it, keeping item states by key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(DEFAULT_TEMPLATE))
        parser.add_argument(
            "--no-upgrade", action="store_true", help="do not move services to this version"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = load_template_file(Path(options["path"]))
        except TemplateFileError as exc:
            raise CommandError(f"template not imported: {exc}") from None
        report = services.template_import(data=data, upgrade_services=not options["no_upgrade"])
        summary = services.describe(report)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        if not report.created:
            self.stdout.write(f"{summary['template']} is already imported; nothing changed.")
            return
        self.stdout.write(self.style.SUCCESS(f"imported {summary['template']}"))
        self.stdout.write(f"  added items:   {', '.join(report.added) or '-'}")
        self.stdout.write(f"  removed items: {', '.join(report.removed) or '-'}")
        self.stdout.write(f"  services upgraded: {report.services_upgraded}")
