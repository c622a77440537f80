"""Benchmark: the full set of HTTP checks against a local reference service, several runs.

Prints each run's wall time, its slowest single check and the sum of all checks, then the
ratio wall / slowest (target: <= 1.5). A fresh reference-service instance per run keeps the
runs independent (its OTP replay protection would otherwise make later runs wait for the next
30-second step). Run with `make bench`.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFLIGHT_ENV", "test")

from checks.catalog import REGISTRY  # noqa: E402
from checks.engine import DestinationPolicy, build_target, parse_profile, run_checks  # noqa: E402
from tests.support.refservice import run_reference_service  # noqa: E402

# Runbook steps 2-3 and the items verified over HTTP: what runs against any staging service.
HTTP_SPECS = [s for s in REGISTRY.values() if s.step in ("smoke", "functional", "http")]


def one_run(concurrency: int | None) -> tuple[float, str, float, float, dict[str, int]]:
    with run_reference_service() as ref:
        profile = parse_profile(
            f'[service]\nname = "bench"\nbase_url = "{ref.base_url}"\n'
            '[auth]\nusername = "probe"\npassword_env = "PW"\notp_secret_env = "OTP"\n',
            env={"PW": ref.password, "OTP": ref.otp_secret},
        )
        target = build_target(profile, DestinationPolicy(allow=["127.0.0.0/8"]))
        started = time.perf_counter()
        outcomes = run_checks(target, HTTP_SPECS, concurrency=concurrency)
        wall = (time.perf_counter() - started) * 1000
    slowest = max(outcomes, key=lambda o: o.duration_ms)
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
    total = sum(o.duration_ms for o in outcomes)
    return wall, slowest.key, slowest.duration_ms, total, statuses


def main() -> int:
    logging.disable(logging.INFO)  # the reference service logs every request
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args()
    print(f"HTTP checks: {len(HTTP_SPECS)} keys, {args.runs} runs, reference service on loopback")
    print(
        f"{'run':>4} {'wall ms':>9} {'slowest ms':>11} {'slowest check':<24} {'sum ms':>8} "
        f"{'wall/slowest':>12}  statuses"
    )
    ratios = []
    walls = []
    for index in range(1, args.runs + 1):
        wall, key, slow, total, statuses = one_run(args.concurrency)
        ratio = wall / slow if slow else float("inf")
        ratios.append(ratio)
        walls.append(wall)
        print(
            f"{index:>4} {wall:>9.0f} {slow:>11.0f} {key:<24} {total:>8.0f} {ratio:>12.2f}  "
            + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        )
    median = statistics.median(ratios)
    verdict = "meets" if median <= 1.5 else "MISSES"
    print(
        f"median wall {statistics.median(walls):.0f} ms; median wall/slowest {median:.2f} "
        f"({verdict} the 1.5 target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
