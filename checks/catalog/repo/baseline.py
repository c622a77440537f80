"""detect-secrets' own ``.secrets.baseline``, read as the team's CI reads it.

Where: the ``--baseline`` argument of the detect-secrets hook in ``.pre-commit-config.yaml``
(how CI usually runs it), else ``.secrets.baseline`` in ``repo.subdir`` or at the root.

What is honoured:
- ``results``: a finding whose file, type and hashed value (SHA-1 of what the plugin
  matched, as detect-secrets stores it) are listed is known and audited, and dismissed,
  unless the entry says it is real
  (``is_secret: true``) or was verified live (``is_verified: true``): then it still counts;
- the regex filters the baseline was made with (``--exclude-files``, ``--exclude-lines``,
  ``--exclude-secrets``; the 0.x ``exclude`` block too), reported in the evidence.

What is not: custom plugins and filters (``file://`` paths would run code from the
repository) and disabled plugins (what counts as a credential is Preflight's call).
A baseline that cannot be read is reported and the scan runs without it.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from checks.catalog.repo.clone import Repo
from checks.catalog.repo.infra import mapping_keys, yaml_nodes

DEFAULT_NAME = ".secrets.baseline"
MAX_BASELINE_BYTES = 4 * 1024 * 1024
_FILTERS = {
    "detect_secrets.filters.regex.should_exclude_file": "files",
    "detect_secrets.filters.regex.should_exclude_line": "lines",
    "detect_secrets.filters.regex.should_exclude_secret": "secrets",
}


@dataclass
class Baseline:
    path: str
    # (file relative to the repository root, hashed secret, type) -> True when marked real
    entries: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    exclude: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    problem: str | None = None

    def verdict(self, file: str, hashed: str, kind: str) -> bool | None:
        """None: not listed; True: listed as a real secret; False: known, audited away."""
        return self.entries.get((file, hashed, kind))

    def excludes(self, kind: str, text: str) -> bool:
        return any(p.search(text) for p in self.exclude.get(kind, []))

    def as_evidence(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"file": self.path, "entries": len(self.entries)}
        shown["marked_real"] = sum(self.entries.values())
        for kind, patterns in self.exclude.items():
            shown[f"exclude_{kind}"] = [p.pattern for p in patterns][:10]
        if self.problem:
            shown["problem"] = self.problem
        return shown


def _hook_baseline(repo: Repo) -> str | None:
    """The path given to the detect-secrets pre-commit hook's ``--baseline``."""
    for root in yaml_nodes(repo.read_text(".pre-commit-config.yaml") or ""):
        repos = mapping_keys(root).get("repos")
        for entry in repos.value if isinstance(repos, yaml.SequenceNode) else []:
            hooks = mapping_keys(entry).get("hooks")
            for hook in hooks.value if isinstance(hooks, yaml.SequenceNode) else []:
                keys = mapping_keys(hook)
                ident, args = keys.get("id"), keys.get("args")
                if not isinstance(ident, yaml.ScalarNode) or "detect-secrets" not in ident.value:
                    continue
                given = getattr(args, "value", [])
                words = [str(a.value) for a in given if isinstance(a, yaml.ScalarNode)]
                for i, word in enumerate(words):
                    if word.startswith("--baseline="):
                        return word.split("=", 1)[1]
                    if word == "--baseline" and i + 1 < len(words):
                        return words[i + 1]
    return None


def _normal(rel: str) -> str | None:
    """``rel`` as a clean path inside the repository, or None."""
    text = rel.strip()
    if not text or text.startswith(("/", "~")) or "\\" in text:
        return None
    path = posixpath.normpath(text)
    return None if path in (".", "..") or path.startswith("../") else path


def locate(repo: Repo) -> str | None:
    candidates = [_hook_baseline(repo), repo.under_base(DEFAULT_NAME), DEFAULT_NAME]
    for rel in candidates:
        path = _normal(rel) if rel else None
        if path and repo.is_tracked(path):
            return path
    return None


def _compile(kind: str, raw: Any, out: dict[str, list[re.Pattern[str]]]) -> str | None:
    patterns = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            continue
        try:
            out.setdefault(kind, []).append(re.compile(pattern))
        except re.error as exc:
            return f"exclude pattern {pattern[:80]!r} is not a valid regex ({exc})"
    return None


def load(repo: Repo) -> Baseline | None:
    rel = locate(repo)
    if rel is None:
        return None
    found = Baseline(rel)
    text = repo.read_text(rel, limit=MAX_BASELINE_BYTES)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        found.problem = "not a detect-secrets baseline (unreadable JSON); scanned without it"
        return found
    folder = posixpath.dirname(rel)
    results = data.get("results")
    for name, entries in (results if isinstance(results, dict) else {}).items():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            hashed, kind = entry.get("hashed_secret"), entry.get("type")
            if not isinstance(hashed, str) or not isinstance(kind, str):
                continue
            real = entry.get("is_secret") is True or entry.get("is_verified") is True
            # detect-secrets runs from the baseline's folder; names are relative to it.
            for file in {_normal(posixpath.join(folder, name)), _normal(name)}:
                if file:
                    key = (file, hashed, kind)
                    found.entries[key] = found.entries.get(key, False) or real
    problems = []
    for item in data.get("filters_used") or []:
        kind = _FILTERS.get(item.get("path", "")) if isinstance(item, dict) else None
        if kind:
            problems.append(_compile(kind, item.get("pattern"), found.exclude))
    old = data.get("exclude")
    if isinstance(old, dict):  # detect-secrets 0.x
        for kind in ("files", "lines"):
            problems.append(_compile(kind, old.get(kind), found.exclude))
    found.problem = next((p for p in problems if p), None)
    return found
