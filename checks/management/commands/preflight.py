"""`python manage.py preflight check --profile FILE [--only K,K] [--steps S,S] --json`.

The CLI contract (shared/check-catalog.md) is implemented by checks.engine.cli; this command
only supplies the registry and the outbound policy from settings, and passes argv through
untouched so the contract's flags and exit codes are exactly the engine's. manage.py does not
come here (it runs checks/cli.py without Django); ``call_command`` and django-admin do."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from checks.catalog import registry_for
from checks.engine.cli import main
from checks.selectors import outbound_policy


class Command(BaseCommand):
    help = "Run checks against a staging profile: preflight check --profile FILE --json"

    def run_from_argv(self, argv: list[str]) -> None:
        code = main(
            argv[2:],
            registry=registry_for,
            policy=outbound_policy(),
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
        sys.exit(code)

    def handle(self, *args: Any, **options: Any) -> None:  # pragma: no cover - see above
        raise NotImplementedError
