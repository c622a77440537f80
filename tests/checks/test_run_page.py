"""The run page: results grouped by runbook step with counts, failures first, each with its fix
hint and the checklist items it verifies; evidence rendered as escaped key/values."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from checks import evidence
from checks.catalog import REGISTRY
from checks.catalog.hints import HINTS
from checks.models import CheckResult, ValidationRun
from checks.selectors import run_groups
from portal.models import ItemState
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _run(service, results: list[tuple[str, str]]) -> ValidationRun:
    run = ValidationRun.objects.create(
        service=service, status="failed", keys=[key for key, _ in results]
    )
    for key, status in results:
        CheckResult.objects.create(
            run=run,
            key=key,
            status=status,
            summary=f"{key} {status}",
            evidence={"setting": "x"} if status == "skip" else {},
        )
    return run


def test_every_check_has_one_fix_hint_and_no_hint_is_orphaned() -> None:
    assert set(HINTS) == set(REGISTRY)
    assert all(20 < len(text) < 260 and "\n" not in text for text in HINTS.values())


def test_results_are_grouped_by_runbook_step_with_failing_groups_first(service) -> None:
    run = _run(
        service,
        [
            ("smoke.health", "pass"),
            ("smoke.ping_db", "pass"),
            ("smoke.crud_cycle", "pass"),
            ("api.cursor_pagination", "pass"),
            ("auth.otp_flow", "skip"),
            ("security.cors", "fail"),
            ("security.headers", "pass"),
            ("db.write_concern", "skip"),
            ("observability.request_id", "error"),
            ("repo.no_secrets", "pass"),
        ],
    )
    groups = run_groups(run)
    titles = [g.title for g in groups]
    # Groups with a failure or an error first (runbook order among them), then the rest.
    assert titles == [
        "5. Observability & alerts",
        "Checklist items verified over HTTP",
        "2. Smoke tests",
        "3. Functional checks",
        "Checklist items verified in the database",
        "Checklist items verified in the repository",
    ]
    http = groups[1]
    assert [r.result.key for r in http.rows] == ["security.cors", "security.headers"]
    assert http.counts == {"passed": 1, "failed": 1, "skipped": 0, "errored": 0}
    assert groups[0].counts == {"passed": 0, "failed": 0, "skipped": 0, "errored": 1}
    assert groups[2].counts["passed"] == 3 and not groups[2].needs_action


def test_in_a_group_failed_then_errored_then_skipped_then_passed(service) -> None:
    run = _run(
        service,
        [
            ("smoke.health", "pass"),
            ("smoke.ping_db", "skip"),
            ("smoke.crud_cycle", "error"),
            ("api.cursor_pagination", "pass"),
            ("auth.jwt_flow", "fail"),
        ],
    )
    smoke, functional = (g for g in run_groups(run) if g.key in ("step-2", "step-3"))
    assert [r.result.status for r in smoke.rows] == ["error", "skip", "pass"]
    assert [r.result.key for r in functional.rows] == ["auth.jwt_flow", "api.cursor_pagination"]


def test_each_result_carries_its_hint_and_the_items_it_verifies_first(service) -> None:
    run = _run(service, [("chaos.db_readiness", "fail"), ("security.cors", "pass")])
    rows = {r.result.key: r for g in run_groups(run) for r in g.rows}
    chaos = rows["chaos.db_readiness"]
    assert chaos.hint == HINTS["chaos.db_readiness"]
    assert [i.role for i in chaos.items] == ["verifies", "verifies", "supports"]
    assert {i.key for i in chaos.verifies} == {
        "reliability.readiness_probes",
        "testing.chaos_test",
    }
    state = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    assert [(i.key, i.anchor) for i in rows["security.cors"].items] == [
        ("security.cors_allowlist", f"item-{state.pk}")
    ]


def test_a_key_the_catalog_no_longer_has_lands_in_other_checks(service) -> None:
    run = _run(service, [("retired.check", "fail")])
    (group,) = run_groups(run)
    assert (group.title, group.rows[0].hint, group.rows[0].items) == ("Other checks", "", [])


def test_the_page_shows_the_failure_first_with_its_hint_and_item_link(service, lead) -> None:
    run = _run(service, [("smoke.health", "pass"), ("security.cors", "fail")])
    client = Client()
    assert client.login(username="lead", password=PASSWORD)
    html = client.get(reverse("checks:run-detail", args=[run.pk])).content.decode()
    assert html.index('data-key="security.cors"') < html.index('data-key="smoke.health"')
    assert HINTS["security.cors"].split(";")[0] in html
    state = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    assert f'/services/orders/#item-{state.pk}"' in html
    assert "1 failed" in html and "1 passed" in html


# --- the evidence renderer ---------------------------------------------------------------------


def test_an_exchange_reads_as_a_line_with_headers_and_a_pretty_json_body() -> None:
    html = evidence.render(
        {
            "response": {
                "request": "GET /items?limit=2",
                "status": 404,
                "elapsed_ms": 12,
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"detail": "Not Found", "items": [1, 2]}),
            }
        }
    )
    assert "<code>GET /items?limit=2</code> → <strong" in html and ">404</strong>" in html
    assert "<th>content-type</th><td>" in html
    assert '"detail": "Not Found"' in html.replace("&quot;", '"')
    assert '<pre class="ev-text ev-json">{\n  ' in html
    assert "{'" not in html  # no Python repr anywhere


def test_hostile_html_in_keys_and_values_is_escaped() -> None:
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    html = evidence.render({attack: attack, "list": [attack], "body": attack})
    assert "<script" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 4


def test_a_huge_value_is_cut_with_a_way_to_see_it_all() -> None:
    huge = "A" * 500_000
    html = evidence.render({"body": huge})
    assert "show all (500,000 characters)" in html
    assert "<details" in html and "Cut at 100,000 of 500,000 characters" in html
    assert len(html) < 110_000


def test_deep_nesting_falls_back_to_pretty_json_and_never_recurses_forever() -> None:
    deep: dict = {}
    node = deep
    for _ in range(3000):
        node["a"] = {}
        node = node["a"]
    html = evidence.render(deep)
    assert html.count('<dl class="ev-kv">') == evidence.MAX_DEPTH
    assert "nested too deep to show" in html or "&quot;a&quot;" in html


def test_long_lists_and_many_keys_say_how_many_are_hidden() -> None:
    html = evidence.render({"findings": [{"file": f"f{i}", "line": i} for i in range(80)]})
    assert html.count("<li>") == evidence.MAX_ENTRIES
    assert "… 30 more not shown" in html
    many = evidence.render({f"k{i}": i for i in range(60)})
    assert "… 10 more keys not shown" in many


def test_scalars_and_empty_evidence() -> None:
    assert evidence.render({}) == ""
    html = evidence.render({"ok": True, "none": None, "n": 3.5, "tags": ["a", "b"]})
    assert "true" in html and "null" in html and "3.5" in html
    assert "<code>a</code>, <code>b</code>" in html


def test_a_json_body_is_reindented_as_stored_never_decoded() -> None:
    # A service can write a secret as \u escapes the scrubber never saw decoded; decoding
    # the body for display would put it on the page.
    body = (
        '{"input":{"password":"\\u0073\\u0065\\u0063\\u0072\\u0065\\u0074"},"n":[],"s":"a,b:{c}"}'
    )
    html = evidence.render({"response": {"request": "POST /login", "status": 422, "body": body}})
    assert "secret" not in html
    assert evidence.reindent(body) == (
        '{\n  "input": {\n    "password": "\\u0073\\u0065\\u0063\\u0072\\u0065\\u0074"\n  },'
        '\n  "n": [],\n  "s": "a,b:{c}"\n}'
    )
    assert json.loads(evidence.reindent(body)) == json.loads(body)


def test_reindenting_is_linear_whatever_the_depth() -> None:
    deep = "[" * 5000 + "]" * 5000
    laid_out = evidence.reindent(deep)
    assert len(laid_out) < 5000 * 2 * (2 * 20 + 2)
    assert "<pre" in evidence.render({"body": deep})


def test_a_skipped_check_links_the_setting_it_needs(service, lead) -> None:
    run = ValidationRun.objects.create(service=service, status="passed", keys=["db.ttl_indexes"])
    CheckResult.objects.create(
        run=run,
        key="db.ttl_indexes",
        status="skip",
        summary="missing setting mongo.uri",
        evidence={"setting": "mongo.uri"},
    )
    client = Client()
    assert client.login(username="lead", password=PASSWORD)
    html = client.get(reverse("checks:run-detail", args=[run.pk])).content.decode()
    assert 'href="/docs/profile/#mongo.uri"><code>mongo.uri</code></a>' in html
    assert 'href="/services/orders/profile/"' in html
    assert "fix-hint" not in html  # a skip is not a failure: no fix to make
