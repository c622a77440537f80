"""The profile's [mongo] section: typed, defaulted, every bad field named, URI never shown."""

from __future__ import annotations

import pytest

from checks.engine.mongo_settings import HotQuery, MongoSettings
from checks.engine.profile import ProfileError, parse_profile

BASE = '[service]\nname = "orders"\nbase_url = "http://127.0.0.1:9"\n'
URI = "mongodb://reader:hunter2-db@db.example:27017/shop"


def test_a_full_mongo_section_is_typed() -> None:
    profile = parse_profile(
        BASE
        + '[mongo]\nuri_env = "ORDERS_MONGO"\ndatabase = "shop"\nreplica_set = true\n'
        + 'timeout_ms = 1500\nttl_collections = ["sessions"]\ncritical_collections = ["orders"]\n'
        + '[[mongo.hot_queries]]\ncollection = "orders"\nname = "recent"\nhint = "status_1"\n'
        + 'filter = {status = "paid", total = {"$gt" = 10}}\nsort = {created_at = -1, _id = 1}\n'
        + "projection = {_id = 0, total = 1}\n",
        env={"ORDERS_MONGO": URI},
    )
    mongo = profile.mongo
    assert mongo.uri == URI and mongo.database == "shop" and mongo.replica_set is True
    assert mongo.timeout_ms == 1500
    assert mongo.ttl_collections == ("sessions",) and mongo.critical_collections == ("orders",)
    assert mongo.hot_queries == (
        HotQuery(
            collection="orders",
            filter={"status": "paid", "total": {"$gt": 10}},
            sort=(("created_at", -1), ("_id", 1)),
            projection={"_id": 0, "total": 1},
            hint="status_1",
            name="recent",
        ),
    )
    shown = repr(profile) + str(profile.redacted()) + repr(mongo)
    assert "hunter2-db" not in shown and "reader" not in shown


def test_mongo_defaults() -> None:
    assert parse_profile(BASE, env={}).mongo == MongoSettings()
    assert MongoSettings().timeout_ms == 3000 and MongoSettings().replica_set is False


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ("mongo = 3\n", "mongo", "must be a table"),
        ("[mongo]\nurl = 'x'\n", "mongo.url", "unknown key"),
        (f"[mongo]\nuri = '{URI}'\nuri_env = 'X'\n", "mongo.uri", "not both"),
        ("[mongo]\nuri = 'postgres://db/x'\n", "mongo.uri", "mongodb://"),
        ("[mongo]\nuri = 'mongodb://reader:hunter2-db@db.example:99999/x'\n", "mongo.uri", "valid"),
        ("[mongo]\nuri = 'mongodb://db/x?bogusOption=1'\n", "mongo.uri", "bogusOption is refused"),
        ("[mongo]\nuri_env = 'MISSING_VAR'\n", "mongo.uri_env", "MISSING_VAR is not set"),
        ("[mongo]\ndatabase = 'a.b'\n", "mongo.database", "database name"),
        ("[mongo]\nreplica_set = 'yes'\n", "mongo.replica_set", "true or false"),
        ("[mongo]\ntimeout_ms = 10\n", "mongo.timeout_ms", "between 50 and 60000"),
        ("[mongo]\nttl_collections = 'sessions'\n", "mongo.ttl_collections", "array"),
        ("[mongo]\ncritical_collections = ['']\n", "mongo.critical_collections[0]", "non-empty"),
        ("[mongo]\nhot_queries = {}\n", "mongo.hot_queries", "array of tables"),
        ("[[mongo.hot_queries]]\nfilter = {}\n", "mongo.hot_queries[0].collection", "required"),
        ("[[mongo.hot_queries]]\ncollection = 'o'\n", "mongo.hot_queries[0].filter", "required"),
        (
            "[[mongo.hot_queries]]\ncollection = 'system.users'\nfilter = {}\n",
            "mongo.hot_queries[0].collection",
            "system",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = 1\n",
            "mongo.hot_queries[0].filter",
            "table",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\nlimit = 3\n",
            "mongo.hot_queries[0].limit",
            "unknown key",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\n"
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\nsort = {created_at = 2}\n",
            "mongo.hot_queries[1].sort.created_at",
            "must be 1 or -1",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\nsort = {a = true}\n",
            "mongo.hot_queries[0].sort.a",
            "must be 1 or -1",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\nsort = {}\n",
            "mongo.hot_queries[0].sort",
            "non-empty",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {day = 2024-01-02}\n",
            "mongo.hot_queries[0].filter.day",
            "BSON",
        ),
        (
            "[[mongo.hot_queries]]\ncollection = 'o'\nfilter = {}\nhint = ''\n",
            "mongo.hot_queries[0].hint",
            "non-empty",
        ),
    ],
)
def test_each_bad_mongo_field_is_named(section: str, field: str, message: str) -> None:
    text = section + BASE if not section.startswith("[") else BASE + section
    with pytest.raises(ProfileError) as error:
        parse_profile(text, env={})
    assert error.value.field == field, str(error.value)
    assert message in str(error.value)
    assert "hunter2-db" not in str(error.value)


def test_an_srv_uri_is_accepted_by_the_profile_and_refused_at_run_time() -> None:
    profile = parse_profile(BASE + "[mongo]\nuri = 'mongodb+srv://u:p@cluster0.example.net/shop'\n")
    assert profile.mongo.uri is not None and profile.mongo.uri.startswith("mongodb+srv://")
    with pytest.raises(ProfileError, match="no host"):
        parse_profile(BASE + "[mongo]\nuri = 'mongodb+srv://u:p@/shop'\n")


# --- URI options: an allowlist, judged before the driver parses anything ------------------

OIDC = "authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:x"


@pytest.mark.parametrize(
    ("options", "named", "why"),
    [
        (OIDC, "authMechanism=MONGODB-OIDC", "fetch credentials"),
        ("authMechanismProperties=ENVIRONMENT:gcp", "authMechanismProperties", "fetch"),
        ("authMechanism=MONGODB-AWS", "authMechanism=MONGODB-AWS", "cloud metadata"),
        ("authmechanism=mongodb-oidc", "authmechanism=mongodb-oidc", "fetch credentials"),
        ("authMechanism=GSSAPI;authSource=$external", "authMechanism=GSSAPI", "Kerberos"),
        ("authMechanism=MONGODB-X509", "authMechanism=MONGODB-X509", "fetch credentials"),
        ("authMechanism=PLAIN", "authMechanism=PLAIN", "in the clear"),
        ("tls=true&tlsCAFile=/nonexistent/ca.pem", "tlsCAFile", "worker's disk"),
        ("tls=true&tlsCertificateKeyFile=/etc/hostname", "tlsCertificateKeyFile", "disk"),
        ("tlsCRLFile=/etc/hostname", "tlsCRLFile", "worker's disk"),
        ("loadBalanced=true", "loadBalanced", "not supported"),
        ("connect=false", "connect", "not one the db checks accept"),
        ("auth%4Dechanism=MONGODB-OIDC", "auth%4Dechanism", "not one the db checks accept"),
    ],
)
def test_unsafe_uri_options_are_refused_naming_the_option(
    options: str, named: str, why: str
) -> None:
    uri = f"mongodb://reader:hunter2-db@db.example:27017/shop?{options}"
    with pytest.raises(ProfileError) as error:
        parse_profile(BASE + f"[mongo]\nuri = '{uri}'\n")
    assert error.value.field == "mongo.uri"
    assert f"URI option {named} is refused" in error.value.message
    assert why in error.value.message
    assert "hunter2-db" not in str(error.value) and "ENVIRONMENT" not in str(error.value)


def test_srv_uris_are_judged_by_their_options_too() -> None:
    with pytest.raises(ProfileError, match="URI option authMechanism=MONGODB-AWS is refused"):
        parse_profile(
            BASE
            + "[mongo]\nuri = 'mongodb+srv://u:p@c.example.net/shop?authMechanism=MONGODB-AWS'\n"
        )


def test_scram_tls_timeouts_and_read_preferences_are_accepted() -> None:
    options = (
        "authMechanism=SCRAM-SHA-256&authSource=admin&tls=true&tlsAllowInvalidHostnames=true"
        "&replicaSet=rs0&readPreference=secondaryPreferred&readPreferenceTags=dc:ny"
        "&readPreferenceTags=&maxStalenessSeconds=120&appName=orders&directConnection=false"
        "&connectTimeoutMS=2000&serverSelectionTimeoutMS=2000&w=majority&compressors=zlib"
    )
    uri = f"mongodb://reader:hunter2-db@db-0.example,db-1.example/shop?{options}"
    assert parse_profile(BASE + f"[mongo]\nuri = '{uri}'\n").mongo.uri == uri
    plain = "mongodb://reader:pw@db.example/shop?authMechanism=PLAIN&authSource=$external&tls=true"
    assert parse_profile(BASE + f"[mongo]\nuri = '{plain}'\n").mongo.uri == plain
