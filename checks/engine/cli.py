"""``preflight check`` and ``preflight discover`` (the CLI contract, check-catalog.md).

``manage.py preflight`` goes straight to checks/cli.py, which calls :func:`main` without
setting Django up (the Django management command is a thin wrapper too, for
``call_command``). :func:`main` takes its registry, policy and streams as arguments so it is
testable without Django or a subprocess. The registry may be a loader, called with the
``--only`` keys and ``--steps``, so that only the check modules a run can select are imported
(``checks.catalog.registry_for``).

Exit status: 0 nothing failed; 1 a check failed; 2 invalid profile, unknown key or step, or
nothing could run (no check selected, or every selected check skipped); 3 no failure but some
check could not decide (``error``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import TextIO
from urllib.parse import urlsplit

from checks.engine.http import DestinationPolicy, shared_client
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import ProfileError, load_profile
from checks.engine.registry import CheckSpec, UnknownCheck, UnknownStep, select_specs
from checks.engine.runner import run_checks
from checks.engine.target import build_target

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE, EXIT_UNDECIDED = 0, 1, 2, 3

# The registry, or a loader given the --only keys and the --steps (either may be None).
RegistryLoader = Callable[[Sequence[str] | None, Sequence[str] | None], Mapping[str, CheckSpec]]


def build_parser(prog: str = "preflight") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Production-readiness checks.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run checks against a staging profile")
    check.add_argument("--profile", required=True, help="path to the profile TOML file")
    check.add_argument("--only", type=_csv, default=None, help="comma-separated check keys")
    check.add_argument("--steps", type=_csv, default=None, help="comma-separated steps")
    check.add_argument("--concurrency", type=int, default=None, help="checks run at once")
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="progress on stderr: each check as it starts and ends, and why a check runs alone",
    )
    found = commands.add_parser(
        "discover", help="draft a profile from the service's OpenAPI document (TOML on stdout)"
    )
    found.add_argument("--base-url", required=True, help="the service's staging URL")
    found.add_argument("--openapi-url", help="the OpenAPI document (default: the usual places)")
    found.add_argument("--username", help="probe user (or client id) to confirm the login with")
    found.add_argument(
        "--password-env",
        metavar="VAR",
        help="variable holding the password (or API key, or client secret)",
    )
    found.add_argument("--otp-secret-env", metavar="VAR", help="variable holding the TOTP secret")
    return parser


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """The CLI exit status for a finished run (see the module docstring)."""
    statuses = {outcome.status for outcome in outcomes}
    if Status.FAIL in statuses:
        return EXIT_FAILED
    if Status.ERROR in statuses:
        return EXIT_UNDECIDED
    if not statuses or statuses == {Status.SKIP}:
        return EXIT_UNUSABLE
    return EXIT_OK


def main(
    argv: Sequence[str],
    *,
    registry: Mapping[str, CheckSpec] | RegistryLoader,
    policy: DestinationPolicy,
    stdout: TextIO,
    stderr: TextIO,
    env: Mapping[str, str] = os.environ,
    prog: str = "preflight",
) -> int:
    """Parse ``argv`` (starting at the subcommand), run the checks, print, return the status."""
    try:
        # argparse prints to sys.* and calls sys.exit; route both to our streams and codes.
        with redirect_stdout(stdout), redirect_stderr(stderr):
            args = build_parser(prog).parse_args(list(argv))
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_UNUSABLE
    if args.command == "discover":
        return discover_main(args, policy=policy, stdout=stdout, stderr=stderr, env=env)

    try:
        profile = load_profile(args.profile, env=env)
    except ProfileError as exc:
        stderr.write(f"profile error: {exc}\n")
        return EXIT_UNUSABLE
    if callable(registry):
        registry = registry(args.only, args.steps)
    try:
        specs = select_specs(registry, only=args.only, steps=args.steps)
    except (UnknownCheck, UnknownStep) as exc:
        stderr.write(f"error: {exc}\n")
        return EXIT_UNUSABLE
    if not specs:
        stderr.write("error: no check selected; nothing to run\n")
        return EXIT_UNUSABLE

    target = build_target(profile, policy)
    progress = Progress(stderr) if args.verbose else None
    try:
        outcomes = run_checks(
            target,
            specs,
            concurrency=args.concurrency,
            on_start=progress.started if progress else None,
            on_result=progress.finished if progress else None,
        )
    finally:
        target.close()  # e.g. removes the run's repository clone
    if args.json:
        document = {
            "service": profile.service.name,
            "results": [outcome.as_dict() for outcome in outcomes],
        }
        stdout.write(json.dumps(document) + "\n")
    else:
        stdout.write(render_table(profile.service.name, outcomes))
    code = exit_code(outcomes)
    if code == EXIT_UNUSABLE:
        stderr.write("error: every selected check was skipped; nothing could run\n")
    return code


def discover_main(
    args: argparse.Namespace,
    *,
    policy: DestinationPolicy,
    stdout: TextIO,
    stderr: TextIO,
    env: Mapping[str, str],
) -> int:
    """``preflight discover``: 0 with the profile on stdout; 2 when the service cannot be
    reached or publishes no OpenAPI document (or the arguments are unusable); 1 when a draft
    was made but logging in with the given credentials did not work (the draft is printed)."""
    # Imported here, not at the top: `preflight check` never needs them, and what it imports
    # is what it waits for before its first check starts.
    from checks.engine.discover import (
        Credentials,
        DiscoveryFailed,
        LoginNotConfirmed,
        discover,
    )
    from checks.engine.draft import render_toml

    base_url = str(args.base_url)
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
        stderr.write(f"error: --base-url must be an http(s) URL, not {base_url!r}\n")
        return EXIT_UNUSABLE
    credentials = Credentials(username=args.username, password_env=args.password_env)
    for flag, variable, attribute in (
        ("--password-env", args.password_env, "password"),
        ("--otp-secret-env", args.otp_secret_env, "otp_secret"),
    ):
        if variable is None:
            continue
        if not env.get(variable):
            stderr.write(f"error: {flag}: environment variable {variable} is not set\n")
            return EXIT_UNUSABLE
        setattr(credentials, attribute, env[variable])
    credentials.otp_secret_env = args.otp_secret_env
    client = shared_client(policy)
    try:
        draft = discover(client, base_url, openapi_url=args.openapi_url, credentials=credentials)
    except DiscoveryFailed as exc:
        stderr.write(f"error: {exc}\n")
        return EXIT_UNUSABLE
    except LoginNotConfirmed as exc:
        stdout.write(exc.draft_toml)
        stderr.write(f"error: the draft above did not log in: {exc.why}\n")
        return EXIT_FAILED
    stdout.write(render_toml(draft))
    return EXIT_OK


class Progress:
    """``--verbose``: one stderr line as each check starts and as it ends, timed from the
    start of the run and stamped with the wall clock (scripts/bench_cli.py reads the first
    ``start`` line to measure process start -> first check). A check that runs alone says
    why."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.began = time.monotonic()

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self.began
        self.stream.write(f"[{elapsed:7.3f}s] {text} (at {time.time():.6f})\n")
        self.stream.flush()

    def started(self, spec: CheckSpec) -> None:
        alone = f"; runs alone: {spec.isolated_because}" if spec.isolated else ""
        self._line(f"start {spec.key}{alone}")

    def finished(self, outcome: Outcome) -> None:
        self._line(f"end   {outcome.key}: {outcome.status} in {outcome.duration_ms} ms")


def render_table(service: str, outcomes: Sequence[Outcome]) -> str:
    """A plain-text table for humans; the JSON form is the machine contract."""
    key_width = max([len("check"), *(len(o.key) for o in outcomes)])
    lines = [f"service: {service}", f"{'check':<{key_width}}  status  {'ms':>6}  summary"]
    for o in outcomes:
        lines.append(f"{o.key:<{key_width}}  {o.status!s:<6}  {o.duration_ms:>6}  {o.summary}")
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in Status}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"
