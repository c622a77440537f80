"""Acceptance: the real CLI in a subprocess against scripted deployments, and (only when
MONGO_TEST_URL is set) the checks against a real MongoDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from checks.catalog import REGISTRY
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Status
from checks.engine.profile import parse_profile
from checks.engine.runner import run_checks
from checks.engine.target import build_target
from tests.catalog.test_db import DB_KEYS, GOOD_ORDERS, ORDERS_QUERY, SORTED_ORDERS, TTL
from tests.support.mongo_wire import WireMongo, index, running, rw_concern

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, uri: str) -> tuple[int, dict[str, Any], str]:
    path = tmp_path / "P.toml"
    path.write_text(
        '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n'
        '[mongo]\nuri_env = "ORDERS_MONGO_URI"\ntimeout_ms = 2000\n'
        'ttl_collections = ["sessions"]\n' + ORDERS_QUERY
    )
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "preflight",
            "check",
            "--profile",
            str(path),
            "--only",
            ",".join(DB_KEYS),
            "--json",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PREFLIGHT_ENV": "test",
            "PREFLIGHT_VAR_DIR": str(tmp_path),
            "ORDERS_MONGO_URI": uri,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def test_cli_on_a_healthy_deployment_passes_every_db_check(tmp_path: Path) -> None:
    mongo = WireMongo(
        replica_set="rs0", explains={"orders": GOOD_ORDERS}, indexes=TTL, users={"ro": "pw-9f3k"}
    )
    with running(mongo):
        code, document, stderr = _cli(tmp_path, mongo.uri(user="ro", password="pw-9f3k"))
    assert {r["key"]: r["status"] for r in document["results"]} == dict.fromkeys(DB_KEYS, "pass")
    assert code == 0, stderr
    assert "pw-9f3k" not in json.dumps(document) + stderr


def test_cli_on_a_flawed_deployment_fails_with_the_fixing_index(tmp_path: Path) -> None:
    mongo = WireMongo(
        explains={"orders": SORTED_ORDERS},
        indexes={"sessions": [index("_id_", {"_id": 1})]},
        rw=rw_concern(w=1),
    )
    with running(mongo):
        code, document, stderr = _cli(tmp_path, mongo.uri())
    results = {r["key"]: r for r in document["results"]}
    assert {k: r["status"] for k, r in results.items()} == {
        "db.index_usage": "pass",
        "db.compound_index_sort": "fail",
        "db.ttl_indexes": "fail",
        "db.write_concern": "fail",
    }
    assert code == 1, stderr
    failing = results["db.compound_index_sort"]["evidence"]["failing"][0]
    assert (failing["collection"], failing["stage"]) == ("orders", "SORT")
    assert failing["fix"] == "create index {status: 1, created_at: -1} on orders"
    assert "standalone server" in results["db.write_concern"]["summary"]


# --- a real MongoDB, only when one is offered ------------------------------------------------

MONGO_TEST_URL = os.environ.get("MONGO_TEST_URL")


@pytest.mark.skipif(
    not MONGO_TEST_URL,
    reason="MONGO_TEST_URL is not set: no real MongoDB here; the wire-protocol tests cover it",
)
def test_against_a_real_mongodb() -> None:
    from pymongo import MongoClient

    url = str(MONGO_TEST_URL)
    db_name = "preflight_it"
    setup: Any = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        db = setup[db_name]
        db.drop_collection("orders")
        db.drop_collection("sessions")
        db.orders.insert_many([{"status": "paid", "created_at": i} for i in range(50)])
        db.orders.create_index([("status", 1)])
        db.sessions.create_index("seen", expireAfterSeconds=60)
        host = urlsplit(url.replace("mongodb://", "http://", 1)).hostname or "127.0.0.1"
        text = (
            '[service]\nname = "it"\nbase_url = "http://127.0.0.1:9"\n'
            f'[mongo]\nuri = "{url}"\ndatabase = "{db_name}"\nttl_collections = ["sessions"]\n'
            + ORDERS_QUERY
        )
        target = build_target(
            parse_profile(text, env={}), DestinationPolicy(allow=["127.0.0.0/8", "::1", host])
        )
        try:
            results = {o.key: o for o in run_checks(target, [REGISTRY[k] for k in DB_KEYS])}
        finally:
            target.close()
        assert results["db.index_usage"].status == Status.PASS, results["db.index_usage"]
        assert results["db.compound_index_sort"].status == Status.FAIL
        assert (
            "create index {status: 1, created_at: -1} on orders"
            in results["db.compound_index_sort"].summary
        )
        assert results["db.ttl_indexes"].status == Status.PASS
        assert results["db.write_concern"].status in (Status.PASS, Status.FAIL)
    finally:
        setup.drop_database(db_name)
        setup.close()
