"""Command line: run one reference service instance under uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import uvicorn

from .app import create_app
from .config import FLAWS, ConfigError, RefConfig, parse_flaws


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.reference_service",
        description="Run the Preflight reference service.",
        epilog="flaws: " + ", ".join(sorted(FLAWS)),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--flaw",
        action="append",
        default=[],
        metavar="NAME",
        help="break one rule (repeatable, or comma-separated); adds to REF_FLAWS",
    )
    parser.add_argument("--version", dest="app_version", help="version to report (default 1.0.0)")
    parser.add_argument(
        "--https-redirect-to",
        metavar="URL",
        help="answer every request with 301 to the same path on URL",
    )
    parser.add_argument("--ssl-certfile", metavar="FILE")
    parser.add_argument("--ssl-keyfile", metavar="FILE")
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        parser.error("--ssl-certfile and --ssl-keyfile go together")
    try:
        flaws = parse_flaws(os.environ.get("REF_FLAWS", "")) | parse_flaws(",".join(args.flaw))
        overrides: dict[str, Any] = {"flaws": flaws}
        if args.app_version:
            overrides["version"] = args.app_version
        if args.https_redirect_to:
            overrides["https_redirect_to"] = args.https_redirect_to
        config = RefConfig.from_env(**overrides)
    except ConfigError as exc:
        print(f"reference_service: {exc}", file=sys.stderr)
        return 2

    # One JSON line per request comes from the envelope middleware; uvicorn's own is redundant.
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        access_log=False,
        log_level=args.log_level,
        # Rate limits key on the client address; do not let X-Forwarded-For choose it.
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
