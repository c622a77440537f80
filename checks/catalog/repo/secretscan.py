"""Committed credentials, found by Yelp's detect-secrets with its default plugins and filters.

Only what a finding *is* leaves this module (file, line, plugin type); the secret value never
does, not even a prefix. detect-secrets keeps its settings in a process-wide singleton, so
scans are serialised by a lock. The scan is bounded: files over ``MAX_FILE_BYTES`` are listed
as not scanned, and past ``MAX_TOTAL_BYTES`` the scan stops and the check cannot decide.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings

from checks.catalog.repo.clone import Repo

MAX_FILE_BYTES = 512 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    type: str


@dataclass
class Scan:
    findings: list[Finding] = field(default_factory=list)
    scanned: int = 0
    too_large: list[str] = field(default_factory=list)
    over_budget: bool = False


def scan(repo: Repo) -> Scan:
    result = Scan()
    budget = MAX_TOTAL_BYTES
    with _LOCK, default_settings():
        for rel in repo.tracked:
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
            for secret in scan_file(str(path)):
                result.findings.append(Finding(rel, int(secret.line_number), str(secret.type)))
    result.findings.sort(key=lambda f: (f.file, f.line, f.type))
    return result
