"""Benchmark: the dashboard pages on a large data set (1,000 services, 30 teams, a year of
runs: about a million check results).

The data set lives in its own SQLite file, var/bench-dashboards.sqlite3, generated on the
first run (``generate_large_dataset``) and reused afterwards. Prints server time p50/p95
(Django test Client, in process, many iterations) and SQL query counts for the portfolio, a
team and a service page. Targets: p95 <= 150 ms; query counts independent of the number of
services. Run with `make bench` (or `--fresh` to regenerate).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = ROOT / "var" / "bench-dashboards.sqlite3"
os.environ.setdefault("PREFLIGHT_ENV", "test")
os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--fresh", action="store_true", help="regenerate the data set")
    args = parser.parse_args()
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DB}{suffix}").unlink(missing_ok=True)

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from checks.models import CheckResult
    from portal.models import Service, Team

    setup_test_environment()
    call_command("migrate", verbosity=0)
    if not CheckResult.objects.exists():
        print(f"generating the large data set into {DB.relative_to(ROOT)} (first run only)")
        started = time.perf_counter()
        call_command("generate_large_dataset", services=1000, teams=30, days=365, seed=1)
        print(f"generation took {time.perf_counter() - started:.1f} s")
    from bench.generate import ensure_campaigns
    from campaigns.models import Campaign

    owner = User.objects.filter(username__startswith="lead-").order_by("id").first()
    if owner is not None:  # a data set generated before campaigns existed gets them now
        ensure_campaigns(owner, "fastapi-mongo", timezone.now())
    print(
        f"data set: {Service.objects.count()} services, {Team.objects.count()} teams, "
        f"{Campaign.objects.count()} campaigns, "
        f"{CheckResult.objects.count()} check results"
    )
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    # The largest team: the heaviest team page.
    team = Team.objects.annotate(n=Count("services")).order_by("-n", "slug").first()
    assert team is not None
    service = Service.objects.filter(team=team).order_by("slug").first()
    assert service is not None
    pages = {
        "portfolio": "/dashboards/",
        f"team ({team.slug}, {team.services.count()} services)": f"/dashboards/teams/{team.slug}/",
        f"service ({service.slug})": f"/dashboards/services/{service.slug}/",
    }
    print(
        f"{'page':<44} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cold p50':>9} "
        f"{'cold p95':>9} {'queries':>8}  verdict (p95 <= 150 ms)"
    )
    worst = 0.0
    for name, url in pages.items():
        for _ in range(3):  # warm caches and imports
            assert client.get(url).status_code == 200, url
        timings = []
        for _ in range(args.iterations):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        cold = []
        for _ in range(max(5, args.iterations // 4)):
            cache.clear()  # the readiness pass cached under the audit head: measure it too
            started = time.perf_counter()
            client.get(url)
            cold.append((time.perf_counter() - started) * 1000)
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        p95 = _percentile(timings, 95)
        worst = max(worst, p95)
        cold95 = _percentile(cold, 95)
        worst = max(worst, cold95)
        print(
            f"{name:<44} {statistics.median(timings):>7.1f} {p95:>7.1f} {max(timings):>7.1f} "
            f"{statistics.median(cold):>9.1f} {cold95:>9.1f} {len(ctx.captured_queries):>8}  "
            f"{'meets' if max(p95, cold95) <= 150 else 'MISSES'}"
        )
    print(
        "cold = the readiness cache cleared before each request (first view after a change)\n"
        f"worst p95 {worst:.1f} ms ({'meets' if worst <= 150 else 'MISSES'} the 150 ms target)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
