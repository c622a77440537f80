"""``manage.py preflight``: the CLI contract (check-catalog.md) without setting Django up.

manage.py hands ``preflight ...`` straight to :func:`main`, which imports only the engine and
the check modules the run can select (``checks.catalog.registry_for``), and reads the outbound
policy from the same environment variables as the portal's settings. Nothing here imports
Django (an import-linter contract and tests/engine/test_cli_fast_path.py keep it so): the
first check starts a few hundred milliseconds after the process does, not after Django has
loaded every app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from checks.catalog import registry_for
from checks.engine.cli import EXIT_UNUSABLE
from checks.engine.cli import main as engine_main
from checks.engine.policy_env import PolicyEnvError, policy_from_env


def main(argv: Sequence[str], *, prog: str = "manage.py preflight") -> int:
    """Run ``argv`` (starting at the subcommand) and return the exit status."""
    try:
        policy = policy_from_env(os.environ)
    except PolicyEnvError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_UNUSABLE
    return engine_main(
        argv,
        registry=registry_for,
        policy=policy,
        stdout=sys.stdout,
        stderr=sys.stderr,
        prog=prog,
    )
