"""Infrastructure as code in the repository: Terraform, Bicep, Kubernetes manifests, Helm.

Kubernetes manifests are YAML documents whose top-level mapping has ``apiVersion`` and
``kind`` (kustomizations included); they are found by composing the YAML (node positions give
the line) with a loader that tolerates unknown tags. Helm chart templates are not YAML until
rendered, so a chart is recognised by its ``Chart.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml

from checks.catalog.repo.clone import Repo

MAX_MANIFEST_BYTES = 256 * 1024
MAX_YAML_FILES = 400


@dataclass
class Infra:
    terraform: list[str] = field(default_factory=list)
    bicep: list[str] = field(default_factory=list)
    kubernetes: list[str] = field(default_factory=list)
    helm: list[str] = field(default_factory=list)

    def as_evidence(self) -> dict[str, list[str]]:
        return {name: items[:20] for name, items in vars(self).items() if items}


def yaml_nodes(text: str) -> list[yaml.Node]:
    """Every document's root node; [] when the text is not YAML (templates, other dialects)."""
    try:
        return [node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node]
    except yaml.YAMLError:
        return []


def mapping_keys(node: yaml.Node) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def find(repo: Repo) -> Infra:
    found = Infra()
    yaml_files = 0
    for rel in repo.tracked:
        path = PurePosixPath(rel)
        name = path.name.lower()
        if name.endswith((".tf", ".tf.json")):
            found.terraform.append(rel)
        elif name.endswith(".bicep"):
            found.bicep.append(rel)
        elif name == "chart.yaml":
            found.helm.append(str(path.parent) if str(path.parent) != "." else rel)
        elif name.endswith((".yaml", ".yml")) and yaml_files < MAX_YAML_FILES:
            if "templates" in path.parts[:-1] or rel.startswith(".github/"):
                continue  # Helm templates are not YAML; workflows are not manifests
            yaml_files += 1
            text = repo.read_text(rel, MAX_MANIFEST_BYTES)
            for node in yaml_nodes(text or ""):
                keys = mapping_keys(node)
                kind = keys.get("kind")
                if "apiVersion" in keys and isinstance(kind, yaml.ScalarNode):
                    found.kubernetes.append(f"{rel}:{node.start_mark.line + 1} ({kind.value})")
    return found
