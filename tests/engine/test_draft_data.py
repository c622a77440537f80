"""What the portal needs from discovery (issue 12, item 8): the draft as JSON data and back,
a blank draft that is a valid profile, the stages discovery reports as it goes, and why it
failed as a reason a page can show."""

from __future__ import annotations

import tomllib

from checks.engine.discover import Credentials, DiscoveryFailed, blank_draft, discover
from checks.engine.draft import Draft, render_toml
from checks.engine.http import DestinationPolicy, GuardedClient
from checks.engine.profile import parse_profile
from tests.catalog.conftest import POLICY, closed_port
from tests.support.refservice import run_reference_service


def test_a_discovered_draft_survives_json_and_reports_its_stages() -> None:
    stages: list[str] = []
    client = GuardedClient(POLICY, timeout=5)
    with run_reference_service() as ref:
        creds = Credentials(
            username="probe",
            password=ref.password,
            password_env="PW",
            otp_secret=ref.otp_secret,
            otp_secret_env="OTP",
        )
        draft = discover(client, ref.base_url, credentials=creds, progress=stages.append)
    client.close()
    assert stages == [
        "reading the OpenAPI document",
        "inferring the login, the resource and the routes",
        "logging in once to confirm the draft",
    ]
    again = Draft.from_data(draft.to_data())
    assert render_toml(again) == render_toml(draft) and again.as_dict() == draft.as_dict()


def test_a_blank_draft_is_a_profile_with_everything_else_to_fill_in() -> None:
    draft = blank_draft("http://127.0.0.1:9/", "orders", username="probe")
    text = render_toml(draft)
    assert text.startswith("# A blank profile")
    tables = {name: table for name, table in tomllib.loads(text).items() if table}
    assert tables == {
        "service": {"name": "orders", "base_url": "http://127.0.0.1:9"},
        "auth": {"username": "probe"},
    }
    parse_profile(text, env={}, check_files=False)
    assert '# items = "/items"' in text and "# style = " in text


def test_discovery_failures_carry_a_reason() -> None:
    client = GuardedClient(DestinationPolicy(allow=["192.0.2.1"]), timeout=2)
    reasons = []
    for url in (f"http://127.0.0.1:{closed_port()}", "http://127.0.0.1:9"):
        try:
            discover(client, url)
        except DiscoveryFailed as exc:
            reasons.append(exc.reason)
    client.close()
    assert reasons == ["refused", "refused"]
    client = GuardedClient(POLICY, timeout=2)
    try:
        discover(client, f"http://127.0.0.1:{closed_port()}")
    except DiscoveryFailed as exc:
        assert exc.reason == "unreachable"
    else:
        raise AssertionError("discovery of a closed port did not fail")
    finally:
        client.close()
