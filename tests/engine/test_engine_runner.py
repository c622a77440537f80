"""The runner: concurrency bound, timeouts, isolation, exception mapping, order; selection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from checks.engine.http import (
    DestinationPolicy,
    DestinationRefused,
    GuardedClient,
    ResponseTooLarge,
)
from checks.engine.outcome import MissingSetting, Outcome, Status, Verdict, failed, passed
from checks.engine.profile import parse_profile
from checks.engine.registry import CheckSpec, UnknownCheck, UnknownStep, select_specs
from checks.engine.runner import run_checks
from checks.engine.target import Target

PROFILE = "[service]\nname = 'orders'\nbase_url = 'http://127.0.0.1:9'\n"


@pytest.fixture
def target() -> Target:
    profile = parse_profile(PROFILE, env={})
    return Target(profile, GuardedClient(DestinationPolicy(["127.0.0.1"])))


def spec(
    key: str, run: Callable[[Target], Verdict], *, step: str = "smoke", **kw: object
) -> CheckSpec:
    return CheckSpec(key=key, step=step, title=key, run=run, **kw)  # type: ignore[arg-type]


class Gauge:
    """Counts checks running at once, for asserting the concurrency bound and isolation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def check(
        self, seconds: float, *, isolated_probe: list[int] | None = None
    ) -> Callable[[Target], Verdict]:
        def run(_t: Target) -> Verdict:
            with self.lock:
                if isolated_probe is not None:
                    isolated_probe.append(self.now)
                self.now += 1
                self.peak = max(self.peak, self.now)
            time.sleep(seconds)
            with self.lock:
                self.now -= 1
            return passed("ok")

        return run


def test_it_never_runs_more_than_the_bound_at_once(target: Target) -> None:
    gauge = Gauge()
    specs = [spec(f"c.{i}", gauge.check(0.05)) for i in range(8)]
    started = time.monotonic()
    outcomes = run_checks(target, specs, concurrency=3)
    assert gauge.peak == 3
    assert [o.status for o in outcomes] == [Status.PASS] * 8
    assert time.monotonic() - started < 0.5  # really concurrent: 3 waves, not 8


def test_the_bound_defaults_to_the_profile_setting(target: Target) -> None:
    gauge = Gauge()
    run_checks(target, [spec(f"c.{i}", gauge.check(0.03)) for i in range(9)])
    assert gauge.peak == target.profile.http.concurrency == 4


def test_an_overrunning_check_times_out_without_holding_up_the_run(target: Target) -> None:
    release = threading.Event()

    def hang(_t: Target) -> Verdict:
        release.wait(10)
        return passed("too late")

    specs = [spec("slow.one", hang, timeout_s=0.2), spec("fast.one", lambda t: passed("ok"))]
    started = time.monotonic()
    outcomes = run_checks(target, specs, concurrency=1)
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 1.0
    assert (outcomes[0].status, outcomes[0].summary) == (Status.ERROR, "timed out after 0.2s")
    assert outcomes[0].duration_ms == 200
    assert outcomes[1].status == Status.PASS  # its slot was freed when the first timed out


def test_isolated_checks_run_last_and_alone(target: Target) -> None:
    gauge = Gauge()
    order: list[str] = []
    seen_running: list[int] = []

    def tracked(key: str, run: Callable[[Target], Verdict]) -> Callable[[Target], Verdict]:
        def wrapper(t: Target) -> Verdict:
            verdict = run(t)
            order.append(key)
            return verdict

        return wrapper

    specs = [
        spec(
            "iso.a",
            tracked("iso.a", gauge.check(0.02, isolated_probe=seen_running)),
            isolated_because="disturbs the others",
        ),
        *(spec(f"c.{i}", tracked(f"c.{i}", gauge.check(0.05))) for i in range(4)),
        spec(
            "iso.b",
            tracked("iso.b", gauge.check(0.02, isolated_probe=seen_running)),
            isolated_because="disturbs the others",
        ),
    ]
    outcomes = run_checks(target, specs, concurrency=4)
    assert order[-2:] == ["iso.a", "iso.b"]
    assert seen_running == [0, 0]
    assert [o.key for o in outcomes] == [s.key for s in specs]
    reasons = {o.key: o.evidence.get("isolated_because") for o in outcomes}
    assert reasons == {
        "iso.a": "disturbs the others",
        "iso.b": "disturbs the others",
        **{f"c.{i}": None for i in range(4)},
    }


def test_on_start_is_called_as_each_check_starts_before_its_result(target: Target) -> None:
    gauge = Gauge()
    events: list[str] = []
    specs = [spec(f"c.{i}", gauge.check(0.02)) for i in range(3)]
    run_checks(
        target,
        specs,
        concurrency=1,
        on_start=lambda s: events.append(f"start {s.key}"),
        on_result=lambda o: events.append(f"end {o.key}"),
    )
    assert events == ["start c.0", "end c.0", "start c.1", "end c.1", "start c.2", "end c.2"]


def raiser(exc: BaseException) -> Callable[[Target], Verdict]:
    def run(_t: Target) -> Verdict:
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "status", "summary"),
    [
        (
            MissingSetting("auth.username", "needed to log in"),
            Status.SKIP,
            "missing setting auth.username: needed to log in",
        ),
        (MissingSetting("mongo.uri"), Status.SKIP, "missing setting mongo.uri"),
        (
            DestinationRefused("evil", "10.0.0.1", "nope"),
            Status.ERROR,
            "destination refused: evil (10.0.0.1): nope",
        ),
        (httpx.ConnectError("refused"), Status.ERROR, "network error: refused"),
        (httpx.ReadTimeout("slow"), Status.ERROR, "network timeout: slow"),
        (ResponseTooLarge("http://x", 10), Status.ERROR, "response from http://x exceeds 10 bytes"),
        (ValueError("boom"), Status.ERROR, "ValueError: boom"),
        (SystemExit(3), Status.ERROR, "SystemExit: 3"),
    ],
)
def test_exceptions_are_mapped_per_the_contract(
    target: Target, exc: BaseException, status: Status, summary: str
) -> None:
    [outcome] = run_checks(target, [spec("x.y", raiser(exc))])
    assert (outcome.status, outcome.summary) == (status, summary)


def test_a_skip_names_the_setting_in_its_evidence(target: Target) -> None:
    [outcome] = run_checks(target, [spec("x.y", raiser(MissingSetting("tls.https_url")))])
    assert outcome.evidence == {"setting": "tls.https_url"}


def test_results_keep_spec_order_and_are_reported_as_they_finish(target: Target) -> None:
    seen: list[Outcome] = []

    def sleeper(seconds: float, verdict: Verdict) -> Callable[[Target], Verdict]:
        def run(_t: Target) -> Verdict:
            time.sleep(seconds)
            return verdict

        return run

    specs = [
        spec("a.slow", sleeper(0.15, passed("a"))),
        spec("b.mid", sleeper(0.08, failed("b", got=1))),
        spec("c.fast", sleeper(0.0, passed("c"))),
    ]
    outcomes = run_checks(target, specs, on_result=seen.append)
    assert [o.key for o in outcomes] == ["a.slow", "b.mid", "c.fast"]
    assert [o.key for o in seen] == ["c.fast", "b.mid", "a.slow"]
    assert outcomes[1].as_dict() == {
        "key": "b.mid",
        "status": "fail",
        "summary": "b",
        "duration_ms": outcomes[1].duration_ms,
        "evidence": {"got": 1},
    }
    assert outcomes[0].duration_ms >= 150


def test_bad_return_values_and_non_json_evidence_are_handled(target: Target) -> None:
    specs = [
        spec("a.none", lambda t: None),  # type: ignore[arg-type,return-value]
        spec("b.set", lambda t: passed("ok", items={1}, when=object)),
    ]
    first, second = run_checks(target, specs)
    assert first.status == Status.ERROR and "not a Verdict" in first.summary
    assert second.status == Status.PASS and isinstance(second.evidence["items"], str)


def test_no_specs_means_no_outcomes(target: Target) -> None:
    assert run_checks(target, []) == []


REGISTRY = {
    "smoke.health": spec("smoke.health", lambda t: passed("ok")),
    "smoke.ping_db": spec("smoke.ping_db", lambda t: passed("ok")),
    "security.cors": spec("security.cors", lambda t: passed("ok"), step="http"),
}


def test_select_filters_by_key_and_step_in_registry_order() -> None:
    assert [s.key for s in select_specs(REGISTRY)] == list(REGISTRY)
    assert [s.key for s in select_specs(REGISTRY, steps=["smoke"])] == [
        "smoke.health",
        "smoke.ping_db",
    ]
    picked = select_specs(REGISTRY, only=["security.cors", "smoke.health"])
    assert [s.key for s in picked] == ["smoke.health", "security.cors"]
    assert select_specs(REGISTRY, only=["security.cors"], steps=["smoke"]) == []
    assert select_specs(REGISTRY, steps=["db"]) == []  # a known step with no checks yet


def test_select_refuses_unknown_keys_and_steps() -> None:
    with pytest.raises(UnknownCheck) as key_error:
        select_specs(REGISTRY, only=["smoke.healht"])
    assert key_error.value.key == "smoke.healht"
    with pytest.raises(UnknownStep) as step_error:
        select_specs(REGISTRY, steps=["smok"])
    assert step_error.value.step == "smok"
