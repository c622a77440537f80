"""Benchmark: importing a Backstage catalog (catalogsync/) — the first import, a second one
that changes nothing, and one that moves a service to another owner — for the 115-entity
example catalog the tests use and a 1,045-entity one (1,000 components).

Each size gets a fresh SQLite file under var/ (removed after). Prints seconds per import and
what it did. No target is asserted: the first import is dominated by creating services (item
states, an audit event each); a sync that changes nothing should stay a small fraction of it.
Run with `make bench`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = ROOT / "var" / "bench-catalog.sqlite3"
os.environ.setdefault("PREFLIGHT_ENV", "test")
os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    import django

    DB.parent.mkdir(parents=True, exist_ok=True)
    DB.unlink(missing_ok=True)
    django.setup()
    from django.core.management import call_command

    from catalogsync.services import import_catalog
    from portal import services
    from portal.templates_io import DEFAULT_TEMPLATE, load_template_file
    from tests.support.backstage import example_catalog, write_catalog

    call_command("migrate", verbosity=0)
    services.template_import(data=load_template_file(DEFAULT_TEMPLATE))
    for per_team in (7, 100):
        call_command("flush", interactive=False, verbosity=0)
        services.template_import(data=load_template_file(DEFAULT_TEMPLATE))
        catalog = example_catalog(per_team)
        root = Path(tempfile.mkdtemp(prefix="bench-catalog-")) / f"catalog-{per_team}"
        print(f"{len(catalog.entities)} entities, {len(catalog.components())} components:")
        for label in ("first import", "second import", "owner changed"):
            if label == "owner changed":
                catalog.find("payments-svc-1")["spec"]["owner"] = "group:default/search"
            source = str(write_catalog(root, catalog, malformed=False))
            start = time.perf_counter()
            sync, report = import_catalog(source=source)
            seconds = time.perf_counter() - start
            assert sync is not None and sync.status == "succeeded", sync
            done = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
            print(f"  {label:13} {seconds:6.2f} s  ({done})")
    DB.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
