"""Benchmark: `manage.py preflight check` as a user runs it, process start included.

Each run starts a fresh reference service on loopback (its login limits and OTP replay
protection would otherwise make later runs wait), then times a new CLI process running the
16 HTTP keys (runbook steps 2-3 and the items verified over HTTP; `security.tls` needs an
HTTPS endpoint and is left out) and prints, per run:
- the process wall time (spawn -> exit);
- the time from spawn to the first check's start (the `--verbose` progress line);
- the slowest check (its `duration_ms`) and wall / slowest (target: <= 1.5);
- the run alone (first check start -> last check end) / slowest: what concurrency achieves
  once the process is up.
Then the medians, and where the start-up time goes (bare interpreter, the imports of the CLI
path, the rest). Run with `make bench`; the machine's load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFLIGHT_ENV", "test")

from checks.catalog import registry_for  # noqa: E402
from tests.support.refservice import run_reference_service  # noqa: E402

HTTP_STEPS = ["smoke", "functional", "http"]
KEYS = [key for key in registry_for(None, HTTP_STEPS) if key != "security.tls"]
START_LINE = re.compile(r"\] start (\S+).*\(at (\d+\.\d+)\)")
END_LINE = re.compile(r"\] end +(\S+):.*\(at (\d+\.\d+)\)")


def one_run() -> dict[str, object]:
    with (
        run_reference_service() as ref,
        tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as profile,
    ):
        profile.write(
            f'[service]\nname = "bench-cli"\nbase_url = "{ref.base_url}"\n'
            '[auth]\nusername = "probe"\npassword_env = "BENCH_PW"\n'
            'otp_secret_env = "BENCH_OTP"\n'
        )
        profile.close()
        env = {**os.environ, "BENCH_PW": ref.password, "BENCH_OTP": ref.otp_secret}
        command = [
            sys.executable,
            "manage.py",
            "preflight",
            "check",
            "--profile",
            profile.name,
            "--only",
            ",".join(KEYS),
            "--json",
            "--verbose",
        ]
        spawned = time.time()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.time() - spawned
        os.unlink(profile.name)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"the CLI exited {done.returncode}: {done.stderr[-2000:]}")
    results = json.loads(done.stdout)["results"]
    starts = [float(m.group(2)) for m in START_LINE.finditer(done.stderr)]
    ends = [float(m.group(2)) for m in END_LINE.finditer(done.stderr)]
    slowest = max(results, key=lambda r: r["duration_ms"])
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    return {
        "wall_ms": wall * 1000,
        "first_start_ms": (min(starts) - spawned) * 1000 if starts else float("nan"),
        # first check start -> last check end: the run itself, without process start and exit
        "span_ms": (max(ends) - min(starts)) * 1000 if starts and ends else float("nan"),
        "slowest_ms": slowest["duration_ms"],
        "slowest_key": slowest["key"],
        "statuses": statuses,
        "checks": len(results),
    }


def _timed(code: str) -> float:
    """Best of three: a fresh interpreter running ``code``, spawn -> exit, in ms."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def _import_times(module: str) -> dict[str, float]:
    """Cumulative import time (ms) of the packages that dominate the CLI path."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative[parts[2].strip()] = int(parts[1]) / 1000
    return cumulative


# What manage.py does before importing the CLI (see there): refuse httpx's own command line.
_NO_HTTPX_CLI = "import sys; sys.modules['httpx._main'] = None; "


def where_time_goes(slowest_ms: float) -> None:
    bare = _timed("pass")
    floor = _timed(_NO_HTTPX_CLI + "import httpx, httpcore")
    imports = _timed(
        _NO_HTTPX_CLI + "import checks.cli, checks.catalog.smoke, checks.catalog.security"
    )
    cumulative = _import_times("checks.cli")
    print("where process start goes (best of 3 each; cumulative import times from -X importtime):")
    print(f"  bare interpreter (python -c pass)        {bare:7.0f} ms")
    share = floor / slowest_ms
    print(
        f"  interpreter + httpx and httpcore         {floor:7.0f} ms  (= {share:.2f} x the median "
        "slowest check: the floor of any Python CLI on httpx)"
    )
    print(f"  interpreter + the CLI path's imports     {imports:7.0f} ms")
    for name in ("checks.engine", "httpx", "httpcore", "checks.engine.profile"):
        if name in cumulative:
            print(f"    {name:<38} {cumulative[name]:7.0f} ms")
    django = "django" in cumulative or any(k.startswith("django.") for k in cumulative)
    print(f"  Django imported on the CLI path: {'YES' if django else 'no'}")


def compile_bytecode() -> str:
    """Compile the project's modules as ``pip install`` and the Docker image do: a checkout
    run with PYTHONDONTWRITEBYTECODE=1 (this machine sets it) would otherwise recompile every
    module of the CLI path on every start (~60 ms) and the figures would measure that."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "checks"], cwd=ROOT, check=True)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "compiled beforehand (PYTHONDONTWRITEBYTECODE is set here)"
    return "compiled beforehand"


def main() -> int:
    logging.disable(logging.INFO)  # the reference service logs every request
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bytecode = compile_bytecode()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"CLI: manage.py preflight check, {len(KEYS)} HTTP keys, {args.runs} runs, a fresh "
        f"reference service on loopback per run; load average {load} ({os.cpu_count()} CPUs); "
        f"bytecode {bytecode}"
    )
    print(
        f"{'run':>4} {'wall ms':>8} {'1st start ms':>13} {'slowest ms':>11} "
        f"{'slowest check':<24} {'wall/slowest':>12} {'run/slowest':>11}  statuses"
    )
    walls, slowests, firsts, ratios, spans, tails = [], [], [], [], [], []
    for index in range(1, args.runs + 1):
        run = one_run()
        wall, first, slow = run["wall_ms"], run["first_start_ms"], run["slowest_ms"]
        assert isinstance(wall, float) and isinstance(first, float) and isinstance(slow, int)
        ratio = wall / slow if slow else float("inf")
        span = run["span_ms"]
        assert isinstance(span, float)
        spans.append(span / slow if slow else float("inf"))
        tails.append(wall - first - span)  # the JSON document and interpreter shutdown
        walls.append(wall)
        slowests.append(float(slow))
        firsts.append(first)
        ratios.append(ratio)
        statuses = run["statuses"]
        assert isinstance(statuses, dict)
        print(
            f"{index:>4} {wall:>8.0f} {first:>13.0f} {slow:>11} {run['slowest_key']!s:<24} "
            f"{ratio:>12.2f} {spans[-1]:>11.2f}  "
            + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        )
    ratio = statistics.median(ratios)
    first = statistics.median(firsts)
    overheads = [wall - slow for wall, slow in zip(walls, slowests, strict=True)]
    print(
        f"median wall {statistics.median(walls):.0f} ms; median first check start {first:.0f} ms "
        f"({'meets' if first <= 300 else 'MISSES'} the 300 ms target); median wall/slowest "
        f"{ratio:.2f} ({'meets' if ratio <= 1.5 else 'MISSES'} the 1.5 target); the run "
        f"alone (first check start -> last check end) / slowest {statistics.median(spans):.2f}; "
        f"after the last check (printing, interpreter shutdown) {statistics.median(tails):.0f} ms; "
        f"process overhead (wall - slowest check) {statistics.median(overheads):.0f} ms"
    )
    where_time_goes(statistics.median(slowests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
