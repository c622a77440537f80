"""Loading the deployment files, and the rules for telling a secret from a reference to one.

No Docker engine or Kubernetes cluster runs here, so these files are tested by parsing them
(and, where the real tool is installed, by the tool itself: promtool, amtool, kubectl).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
ENV_EXAMPLE = ROOT / ".env.example"

APP_UID = 10001

# Names that hold credentials. DATABASE_URL / *_URL are judged by their password part.
SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|_KEYS?$)", re.I
)
# ${VAR}, ${VAR:?message} or ${VAR?message}: a reference that has no literal fallback.
STRICT_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
# ${VAR:-default} / ${VAR-default}: a reference whose default would be baked in.
DEFAULTED_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_documents(*, include_templates: bool = True) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        if not include_templates and ".template." in path.name:
            continue
        docs.extend(load_yaml_documents(path))
    return docs


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def url_password(value: str) -> str | None:
    """The password of a URL like postgres://{user}:{password}@{host}/{db}, or None."""
    if "://" not in value:
        return None
    # urlsplit cannot split a netloc that holds a ${VAR:?message} with spaces; cut by hand.
    netloc = value.split("://", 1)[1].split("/", 1)[0]
    if "@" not in netloc:
        return None
    userinfo = netloc.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def literal_secret(name: str, value: object) -> str | None:
    """Why `name=value` is a literal secret, or None when it is not one.

    A secret-looking name may only hold nothing or a strict ${VAR} reference (no default); a URL
    may only carry its password as such a reference.
    """
    text = "" if value is None else str(value)
    password = url_password(text)
    if password is not None and not STRICT_REFERENCE.fullmatch(password):
        return f"{name}: URL with a literal password"
    if not is_secret_name(name) or not text:
        return None
    defaulted = DEFAULTED_REFERENCE.fullmatch(text)
    if defaulted:
        return f"{name}: reference with a literal default {defaulted.group(2)!r}"
    if STRICT_REFERENCE.fullmatch(text):
        return None
    return f"{name}: literal value"


def resolve_defaults(text: str) -> str:
    """Interpolate ${VAR:-default} with its default, as compose does when VAR is unset."""
    return DEFAULTED_REFERENCE.sub(lambda m: m.group(2), text)


def _walk_containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", []) or []
    yield from spec.get("containers", []) or []


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (Deployment, Job, CronJob, ...), or None."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template")
    return template.get("spec") if template else None


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return list(_walk_containers(spec)) if spec else []
