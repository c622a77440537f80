"""Benchmark tooling, outside the runtime apps: the large data set generator behind
``manage.py generate_large_dataset`` (scripts/bench_dashboards.py, tests/dashboards)."""
