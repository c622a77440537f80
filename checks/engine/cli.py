"""``preflight check`` and ``preflight discover`` (the CLI contract, check-catalog.md).

The Django management command is a thin wrapper around :func:`main`, which takes its
registry, policy and streams as arguments so it is testable without Django or a subprocess.

Exit status: 0 nothing failed; 1 a check failed; 2 invalid profile, unknown key or step, or
nothing could run (no check selected, or every selected check skipped); 3 no failure but some
check could not decide (``error``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import TextIO
from urllib.parse import urlsplit

from checks.engine.discover import Credentials, DiscoveryFailed, LoginNotConfirmed, discover
from checks.engine.draft import render_toml
from checks.engine.http import DestinationPolicy, shared_client
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import ProfileError, load_profile
from checks.engine.registry import CheckSpec, UnknownCheck, UnknownStep, select_specs
from checks.engine.runner import run_checks
from checks.engine.target import build_target

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE, EXIT_UNDECIDED = 0, 1, 2, 3


def build_parser(prog: str = "preflight") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Production-readiness checks.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run checks against a staging profile")
    check.add_argument("--profile", required=True, help="path to the profile TOML file")
    check.add_argument("--only", type=_csv, default=None, help="comma-separated check keys")
    check.add_argument("--steps", type=_csv, default=None, help="comma-separated steps")
    check.add_argument("--concurrency", type=int, default=None, help="checks run at once")
    check.add_argument("--json", action="store_true", help="print one JSON document")
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
    registry: Mapping[str, CheckSpec],
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
    try:
        specs = select_specs(registry, only=args.only, steps=args.steps)
    except (UnknownCheck, UnknownStep) as exc:
        stderr.write(f"error: {exc}\n")
        return EXIT_UNUSABLE
    if not specs:
        stderr.write("error: no check selected; nothing to run\n")
        return EXIT_UNUSABLE

    target = build_target(profile, policy)
    try:
        outcomes = run_checks(target, specs, concurrency=args.concurrency)
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


def render_table(service: str, outcomes: Sequence[Outcome]) -> str:
    """A plain-text table for humans; the JSON form is the machine contract."""
    key_width = max([len("check"), *(len(o.key) for o in outcomes)])
    lines = [f"service: {service}", f"{'check':<{key_width}}  status  {'ms':>6}  summary"]
    for o in outcomes:
        lines.append(f"{o.key:<{key_width}}  {o.status!s:<6}  {o.duration_ms:>6}  {o.summary}")
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in Status}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"
