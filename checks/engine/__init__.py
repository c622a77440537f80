"""Framework-free check engine: profile, target, guarded HTTP, registry, runner, CLI.

Nothing here imports Django, so every check runs the same from the CLI, a Celery task or a
unit test. Check authors need only the names re-exported below.
"""

from checks.engine.http import (
    DestinationPolicy,
    DestinationRefused,
    GuardedClient,
    ResponseTooLarge,
    shared_client,
)
from checks.engine.outcome import (
    MissingSetting,
    Outcome,
    Status,
    Verdict,
    errored,
    failed,
    passed,
    skipped,
)
from checks.engine.profile import Profile, ProfileError, load_profile, parse_profile
from checks.engine.registry import CheckSpec, UnknownCheck, UnknownStep, select_specs
from checks.engine.runner import run_checks
from checks.engine.target import LoginFailed, Target, build_target

__all__ = [
    "CheckSpec",
    "DestinationPolicy",
    "DestinationRefused",
    "GuardedClient",
    "LoginFailed",
    "MissingSetting",
    "Outcome",
    "Profile",
    "ProfileError",
    "ResponseTooLarge",
    "Status",
    "Target",
    "UnknownCheck",
    "UnknownStep",
    "Verdict",
    "build_target",
    "errored",
    "failed",
    "load_profile",
    "parse_profile",
    "passed",
    "run_checks",
    "select_specs",
    "shared_client",
    "skipped",
]
