import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogsync.models import CatalogSync
from catalogsync.services import import_catalog

ORDER = ("created", "linked", "updated", "moved", "removed", "restored", "unchanged", "ignored")


class Command(BaseCommand):
    help = (
        "Import teams and services from the software catalog: a Backstage catalog API "
        "(https://...), a git repository (git+https://...[#ref]) or a directory or file of "
        "catalog-info.yaml descriptors. Without a source: every PREFLIGHT_CATALOG_SOURCES."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sources", nargs="*", help="where to read (default: the settings)")
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change; write nothing"
        )
        parser.add_argument("--json", action="store_true", help="print the reports as JSON")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args: Any, **options: Any) -> None:
        sources = options["sources"] or settings.PREFLIGHT_CATALOG_SOURCES
        if not sources:
            raise CommandError("no source given and PREFLIGHT_CATALOG_SOURCES is empty")
        failed = 0
        reports = []
        for source in sources:
            progress = (lambda _: None) if options["quiet"] or options["json"] else self._progress
            sync, report = import_catalog(
                source=source, dry_run=options["dry_run"], progress=progress
            )
            if "failed" in report.counts:
                failed += 1
            reports.append((sync, report))
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            "source": r.source,
                            "sync": s.pk if s else None,
                            "status": s.status
                            if s
                            else ("failed" if "failed" in r.counts else "dry-run"),
                            "counts": r.counts,
                            "changes": [
                                {"entity": ref, "action": action, **detail}
                                for ref, action, detail in r.changes
                            ],
                            "refused": [
                                {"where": x.where, "entity": x.ref, "reason": x.reason}
                                for x in r.refusals
                            ],
                        }
                        for s, r in reports
                    ],
                    default=str,
                )
            )
        else:
            for sync, report in reports:
                self._summary(sync, report, dry=options["dry_run"])
        if failed:
            raise CommandError(f"{failed} of {len(sources)} source(s) could not be imported")

    def _progress(self, line: str) -> None:
        self.stderr.write(f"  {line}")

    def _summary(self, sync: CatalogSync | None, report: Any, *, dry: bool) -> None:
        if "failed" in report.counts:
            self.stdout.write(self.style.ERROR(f"{report.source}: {report.refusals[-1].reason}"))
            return
        label = "would change (dry run)" if dry else f"sync #{sync.pk if sync else '-'}"
        counts = ", ".join(f"{report.counts[k]} {k}" for k in ORDER if report.counts.get(k))
        self.stdout.write(self.style.SUCCESS(f"{report.source}: {label}: {counts or 'nothing'}"))
        for ref, action, _detail in report.changes:
            self.stdout.write(f"  {action:9} {ref}")
        if report.refusals:
            self.stdout.write(self.style.WARNING(f"  {len(report.refusals)} refused:"))
            for refusal in report.refusals:
                who = refusal.ref or "-"
                self.stdout.write(f"  refused   {who} ({refusal.where}): {refusal.reason}")
