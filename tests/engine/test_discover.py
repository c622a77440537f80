"""``preflight discover`` (issue 12, item 7) beyond the four real-convention services (those are
in tests/catalog/test_real_services.py): the reference service, a service without a document,
an unreachable one, credentials that do not work, and destinations outside the allowlist."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from checks.catalog import REGISTRY
from checks.engine.auth_settings import KEYS as AUTH_KEYS
from checks.engine.cli import main
from checks.engine.discover import Doc, _Example
from checks.engine.draft import Draft, render_toml
from checks.engine.http import DestinationPolicy
from checks.engine.outcome import Status
from checks.engine.profile import PathSettings
from checks.engine.resource_settings import ResourceSettings, StatusSettings
from tests.catalog.conftest import POLICY, closed_port
from tests.support.realservices import run_real_service
from tests.support.refservice import run_reference_service

from .conftest import Listener


def cli(argv: list[str], env: dict[str, str], policy: DestinationPolicy = POLICY) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, registry=REGISTRY, policy=policy, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def test_the_reference_service_is_drafted_and_checked_without_edits(tmp_path: Path) -> None:
    with run_reference_service() as ref:
        env = {"PW": ref.password, "OTP": ref.otp_secret}
        code, toml, err = cli(
            [
                "discover",
                "--base-url",
                ref.base_url,
                "--username",
                "probe",
                "--password-env",
                "PW",
                "--otp-secret-env",
                "OTP",
            ],
            env,
        )
        assert code == 0, err
        assert "# NOTE: confirmed: logged in; GET /items answered 200" in toml
        data = tomllib.loads(toml)
        assert data["paths"]["refresh"] == "/auth/refresh" and data["auth"]["style"] == "json"
        assert ref.password not in toml and ref.otp_secret not in toml
        profile = tmp_path / "ref.toml"
        profile.write_text(toml)
        code, out, err = cli(
            ["check", "--profile", str(profile), "--steps", "smoke,functional,http", "--json"], env
        )
    results = {r["key"]: r for r in json.loads(out)["results"]}
    statuses = {k: r["status"] for k, r in results.items()}
    assert statuses.pop("security.tls") == Status.SKIP
    assert set(statuses.values()) == {Status.PASS}, json.dumps(results, indent=1)[:4000]
    assert code == 0


def test_a_service_without_an_openapi_document_exits_2() -> None:
    with run_real_service(
        "token_server", CLIENT_ID="c", CLIENT_SECRET="s", ISSUER_SECRET="i" * 32
    ) as server:
        code, out, err = cli(["discover", "--base-url", server.base_url], {})
    assert (code, out) == (2, "")
    assert "no OpenAPI document found (tried " in err and "--openapi-url" in err


def test_an_unreachable_service_exits_2() -> None:
    code, out, err = cli(["discover", "--base-url", f"http://127.0.0.1:{closed_port()}"], {})
    assert (code, out) == (2, "")
    assert "cannot reach http://127.0.0.1:" in err


def test_credentials_that_do_not_log_in_print_the_draft_and_exit_1() -> None:
    with run_real_service("oauth_app") as app:
        argv = ["discover", "--base-url", app.base_url, "--username", app.username]
        code, out, err = cli([*argv, "--password-env", "PW"], {"PW": "not-the-password"})
    assert code == 1
    assert 'style = "oauth2_password"' in out
    assert "did not log in: the probe's login failed: POST /api/v1/login/access-token" in err


def test_an_unset_password_variable_is_refused_before_any_request() -> None:
    code, out, err = cli(
        ["discover", "--base-url", "http://127.0.0.1:1", "--password-env", "NOPE"], {}
    )
    assert (code, out) == (2, "")
    assert "environment variable NOPE is not set" in err


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "127.1", "[::ffff:127.0.0.1]"])
def test_discover_never_connects_outside_the_allowlist(spelling: str, listener: Listener) -> None:
    policy = DestinationPolicy(allow=["192.0.2.10"])
    code, out, err = cli(
        ["discover", "--base-url", f"http://{spelling}:{listener.port}"], {}, policy
    )
    assert (code, out) == (2, "")
    assert "destination refused" in err
    assert listener.settle() == 0


def test_a_token_url_outside_the_allowlist_is_never_contacted() -> None:
    # The service itself is allowlisted; its external token endpoint (another loopback
    # address, really listening) is not, and the login is refused before any connection.
    listener = Listener("127.0.0.2")
    with run_real_service("widgets_app") as widgets:
        text = (
            f'[service]\nname = "w"\nbase_url = "{widgets.base_url}"\n[auth]\n'
            'style = "client_credentials"\nclient_id = "c"\nclient_secret = "s"\n'
            f'token_url = "http://127.0.0.2:{listener.port}/oauth/token"\n'
            '[paths]\nitems = "/v1/widgets"\n'
        )
        profile = Path(widgets.env["DATABASE_URL"].split("///")[1]).parent / "p.toml"
        profile.write_text(text)
        code, out, _err = cli(
            ["check", "--profile", str(profile), "--only", "smoke.crud_cycle", "--json"],
            {},
            DestinationPolicy(allow=["127.0.0.1"]),
        )
    result = json.loads(out)["results"][0]
    assert (code, result["status"]) == (3, "error")
    assert "destination refused" in result["summary"]
    assert listener.settle() == 0
    listener.close()


def test_an_example_body_places_the_marker_and_respects_formats() -> None:
    doc = Doc(
        {
            "openapi": "3.1.0",
            "paths": {},
            "components": {
                "schemas": {
                    "In": {
                        "type": "object",
                        "required": ["contact", "count", "kind", "inner"],
                        "properties": {
                            "contact": {"type": "string", "format": "email"},
                            "count": {"type": "integer", "minimum": 3},
                            "kind": {"enum": ["a", "b"]},
                            "inner": {"$ref": "#/components/schemas/Inner"},
                            "title": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        },
                    },
                    "Inner": {"type": "object", "properties": {"on": {"type": "boolean"}}},
                }
            },
        }
    )
    example = _Example(doc)
    body = example.build({"$ref": "#/components/schemas/In"})
    assert body == {
        "title": "${marker}",
        "contact": "preflight@example.com",
        "count": 3,
        "kind": "a",
        "inner": {},
    }
    assert example.marked


def test_the_toml_rendering_quotes_what_toml_needs() -> None:
    draft = Draft(base_url="http://x", openapi_url="http://x/openapi.json")
    section = draft.section("auth")
    section.set("body", {"user name": {"e": 'a "b"\n'}}, "a source # with a hash")
    section.todo("scheme", "Bearer", "fill in")
    text = render_toml(draft)
    assert tomllib.loads(text) == {"auth": {"body": {"user name": {"e": 'a "b"\n'}}}}
    assert '# scheme = "Bearer"  # fill in' in text
    assert draft.as_dict() == {"auth": {"body": {"user name": {"e": 'a "b"\n'}}}}


def test_every_login_resource_and_status_setting_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "profile.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    wanted = [("auth", k.removesuffix("_env")) for k in AUTH_KEYS]
    wanted += [("paths", f.name) for f in dataclasses.fields(PathSettings)]
    wanted += [("resource", f.name) for f in dataclasses.fields(ResourceSettings)]
    wanted += [("status", f.name) for f in dataclasses.fields(StatusSettings)]
    missing = [
        f"{section}.{key}"
        for section, key in wanted
        if not any(
            re.match(rf"\| `{section}\.[^|]*\b{re.escape(key)}\b", row)
            or re.match(rf"\| `{section}\.[^|]*` `[^|]*\b{re.escape(key)}\b", row)
            for row in rows
        )
    ]
    assert missing == []
