"""Facts pushed by CI: coverage, lint / type / security scan results and the dependency
audit. They verify or fail the Testing & Quality Gates items, by the system user, with the
same expiry as any other automated evidence (portal.services.items_from_external).

A dependency audit that checked no package is not a pass: pip-audit, for one, skips every
package and still exits 0 when its vulnerability database is unreachable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from core.errors import InvalidInput
from portal import audit
from portal import services as portal_services
from portal.models import AuditEvent, Service
from reviews.models import FactReport

SEVERITIES = ("info", "low", "medium", "high", "critical")
SCAN_KINDS = ("lint", "typecheck", "security")
COVERAGE_ITEM = "testing.coverage"
STATIC_ITEM = "testing.static_checks"
DEPENDENCY_ITEM = "testing.dependency_scan"


class BadFacts(InvalidInput):
    def __init__(self, details: list[dict[str, str]]) -> None:
        self.details = details
        super().__init__("The facts are not valid: " + "; ".join(d["message"] for d in details))


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_findings(value: Any, where: str, errors: list[dict[str, str]]) -> None:
    if not isinstance(value, dict) or any(
        key not in SEVERITIES or not _int(count) for key, count in value.items()
    ):
        errors.append(
            {
                "field": where,
                "message": f"{where} maps severities ({', '.join(SEVERITIES)}) to counts >= 0",
            }
        )


def validate(data: Any) -> dict[str, Any]:
    """The facts, checked field by field; raises BadFacts naming every problem."""
    errors: list[dict[str, str]] = []
    if not isinstance(data, dict):
        raise BadFacts([{"field": "", "message": "the body must be a JSON object"}])
    known = {"commit", "ci_url", "coverage", "scans", "dependency_audit"}
    for key in sorted(set(data) - known):
        errors.append({"field": key, "message": f"unknown field {key}"})
    if not ({"coverage", "scans", "dependency_audit"} & set(data)):
        errors.append({"field": "", "message": "send coverage, scans or dependency_audit"})
    commit = data.get("commit", "")
    if not isinstance(commit, str) or len(commit) > 100:
        errors.append({"field": "commit", "message": "commit is a string of at most 100"})
    ci_url = data.get("ci_url", "")
    parts = urlsplit(ci_url) if isinstance(ci_url, str) else None
    if ci_url and (parts is None or parts.scheme not in ("http", "https") or not parts.netloc):
        errors.append({"field": "ci_url", "message": "ci_url must be an http(s) URL"})
    elif isinstance(ci_url, str) and len(ci_url) > 500:
        errors.append({"field": "ci_url", "message": "ci_url is longer than 500 characters"})
    if "coverage" in data:
        cov = data["coverage"]
        pct = cov.get("percent") if isinstance(cov, dict) else None
        if not isinstance(pct, int | float) or isinstance(pct, bool) or not 0 <= pct <= 100:
            errors.append({"field": "coverage.percent", "message": "a number from 0 to 100"})
    if "scans" in data:
        scans = data["scans"]
        if not isinstance(scans, list) or not scans:
            errors.append({"field": "scans", "message": "scans is a non-empty list"})
            scans = []
        for i, scan in enumerate(scans):
            where = f"scans[{i}]"
            if not isinstance(scan, dict) or scan.get("kind") not in SCAN_KINDS:
                errors.append({"field": where, "message": f"kind is one of {SCAN_KINDS}"})
                continue
            _check_findings(scan.get("findings"), f"{where}.findings", errors)
    if "dependency_audit" in data:
        dep = data["dependency_audit"]
        if not isinstance(dep, dict) or not _int(dep.get("packages_checked")):
            errors.append(
                {
                    "field": "dependency_audit.packages_checked",
                    "message": "how many packages the audit actually checked (integer >= 0)",
                }
            )
        else:
            _check_findings(dep.get("findings"), "dependency_audit.findings", errors)
    if errors:
        raise BadFacts(errors)
    return data


def _above(findings: dict[str, int]) -> dict[str, int]:
    threshold = SEVERITIES.index(settings.PREFLIGHT_FACTS_MAX_SEVERITY)
    return {sev: n for sev, n in findings.items() if n and SEVERITIES.index(sev) > threshold}


def verdicts(facts: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """Item key -> (passed, why). A fact not sent decides nothing."""
    out: dict[str, tuple[bool, str]] = {}
    minimum = settings.PREFLIGHT_COVERAGE_MIN
    if "coverage" in facts:
        pct = float(facts["coverage"]["percent"])
        out[COVERAGE_ITEM] = (pct >= minimum, f"coverage {pct:g}% (minimum {minimum}%)")
    if "scans" in facts:
        bad = {
            f"{s['kind']}:{s.get('tool', '?')}": _above(s["findings"])
            for s in facts["scans"]
            if _above(s["findings"])
        }
        kinds = {s["kind"] for s in facts["scans"]}
        if bad:
            out[STATIC_ITEM] = (False, f"findings above {_max()}: {bad}")
        elif kinds >= set(SCAN_KINDS):
            out[STATIC_ITEM] = (True, "lint, type and security scans clean")
    if "dependency_audit" in facts:
        dep = facts["dependency_audit"]
        checked = dep["packages_checked"]
        bad_deps = _above(dep.get("findings") or {})
        if checked == 0:
            out[DEPENDENCY_ITEM] = (
                False,
                "the audit checked 0 packages (vulnerability database unreachable?)",
            )
        elif bad_deps:
            out[DEPENDENCY_ITEM] = (
                False,
                f"{checked} packages checked; above {_max()}: {bad_deps}",
            )
        else:
            out[DEPENDENCY_ITEM] = (True, f"{checked} packages checked, none above {_max()}")
    return out


def _max() -> str:
    return str(settings.PREFLIGHT_FACTS_MAX_SEVERITY)


@transaction.atomic
def facts_record(
    *, service: Service, data: Any, token_name: str = "", actor: Any = None
) -> FactReport:
    facts = validate(data)
    decided = verdicts(facts)
    report = FactReport.objects.create(
        service=service,
        commit=facts.get("commit", ""),
        ci_url=facts.get("ci_url", ""),
        facts=facts,
        verdicts={key: {"passed": ok, "reason": why} for key, (ok, why) in decided.items()},
        token_name=token_name,
    )
    evidence = report.ci_url or settings.PREFLIGHT_BASE_URL.rstrip("/") + reverse(
        "api:fact-detail", args=[service.slug, report.pk]
    )
    audit.record(
        action=AuditEvent.Action.FACTS_RECEIVED,
        actor=actor,
        service=service,
        evidence_url=evidence,
        payload={"report": report.pk, "token": token_name, "verdicts": report.verdicts},
    )
    portal_services.items_from_external(
        service=service,
        verdicts=decided,
        evidence_url=evidence,
        source=f"CI facts #{report.pk}",
        payload={"report": report.pk},
    )
    return report
