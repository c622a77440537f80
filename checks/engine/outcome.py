"""What checks return (Verdict) and what the runner records (Outcome).

A check states a verdict about the service; timing, the key and exception handling belong
to the runner, so checks stay small and cannot forget them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """``error`` means the check could not decide; it is never a verdict on the service."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


@dataclass(frozen=True)
class Verdict:
    """What a check function returns. ``evidence`` must be JSON-serialisable."""

    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


def passed(summary: str, **evidence: Any) -> Verdict:
    return Verdict(Status.PASS, summary, evidence)


def failed(summary: str, **evidence: Any) -> Verdict:
    return Verdict(Status.FAIL, summary, evidence)


def skipped(summary: str, **evidence: Any) -> Verdict:
    return Verdict(Status.SKIP, summary, evidence)


def errored(summary: str, **evidence: Any) -> Verdict:
    return Verdict(Status.ERROR, summary, evidence)


@dataclass(frozen=True)
class Outcome:
    """One check's recorded result, as the CLI prints it and the portal stores it."""

    key: str
    status: Status
    summary: str
    evidence: dict[str, Any]
    duration_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": str(self.status),
            "summary": self.summary,
            "duration_ms": self.duration_ms,
            "evidence": self.evidence,
        }


class MissingSetting(Exception):
    """Raised by a check that needs a profile setting that is absent; recorded as ``skip``."""

    def __init__(self, setting: str, why: str = "") -> None:
        self.setting = setting
        self.why = why
        message = f"missing setting {setting}"
        super().__init__(f"{message}: {why}" if why else message)
