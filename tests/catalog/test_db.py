"""The db checks, run by the real pymongo driver over a real socket against a scripted
MongoDB (tests/support/mongo_wire.py: mockupdb, the only stand-in, because no MongoDB server
exists here). Replies are shaped like MongoDB 7's: classic, slot-based and sharded explain.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from checks.catalog import REGISTRY
from checks.catalog._mongo import READ_COMMANDS, deployment, redact_uri
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Outcome, Status
from checks.engine.profile import parse_profile
from checks.engine.runner import run_checks, run_one
from checks.engine.target import Target, build_target
from tests.catalog.conftest import closed_port
from tests.support.mongo_wire import (
    WireMongo,
    close_before_stop,
    collscan,
    explain_classic,
    explain_sbe,
    explain_sharded,
    fetch,
    index,
    ixscan,
    running,
    rw_concern,
    sort,
)

POLICY = DestinationPolicy(allow=["127.0.0.0/8", "localhost"])
DB_KEYS = ("db.index_usage", "db.compound_index_sort", "db.ttl_indexes", "db.write_concern")
NS = "shop.orders"
ORDERS_QUERY = (
    '[[mongo.hot_queries]]\nname = "paid orders, newest first"\ncollection = "orders"\n'
    'filter = {status = "paid"}\nsort = {created_at = -1}\n'
)
SESSIONS_QUERY = '[[mongo.hot_queries]]\ncollection = "sessions"\nfilter = {token = "x"}\n'
GOOD_ORDERS = explain_classic(
    NS, fetch(ixscan("status_1_created_at_-1", {"status": 1, "created_at": -1}))
)
# An index on status alone: no scan, but the sort happens in memory.
SORTED_ORDERS = explain_classic(
    NS, sort({"created_at": -1}, fetch(ixscan("status_1", {"status": 1})))
)
SCANNED_ORDERS = explain_classic(
    NS, sort({"created_at": -1}, collscan({"status": {"$eq": "paid"}}))
)
GOOD_SESSIONS = explain_classic("shop.sessions", fetch(ixscan("token_1", {"token": 1})))
TTL = {"sessions": [index("_id_", {"_id": 1}), index("ttl", {"seen": 1}, expireAfterSeconds=3600)]}


def profile(uri: str | None, body: str = "", *, timeout_ms: int = 2000, ttl: str = "") -> str:
    """A profile; ``body`` may add [[mongo.hot_queries]] tables, so scalars come first."""
    text = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n'
    if uri is not None:
        text += f'[mongo]\nuri = "{uri}"\ntimeout_ms = {timeout_ms}\n'
        text += f"ttl_collections = [{ttl}]\n" if ttl else ""
    return text + body


@pytest.fixture
def make_target() -> Iterator[Callable[..., Target]]:
    made: list[Target] = []

    def make(text: str, policy: DestinationPolicy = POLICY) -> Target:
        target = build_target(parse_profile(text, env={}), policy)
        if not close_before_stop(target.close):
            made.append(target)
        return target

    yield make
    for target in made:
        target.close()


def outcomes(target: Target, *keys: str) -> dict[str, Outcome]:
    return {o.key: o for o in run_checks(target, [REGISTRY[k] for k in keys])}


# --- db.index_usage ---------------------------------------------------------------------


def test_index_usage_passes_when_every_hot_query_uses_an_index(make_target) -> None:
    mongo = WireMongo(explains={"orders": GOOD_ORDERS, "sessions": GOOD_SESSIONS})
    with running(mongo):
        t = make_target(profile(mongo.uri(), ORDERS_QUERY + SESSIONS_QUERY))
        result = run_one(t, REGISTRY["db.index_usage"])
    assert result.status == Status.PASS, result.summary
    assert "status_1_created_at_-1" in result.summary and "token_1" in result.summary
    sent = [d for d in mongo.documents if "explain" in d]
    assert sent[0]["explain"] == {
        "find": "orders",
        "filter": {"status": "paid"},
        "sort": {"created_at": -1},
    }
    assert sent[0]["verbosity"] == "queryPlanner"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(SCANNED_ORDERS, id="classic"),
        pytest.param(
            explain_sbe(NS, sort({"created_at": -1}, collscan({"status": {"$eq": "paid"}}))),
            id="slot-based",
        ),
        pytest.param(
            explain_sharded(
                NS,
                {
                    "shard-a": fetch(
                        ixscan("status_1_created_at_-1", {"status": 1, "created_at": -1})
                    ),
                    "shard-b": sort({"created_at": -1}, collscan()),
                },
            ),
            id="sharded",
        ),
    ],
)
def test_index_usage_fails_on_a_collscan_naming_collection_stage_and_fix(
    make_target, reply
) -> None:
    mongo = WireMongo(explains={"orders": reply, "sessions": GOOD_SESSIONS})
    with running(mongo):
        t = make_target(profile(mongo.uri(), SESSIONS_QUERY + ORDERS_QUERY))
        result = run_one(t, REGISTRY["db.index_usage"])
    assert result.status == Status.FAIL
    assert result.summary.startswith(
        "1 of 2 hot queries scan a whole collection: COLLSCAN on orders"
    )
    assert "create index {status: 1, created_at: -1} on orders" in result.summary
    failing = result.evidence["failing"][0]
    assert failing["collection"] == "orders" and failing["stage"] == "COLLSCAN"
    assert failing["fix"] == "create index {status: 1, created_at: -1} on orders"
    assert failing["fix_command"] == (
        'db.getCollection("orders").createIndex({"status": 1, "created_at": -1})'
    )
    assert "COLLSCAN" in json.dumps(failing["plan"]) and "slotBasedPlan" not in json.dumps(failing)
    assert result.evidence["passing"][0]["index"] == ["token_1"]


def test_an_eof_plan_for_a_missing_collection_is_undecided(make_target) -> None:
    mongo = WireMongo(explains={"orders": explain_classic(NS, {"stage": "EOF"})})
    with running(mongo):
        result = run_one(
            make_target(profile(mongo.uri(), ORDERS_QUERY)), REGISTRY["db.index_usage"]
        )
    assert result.status == Status.ERROR and "EOF" in result.summary


# --- db.compound_index_sort -------------------------------------------------------------


def test_compound_index_sort_passes_on_one_compound_index(make_target) -> None:
    mongo = WireMongo(explains={"orders": GOOD_ORDERS})
    with running(mongo):
        t = make_target(profile(mongo.uri(), ORDERS_QUERY + SESSIONS_QUERY))
        result = run_one(t, REGISTRY["db.compound_index_sort"])
    assert result.status == Status.PASS, result.summary
    assert [q["query"] for q in result.evidence["queries"]] == ["paid orders, newest first"]
    assert mongo.sent().count("explain") == 1  # the sessions query has no sort: not explained


@pytest.mark.parametrize("explain", [explain_classic, explain_sbe], ids=["classic", "slot-based"])
def test_compound_index_sort_fails_on_a_blocking_sort(make_target, explain) -> None:
    reply = explain(NS, sort({"created_at": -1}, fetch(ixscan("status_1", {"status": 1}))))
    mongo = WireMongo(explains={"orders": reply})
    with running(mongo):
        result = run_one(
            make_target(profile(mongo.uri(), ORDERS_QUERY)), REGISTRY["db.compound_index_sort"]
        )
    assert result.status == Status.FAIL
    assert "SORT on orders" in result.summary
    failing = result.evidence["failing"][0]
    assert failing["stage"] == "SORT" and failing["index"] == ["status_1"]
    assert failing["fix"] == "create index {status: 1, created_at: -1} on orders"


def test_esr_puts_equality_then_sort_then_range_fields(make_target) -> None:
    query = (
        '[[mongo.hot_queries]]\ncollection = "orders"\n'
        'filter = {total = {"$gt" = 10}, status = "paid", region = {"$eq" = "eu"}}\n'
        "sort = {created_at = -1, _id = 1}\n"
    )
    mongo = WireMongo(explains={"orders": SORTED_ORDERS})
    with running(mongo):
        result = run_one(
            make_target(profile(mongo.uri(), query)), REGISTRY["db.compound_index_sort"]
        )
    assert result.evidence["failing"][0]["fix"] == (
        "create index {status: 1, region: 1, created_at: -1, _id: 1, total: 1} on orders"
    )


def test_compound_index_sort_skips_without_a_filter_and_sort_query(make_target) -> None:
    mongo = WireMongo()
    with running(mongo):
        result = run_one(
            make_target(profile(mongo.uri(), SESSIONS_QUERY)), REGISTRY["db.compound_index_sort"]
        )
    assert result.status == Status.SKIP and "mongo.hot_queries" in result.summary
    assert mongo.sent() == []


# --- db.ttl_indexes ---------------------------------------------------------------------


def test_ttl_indexes_pass_and_fail(make_target) -> None:
    mongo = WireMongo(indexes={**TTL, "carts": [index("_id_", {"_id": 1})]})
    with running(mongo):
        good = run_one(
            make_target(profile(mongo.uri(), 'ttl_collections = ["sessions"]\n')),
            REGISTRY["db.ttl_indexes"],
        )
        bad = run_one(
            make_target(profile(mongo.uri(), 'ttl_collections = ["sessions", "carts", "otp"]\n')),
            REGISTRY["db.ttl_indexes"],
        )
    assert good.status == Status.PASS, good.summary
    assert good.evidence["ttl_indexes"]["sessions"][0]["expireAfterSeconds"] == 3600
    assert bad.status == Status.FAIL
    assert bad.summary.startswith("2 of 3 short-lived collections have no TTL index: carts")
    assert bad.evidence["missing"] == {
        "carts": "no TTL index among _id_",
        "otp": "collection does not exist",
    }


def test_ttl_indexes_skip_when_no_collection_is_listed(make_target) -> None:
    mongo = WireMongo()
    with running(mongo):
        result = run_one(make_target(profile(mongo.uri())), REGISTRY["db.ttl_indexes"])
    assert result.status == Status.SKIP and "mongo.ttl_collections" in result.summary


# --- db.write_concern -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mongo", "status", "words"),
    [
        (
            WireMongo(replica_set="rs0"),
            Status.PASS,
            "replica set rs0; default write concern is majority",
        ),
        (WireMongo(mongos=True), Status.PASS, "sharded cluster (mongos)"),
        (WireMongo(replica_set="rs0", rw=rw_concern(w=1, source="global")), Status.FAIL, "w: 1"),
        (WireMongo(replica_set="rs0", rw={"defaultReadConcern": {}}), Status.FAIL, "w: unset"),
        (WireMongo(), Status.FAIL, "standalone server: hello answered no setName"),
    ],
    ids=["rs-majority", "mongos", "rs-w1", "rs-unset", "standalone"],
)
def test_write_concern(make_target, mongo: WireMongo, status: Status, words: str) -> None:
    with running(mongo):
        result = run_one(make_target(profile(mongo.uri())), REGISTRY["db.write_concern"])
    assert result.status == status and words in result.summary, result.summary
    if mongo.replica_set is None and not mongo.mongos:
        assert "getDefaultRWConcern" not in mongo.sent()


def test_a_replica_set_profile_discovers_the_set(make_target) -> None:
    mongo = WireMongo(replica_set="rs0")
    with running(mongo):
        uri = mongo.uri() + "?replicaSet=rs0"
        t = make_target(profile(uri, "replica_set = true\n"))
        result = run_one(t, REGISTRY["db.write_concern"])
        # Discovery is ours; the driver only ever gets one judged member, directly.
        assert deployment(t).client.topology_description.topology_type_name == "Single"
    assert result.status == Status.PASS, result.summary
    assert "replica set rs0" in result.summary


def test_the_checks_connect_directly_to_the_primary_a_seed_announces(make_target) -> None:
    primary = WireMongo(replica_set="rs0")
    with running(primary):
        seed = WireMongo(replica_set="rs0", primary=primary.address)
        with running(seed):
            t = make_target(profile(seed.uri() + "?replicaSet=rs0", "replica_set = true\n"))
            result = run_one(t, REGISTRY["db.write_concern"])
            servers = list(deployment(t).client.topology_description.server_descriptions())
    assert result.status == Status.PASS, result.summary
    assert servers == [("127.0.0.1", primary.port)]
    assert seed.sent() == ["hello"]  # the discovery hello, nothing else
    assert "getDefaultRWConcern" in primary.sent()


@pytest.mark.parametrize("announced_as", ["member", "primary"])
def test_a_member_outside_the_policy_is_refused_before_the_driver_meets_it(
    make_target, announced_as: str
) -> None:
    from tests.engine.conftest import Listener

    forbidden = Listener("127.0.0.2")  # a real socket: what the driver would reach
    try:
        member = f"127.0.0.2:{forbidden.port}"
        mongo = (
            WireMongo(replica_set="rs0", members=[member])
            if announced_as == "member"
            else WireMongo(replica_set="rs0", primary=member)
        )
        with running(mongo):
            t = make_target(
                profile(mongo.uri() + "?replicaSet=rs0", "replica_set = true\n"),
                DestinationPolicy(allow=["127.0.0.1"]),
            )
            result = run_one(t, REGISTRY["db.write_concern"])
        accepted = forbidden.settle()
    finally:
        forbidden.close()
    assert result.status == Status.ERROR
    assert result.summary == "destination refused: 127.0.0.2: address not in the allowlist"
    assert accepted == 0
    assert mongo.sent() == ["hello"]


# --- every check: not configured, unreachable, silent, read-only, one client --------------


@pytest.mark.parametrize("key", DB_KEYS)
def test_without_mongo_every_db_check_skips_naming_the_setting(make_target, key) -> None:
    result = run_one(make_target(profile(None)), REGISTRY[key])
    assert result.status == Status.SKIP and result.summary.startswith("missing setting mongo.uri")


def test_an_unreachable_server_is_an_error_not_a_failure(make_target) -> None:
    uri = f"mongodb://127.0.0.1:{closed_port()}/shop"
    t = make_target(profile(uri, ORDERS_QUERY, timeout_ms=300, ttl='"sessions"'))
    results = outcomes(t, *DB_KEYS)
    for result in results.values():
        assert result.status == Status.ERROR, result
        assert "was not reachable within 300 ms" in result.summary
        assert "Connection refused" in result.summary
        assert result.duration_ms < 5000


def test_a_server_that_never_answers_is_an_error(make_target) -> None:
    mongo = WireMongo(explains={"orders": GOOD_ORDERS}, hang={"explain", "listIndexes"})
    with running(mongo):
        t = make_target(profile(mongo.uri(), ORDERS_QUERY, timeout_ms=300, ttl='"x"'))
        results = outcomes(t, "db.index_usage", "db.ttl_indexes")
    assert results["db.index_usage"].status == Status.ERROR
    assert results["db.index_usage"].summary == (
        f"MongoDB at mongodb://127.0.0.1:{mongo.port}/shop did not answer explain within 300 ms"
    )
    assert "did not answer listIndexes" in results["db.ttl_indexes"].summary


def test_all_checks_send_only_read_commands_through_one_client_closed_after_the_run(
    make_target,
) -> None:
    mongo = WireMongo(replica_set="rs0", explains={"orders": SCANNED_ORDERS}, indexes=TTL)
    with running(mongo):
        t = make_target(profile(mongo.uri(), ORDERS_QUERY, ttl='"sessions"'))
        results = outcomes(t, *DB_KEYS)
        client = deployment(t).client
        t.close()
    assert {k: str(r.status) for k, r in results.items()} == {
        "db.index_usage": "fail",
        "db.compound_index_sort": "fail",
        "db.ttl_indexes": "pass",
        "db.write_concern": "pass",
    }
    assert set(mongo.sent()) <= READ_COMMANDS
    assert mongo.sent().count("explain") == 1  # explained once, judged by both plan checks
    with pytest.raises(Exception, match="after close"):
        client.admin.command("hello")


# --- credentials and destinations ---------------------------------------------------------


def test_credentials_never_reach_outcomes_evidence_or_logs(make_target, caplog) -> None:
    user, password = "probe-reader", "Pa55:w0rd@vault!"
    mongo = WireMongo(
        replica_set="rs0", explains={"orders": SCANNED_ORDERS}, indexes=TTL, users={user: password}
    )
    caplog.set_level(logging.DEBUG)
    with running(mongo):
        uri = mongo.uri(user=user, password=password)
        t = make_target(profile(uri, ORDERS_QUERY, ttl='"sessions", "otp"'))
        results = outcomes(t, *DB_KEYS)
        wrong = make_target(profile(mongo.uri(user=user, password="not-" + password)))
        refused = run_one(wrong, REGISTRY["db.write_concern"])
    assert "saslContinue" in mongo.commands  # the password really was used (SCRAM-SHA-256)
    assert [str(r.status) for r in results.values()] == ["fail", "fail", "fail", "pass"]
    assert refused.status == Status.ERROR and "Authentication failed" in refused.summary
    shown = json.dumps([r.as_dict() for r in [*results.values(), refused]])
    shown += caplog.text + repr(t.profile) + json.dumps(t.profile.redacted(), default=str)
    assert f"mongodb://***@{mongo.address}/shop" in shown
    for secret in (user, password, "Pa55", "w0rd", "Pa55%3Aw0rd"):
        assert secret not in shown
    assert "db checks: connecting to mongodb://***@" in caplog.text


def test_redact_uri_keeps_hosts_and_database_only() -> None:
    assert redact_uri("mongodb://u:p@a:1,b:2/shop?authSource=admin&w=1") == (
        "mongodb://***@a:1,b:2/shop?…"
    )
    assert redact_uri("mongodb://a:1") == "mongodb://a:1"


class _Connects:
    """Records every outbound socket connect (a CPython audit hook: real, not a mock)."""

    def __init__(self) -> None:
        self.active = False
        self.seen: list[Any] = []
        self.lock = threading.Lock()
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active and event == "socket.connect":
            with self.lock:
                self.seen.append(args[1])


CONNECTS = _Connects()


@pytest.mark.parametrize(
    ("uri", "summary"),
    [
        (
            "mongodb://u:pw@169.254.169.254:27017/shop",
            "destination refused: 169.254.169.254: cloud metadata or link-local address",
        ),
        (
            "mongodb://u:pw@[::ffff:169.254.169.254]:27017/shop",
            "destination refused: ::ffff:169.254.169.254 (169.254.169.254): cloud metadata",
        ),
        (
            "mongodb://u:pw@db.internal.example:27017/shop",
            "destination refused: db.internal.example: hostname not in the allowlist",
        ),
        (
            "mongodb+srv://u:pw@cluster0.example.net/shop",
            "destination refused: cluster0.example.net: mongodb+srv:// URIs are refused",
        ),
    ],
    ids=["metadata-ip", "mapped-metadata-ip", "unlisted-host", "srv"],
)
def test_a_refused_destination_errors_before_any_connection(make_target, uri, summary) -> None:
    t = make_target(profile(uri, ORDERS_QUERY))
    CONNECTS.seen.clear()
    CONNECTS.active = True
    try:
        results = outcomes(t, *DB_KEYS[:2], DB_KEYS[3])
    finally:
        CONNECTS.active = False
    assert CONNECTS.seen == []
    for result in results.values():
        assert result.status == Status.ERROR and result.summary.startswith(summary), result.summary
        assert "pw" not in json.dumps(result.as_dict()).replace("refused", "")


def test_the_audit_hook_does_see_connections() -> None:
    """Guards the test above: an empty list must mean "no connect", not "hook broken"."""
    CONNECTS.seen.clear()
    CONNECTS.active = True
    try:
        with running(WireMongo(replica_set="rs0")) as mongo:
            from pymongo import MongoClient

            client: Any = MongoClient(mongo.uri(), directConnection=True)
            client.admin.command("hello")
            client.close()
    finally:
        CONNECTS.active = False
    assert ("127.0.0.1", mongo.port) in CONNECTS.seen


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (
            "authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:x",
            "authMechanism=MONGODB-OIDC",
        ),
        ("authMechanismProperties=AWS_SESSION_TOKEN:abc", "authMechanismProperties"),
        ("tls=true&tlsCAFile=/etc/hostname", "tlsCAFile"),
    ],
)
def test_unsafe_uri_options_are_refused_again_right_before_the_driver_connects(
    make_target, options: str, named: str
) -> None:
    """A profile that never went through save (built in code here) is judged at run time."""
    import dataclasses

    from checks.engine.mongo_settings import MongoSettings

    address = f"127.0.0.1:{closed_port()}"  # allowlisted; nothing may even try to connect
    t = make_target(profile(f"mongodb://{address}/shop"))
    unsafe = MongoSettings(uri=f"mongodb://u:pw-x1@{address}/shop?{options}")
    t.profile = dataclasses.replace(t.profile, mongo=unsafe)
    CONNECTS.seen.clear()
    CONNECTS.active = True
    try:
        result = run_one(t, REGISTRY["db.write_concern"])
    finally:
        CONNECTS.active = False
    assert CONNECTS.seen == []
    assert result.status == Status.ERROR
    assert f"URI option {named} is refused" in result.summary
    assert "pw-x1" not in json.dumps(result.as_dict())


def test_tls_to_mongodb_trusts_the_profile_ca_and_never_fetches_ocsp(make_target, tmp_path):
    from checks.catalog._mongo import _driver_options

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = profile("mongodb://db.example/shop?tls=true") + f'[tls]\nca_file = "{ca}"\n'
    t = make_target(text)
    options = _driver_options(t, {"options": {"tls": True}})
    assert options["tlsCAFile"] == str(ca) and options["tlsDisableOCSPEndpointCheck"] is True
    assert "tlsCAFile" not in _driver_options(t, {"options": {}})


# --- the load drill's database sampler ------------------------------------------------------


def test_the_load_drill_samples_server_status_while_the_load_runs(make_target, monkeypatch):
    from checks.catalog import load
    from checks.engine.hooks import Drill

    monkeypatch.setattr(load, "DB_SAMPLE_EVERY_S", 0.05)
    mongo = WireMongo()
    with running(mongo):
        t = make_target(profile(mongo.uri()))
        drill = Drill(t=t, key="load.target_rps", restore=(), context=None)  # type: ignore[arg-type]
        sampler = load.DbSampler(t, drill)
        sampler.start()
        deadline = threading.Event()
        deadline.wait(0.4)
        sampler.stop()
    assert sampler.note is None, sampler.note
    assert len(sampler.samples) >= 2
    first = sampler.samples[0]
    assert first["connections"] == 12 and first["resident_mb"] == 180 and first["queued"] == 0
    assert first["opcounters"]["insert"] == 3
    assert set(mongo.sent()) <= READ_COMMANDS and "serverStatus" in mongo.sent()
