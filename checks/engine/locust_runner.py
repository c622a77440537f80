"""Run Locust headless as a subprocess and read its CSV statistics back.

Why Locust: measured here, an httpx async loop reaches about 1% of wrk's request rate, so a
home-made loop would measure itself, not the service. Locust runs in its own process
(gevent monkey-patches whatever imports it) with a minimal environment: the worker's own
secrets (database URL, encryption keys) are not passed on. It runs in a process group of its
own: stopped (the whole group) when the drill ends, however it ends, and killed by itself when
the process that started it dies without a ``finally`` (kill -9; see locustfile.py).

Locust's traffic cannot go through the guarded client. The caller judges the host with the
run's DestinationPolicy and passes the judged IP as ``LoadPlan.address`` (checks/catalog/
load.py does); the locustfile connects only there and follows no redirect.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
POLL_S = 0.25
# Time Locust needs beyond --run-time: start, spawn, --stop-timeout, writing the CSVs.
GRACE_S = 30.0
STOP_TIMEOUT_S = 2


@dataclass(frozen=True)
class LoadPlan:
    host: str  # the base URL: its host name goes in the Host header and TLS SNI
    address: str  # the IP the policy judged for that name: the only one connected to
    items_path: str
    token: str = field(repr=False)
    offered_rps: float
    users: int
    duration_s: float
    ca_file: str | None = None  # https: the CA bundle to trust (None: certifi's)
    workers: int = 0  # >0: be a master and wait for this many workers
    master_bind_host: str = "*"
    master_bind_port: int = 5557

    @property
    def rate_per_user(self) -> float:
        return self.offered_rps / self.users


@dataclass
class LoadStats:
    totals: dict[str, Any]
    samples: list[dict[str, Any]]  # one a second: the load curve
    endpoints: list[dict[str, Any]]
    returncode: int | None
    log_tail: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)  # grouped by message

    @property
    def redirects(self) -> int:
        """3xx answers (never followed: each counted as a failure by the locustfile)."""
        return sum(f["occurrences"] for f in self.failures if f["error"].startswith("redirect"))


class LocustFailed(Exception):
    """Locust did not produce statistics (crashed, could not start, or ran over time)."""


def command(plan: LoadPlan, csv_prefix: Path) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        plan.host,
        "--users",
        str(plan.users),
        "--spawn-rate",
        str(plan.users),  # everyone within a second: the measured window is the steady state
        "--run-time",
        f"{math.ceil(plan.duration_s)}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--csv",
        str(csv_prefix),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if plan.workers:
        args += [
            "--master",
            "--expect-workers",
            str(plan.workers),
            "--expect-workers-max-wait",
            "60",
            "--master-bind-host",
            plan.master_bind_host,
            "--master-bind-port",
            str(plan.master_bind_port),
        ]
    return args


def _environment(plan: LoadPlan, home: str) -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    return {
        **keep,
        "HOME": home,
        "PYTHONUNBUFFERED": "1",
        "PREFLIGHT_LOAD_TOKEN": plan.token,
        "PREFLIGHT_LOAD_RATE_PER_USER": f"{plan.rate_per_user:.6f}",
        "PREFLIGHT_LOAD_ITEMS_PATH": plan.items_path,
        "PREFLIGHT_LOAD_ADDRESS": plan.address,
        # Locust kills its own process group when this process is gone (locustfile.py).
        "PREFLIGHT_LOAD_PARENT_PID": str(os.getpid()),
        **({"PREFLIGHT_LOAD_CA_FILE": plan.ca_file} if plan.ca_file else {}),
    }


def run_locust(plan: LoadPlan, *, tick: Callable[[], None] = lambda: None) -> LoadStats:
    """Run the plan to completion and parse its statistics.

    ``tick`` is called every quarter second while Locust runs; if it raises (a cancelled
    drill), Locust is stopped and the exception propagates.
    """
    budget = plan.duration_s + GRACE_S + (60 if plan.workers else 0)
    with tempfile.TemporaryDirectory(prefix="preflight-locust-") as tmp:
        prefix = Path(tmp, "load")
        log_path = Path(tmp, "locust.log")
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command(plan, prefix),
                env=_environment(plan, tmp),
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                _wait(proc, budget, tick)
            finally:
                _stop(proc)
        tail = log_path.read_text(errors="replace")[-2000:]
        stats = prefix.with_name("load_stats.csv")
        if not stats.exists():
            raise LocustFailed(f"Locust exited {proc.returncode} without statistics: {tail}")
        endpoints, totals = parse_stats(stats)
        samples = parse_history(prefix.with_name("load_stats_history.csv"))
        failures = parse_failures(prefix.with_name("load_failures.csv"))
        return LoadStats(totals, samples, endpoints, proc.returncode, tail, failures)


def _wait(proc: subprocess.Popen[bytes], budget: float, tick: Callable[[], None]) -> None:
    deadline = time.monotonic() + budget
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise LocustFailed(f"Locust still running {budget:g}s after start; stopped it")
        tick()
        time.sleep(POLL_S)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first (Locust then writes its CSVs), then the whole process group, which is
    killed in any case: nothing Locust started outlives the drill."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _number(value: str | None) -> float | None:
    if not value or value == "N/A":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_stats(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-endpoint rows, the Aggregated row) of Locust's ``_stats.csv``."""
    endpoints: list[dict[str, Any]] = []
    totals: dict[str, Any] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            entry = {
                "name": row.get("Name", ""),
                "method": row.get("Type", ""),
                "requests": int(_number(row.get("Request Count")) or 0),
                "failures": int(_number(row.get("Failure Count")) or 0),
                "rps": _number(row.get("Requests/s")) or 0.0,
                "p50_ms": _number(row.get("50%")),
                "p95_ms": _number(row.get("95%")),
                "p99_ms": _number(row.get("99%")),
            }
            if entry["name"] == "Aggregated":
                totals = {k: entry[k] for k in ("requests", "failures", "rps", "p50_ms")}
                totals.update(p95_ms=entry["p95_ms"], p99_ms=entry["p99_ms"])
            else:
                endpoints.append(entry)
    return endpoints, totals


_CAUGHT = re.compile(r"""^CatchResponseError\((['"])(?P<message>.*)\1\)$""", re.DOTALL)


def _failure_message(text: str) -> str:
    """The locustfile's own message, without Locust's ``CatchResponseError('...')`` dress."""
    match = _CAUGHT.match(text)
    return match.group("message") if match else text


def parse_failures(path: Path, limit: int = 50) -> list[dict[str, Any]]:
    """Locust's ``_failures.csv``: one row per (method, name, message), most frequent first."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows: list[dict[str, Any]] = [
            {
                "method": row.get("Method", ""),
                "name": row.get("Name", ""),
                "error": _failure_message(row.get("Error") or "")[:300],
                "occurrences": int(_number(row.get("Occurrences")) or 0),
            }
            for row in csv.DictReader(handle)
        ]
    return sorted(rows, key=lambda r: -r["occurrences"])[:limit]


def parse_history(path: Path) -> list[dict[str, Any]]:
    """The Aggregated rows of ``_stats_history.csv`` (one a second) as the load curve.

    The rate is the difference of the running request count, which is exact per interval;
    Locust's own "Requests/s" column is a ten-second moving average.
    """
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    samples: list[dict[str, Any]] = []
    start: float | None = None
    previous: tuple[float, float, float] | None = None  # (timestamp, requests, failures)
    for row in rows:
        stamp = _number(row.get("Timestamp"))
        total = _number(row.get("Total Request Count")) or 0.0
        failures = _number(row.get("Total Failure Count")) or 0.0
        if stamp is None:
            continue
        if start is None:
            start = stamp
        if previous is not None and stamp > previous[0]:
            rps = (total - previous[1]) / (stamp - previous[0])
            errors = failures - previous[2]
        else:
            rps, errors = _number(row.get("Requests/s")) or 0.0, failures
        previous = (stamp, total, failures)
        samples.append(
            {
                "t": round(stamp - start, 3),
                "rps": round(rps, 2),
                "p50_ms": _number(row.get("50%")),
                "p95_ms": _number(row.get("95%")),
                "errors": int(errors),
            }
        )
    return samples
