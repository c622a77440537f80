"""Committed credentials, found by Yelp's detect-secrets, then judged as a reviewer would.

detect-secrets runs with its default plugins and filters (so its inline allowlist pragmas,
``# pragma: allowlist secret`` and ``# pragma: allowlist nextline secret``, are honoured),
minus the public-IP plugin (an address is not a credential). Each candidate is then judged
(secretrules.py, baseline.py): files in a left-out category are not scanned, placeholders
and migration revision ids are dismissed, the team's ``.secrets.baseline`` dismisses what it
lists as audited, and what remains is ranked, most serious first, one finding per line.

Only what a finding *is* leaves this module (file, line, plugin type, rank); the secret value
never does, not even a prefix. detect-secrets keeps its settings in a process-wide singleton,
so scans are serialised by a lock. The scan is bounded: files over ``MAX_FILE_BYTES`` are
listed as not scanned, and past ``MAX_TOTAL_BYTES`` the scan stops and the check cannot decide.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings

from checks.catalog.repo import baseline as baselines
from checks.catalog.repo import secretrules as rules
from checks.catalog.repo.clone import Repo

MAX_FILE_BYTES = 512 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_LOCK = threading.Lock()
_NOT_CREDENTIALS = ("IPPublicDetector",)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    type: str
    rank: int
    kind: str  # "private key", "cloud key", "token", ... (secretrules.rank_of)
    baseline_says_real: bool = False


@dataclass
class Scan:
    findings: list[Finding] = field(default_factory=list)
    scanned: int = 0
    too_large: list[str] = field(default_factory=list)
    over_budget: bool = False
    left_out: Counter[str] = field(default_factory=Counter)  # category -> files
    dismissed: Counter[str] = field(default_factory=Counter)  # reason -> candidates
    baseline: baselines.Baseline | None = None

    def scope_evidence(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"left_out_files": dict(self.left_out)}
        shown["dismissed"] = dict(self.dismissed)
        if self.baseline is not None:
            shown["baseline"] = self.baseline.as_evidence()
        return shown


class _File:
    """The lines of one scanned file, read only when a candidate needs them."""

    def __init__(self, repo: Repo, rel: str) -> None:
        self.repo, self.rel = repo, rel
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            text = self.repo.read_text(self.rel, limit=MAX_FILE_BYTES) or ""
            self._lines = text.splitlines()
        return self._lines

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


def _dismissal(
    secret: PotentialSecret, source: _File, include: frozenset[str], base: baselines.Baseline | None
) -> str | None:
    """Why a candidate is not a finding, or None when it is one."""
    number = int(secret.line_number)
    text = source.line(number)
    value = secret.secret_value
    if base is not None and (
        base.excludes("lines", text) or (value is not None and base.excludes("secrets", value))
    ):
        return "baseline exclude pattern"
    if "migration_ids" not in include and rules.is_revision_line(text):
        return "migration revision id"
    if secret.type == "Private Key":
        if not rules.private_key_has_body(source.lines, number - 1):
            return "placeholder"
    elif rules.is_placeholder(value) or (
        secret.type == "Basic Auth Credentials" and rules.is_placeholder_userinfo(text, value)
    ):
        return "placeholder"
    elif rules.is_reference(text, value):
        return "names a variable"
    elif secret.type == "Secret Keyword" and rules.is_prose(value):
        return "words, not a credential"
    elif secret.type == "Secret Keyword" and rules.is_word_comparison(text, value):
        return "compared with a word"
    elif "migration_ids" not in include and rules.is_short_hex(secret.type, value):
        return "too short for a key"
    if base is not None and base.verdict(source.rel, secret.secret_hash, secret.type) is False:
        return "audited in the baseline"
    return None


def _judge(repo: Repo, rel: str, include: frozenset[str], result: Scan) -> list[Finding]:
    base = result.baseline
    source = _File(repo, rel)
    found = []
    for secret in scan_file(str(repo.root / rel)):
        why = _dismissal(secret, source, include, base)
        if why:
            result.dismissed[why] += 1
            continue
        rank, kind = rules.rank_of(str(secret.type))
        real = base is not None and base.verdict(rel, secret.secret_hash, secret.type) is True
        found.append(Finding(rel, int(secret.line_number), str(secret.type), rank, kind, real))
    return found


def _most_serious_per_line(findings: list[Finding]) -> list[Finding]:
    best: dict[tuple[str, int], Finding] = {}
    for f in findings:
        key = (f.file, f.line)
        kept = best.get(key, f)
        if (f.rank, f.type) < (kept.rank, kept.type):
            kept = f
        real = kept.baseline_says_real or f.baseline_says_real
        best[key] = replace(kept, baseline_says_real=real)
    return sorted(best.values(), key=lambda f: (f.rank, f.file, f.line, f.type))


def scan(repo: Repo, include: frozenset[str] = frozenset()) -> Scan:
    """Scan the tracked files; ``include`` names the left-out categories to scan anyway."""
    result = Scan(baseline=baselines.load(repo))
    base = result.baseline
    budget = MAX_TOTAL_BYTES
    findings: list[Finding] = []
    with _LOCK, default_settings() as settings:
        settings.disable_plugins(*_NOT_CREDENTIALS)
        for rel in repo.tracked:
            if base is not None and rel == base.path:
                continue  # its hashed_secret values are hex by design
            category = rules.category_of(rel)
            if category is not None and category not in include:
                result.left_out[category] += 1
                continue
            if base is not None and base.excludes("files", rel):
                result.left_out["baseline exclude pattern"] += 1
                continue
            path = repo.root / rel
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                size = path.stat().st_size
            except OSError:
                continue
            if size > MAX_FILE_BYTES:
                result.too_large.append(rel)
                continue
            if size > budget:
                result.over_budget = True
                break
            budget -= size
            result.scanned += 1
            findings.extend(_judge(repo, rel, include, result))
    result.findings = _most_serious_per_line(findings)
    return result
