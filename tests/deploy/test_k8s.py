"""deploy/k8s/: parsed with PyYAML and validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, offline); rendered with `kubectl kustomize` when kubectl is installed."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.files import (
    APP_UID,
    COMPOSE,
    K8S,
    STRICT_REFERENCE,
    containers,
    k8s_documents,
    literal_secret,
    load_yaml,
    load_yaml_documents,
    pod_spec,
    resolve_defaults,
)

KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return k8s_documents()


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_manifest_is_valid_against_the_kubernetes_schema(
    docs: list[dict[str, Any]],
) -> None:
    for doc in docs:
        # strict: unknown fields (typos such as `livenessprobe`) are errors too.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_validation_refuses_a_typo(docs: list[dict[str, Any]]) -> None:
    web = by_kind(docs, "Deployment")["preflight-web"]
    broken = {**web, "spec": {**web["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_parts_exist(docs: list[dict[str, Any]]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Namespace", "preflight"),
        ("ConfigMap", "preflight-config"),
        ("Secret", "preflight-secrets"),
        ("Deployment", "preflight-web"),
        ("Deployment", "preflight-worker"),
        ("Deployment", "preflight-beat"),
        ("Service", "preflight-web"),
        ("Job", "preflight-migrate"),
        ("HorizontalPodAutoscaler", "preflight-worker"),
    } <= kinds
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "preflight", doc["metadata"]["name"]


def _security(doc: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The effective security context: the container's settings over the pod's."""
    spec = pod_spec(doc) or {}
    return {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}


def test_every_workload_runs_non_root_and_locked_down(docs: list[dict[str, Any]]) -> None:
    workloads = [d for d in docs if d["kind"] in {"Deployment", "Job", "StatefulSet", "CronJob"}]
    assert len(workloads) >= 4
    for doc in workloads:
        name = doc["metadata"]["name"]
        spec = pod_spec(doc)
        assert spec is not None
        assert spec.get("automountServiceAccountToken") is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(doc):
            sc = _security(doc, container)
            assert sc.get("runAsNonRoot") is True, name
            assert sc.get("runAsUser") == APP_UID, name
            assert sc.get("allowPrivilegeEscalation") is False, name
            assert sc.get("readOnlyRootFilesystem") is True, name
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], name
            assert (sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
            # A read-only root filesystem needs a writable /tmp.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name}: no /tmp emptyDir"


def test_every_workload_has_requests_and_limits(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        for container in containers(doc):
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), (
                    f"{doc['metadata']['name']}: {part}"
                )


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == port)


def test_web_has_liveness_on_health_and_readiness_on_ready(docs: list[dict[str, Any]]) -> None:
    web = by_kind(docs, "Deployment")["preflight-web"]
    (container,) = containers(web)
    assert container.get("args") == ["web"]
    live = container["livenessProbe"]["httpGet"]
    ready = container["readinessProbe"]["httpGet"]
    assert (live["path"], _port(container, live["port"])) == ("/health", 8000)
    assert (ready["path"], _port(container, ready["port"])) == ("/ready", 8000)
    # /ready must answer within a second; the probe's timeout leaves it that much and a bit.
    assert 1 <= container["readinessProbe"]["timeoutSeconds"] <= 3
    # Probes send a Host that Django serves (DJANGO_ALLOWED_HOSTS from the ConfigMap).
    config = by_kind(docs, "ConfigMap")["preflight-config"]["data"]
    allowed = config["DJANGO_ALLOWED_HOSTS"].split(",")
    for probe in (live, ready):
        hosts = [h["value"] for h in probe.get("httpHeaders", []) if h["name"] == "Host"]
        assert hosts and hosts[0] in allowed
    service = by_kind(docs, "Service")["preflight-web"]
    assert (
        service["spec"]["selector"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    )
    assert _port(container, service["spec"]["ports"][0]["targetPort"]) == 8000


def test_beat_is_a_singleton(docs: list[dict[str, Any]]) -> None:
    beat = by_kind(docs, "Deployment")["preflight-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    hpas = by_kind(docs, "HorizontalPodAutoscaler").values()
    assert all(h["spec"]["scaleTargetRef"]["name"] != "preflight-beat" for h in hpas)


def test_worker_and_beat_run_celery(docs: list[dict[str, Any]]) -> None:
    deployments = by_kind(docs, "Deployment")
    (worker,) = containers(deployments["preflight-worker"])
    assert worker["args"][:4] == ["celery", "-A", "app", "worker"]
    # The sweepers' own queue too: they must not wait behind the runs they clear.
    assert "--queues=celery,celery-sweep" in worker["args"]
    (beat,) = containers(deployments["preflight-beat"])
    assert beat["args"][:4] == ["celery", "-A", "app", "beat"]
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["preflight-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "preflight-worker"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_migration_job(docs: list[dict[str, Any]]) -> None:
    job = by_kind(docs, "Job")["preflight-migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"  # type: ignore[index]
    (container,) = containers(job)
    script = " ".join(container["args"])
    assert "manage.py migrate" in script and "import_template" in script


def test_one_image_everywhere(docs: list[dict[str, Any]]) -> None:
    images = {c["image"] for d in docs for c in containers(d)}
    assert len(images) == 1, images
    (image,) = images
    assert not image.endswith(":latest") and ":" in image
    compose_image = load_yaml(COMPOSE)["services"]["web"]["image"]
    assert resolve_defaults(compose_image) == image


def test_configuration_comes_from_the_configmap_and_the_secret(
    docs: list[dict[str, Any]],
) -> None:
    for doc in docs:
        for container in containers(doc):
            refs = container.get("envFrom", [])
            assert {"configMapRef": {"name": "preflight-config"}} in refs
            assert {"secretRef": {"name": "preflight-secrets"}} in refs
            for var in container.get("env", []):
                assert literal_secret(var["name"], var.get("value")) is None, var


def test_no_secret_has_literal_data(docs: list[dict[str, Any]]) -> None:
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        assert not secret.get("data"), "base64 data would be a committed secret"
        for key, value in (secret.get("stringData") or {}).items():
            assert value in ("", None) or STRICT_REFERENCE.fullmatch(value), key
    config = by_kind(docs, "ConfigMap")["preflight-config"]["data"]
    problems = [p for k, v in config.items() if (p := literal_secret(k, v))]
    assert not problems, problems
    assert "DATABASE_URL" not in config  # it carries a password: Secret only


def test_kustomization_lists_the_long_running_parts_only() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    resources = set(kustomization["resources"])
    assert all((K8S / r).exists() for r in resources)
    assert "secret.template.yaml" not in resources  # holds no values
    assert "migrate-job.yaml" not in resources  # run once per release, before the rollout
    assert {"web.yaml", "worker.yaml", "beat.yaml", "configmap.yaml"} <= resources


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_kustomize_renders() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    rendered = {(d["kind"], d["metadata"]["name"]) for d in _documents(out.stdout)}
    assert ("Deployment", "preflight-web") in rendered
    assert ("Secret", "preflight-secrets") not in rendered


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_manifests_use_no_yaml_anchors() -> None:
    # kubectl and kustomize handle anchors unevenly; the manifests spell everything out.
    for path in K8S.glob("*.yaml"):
        assert load_yaml_documents(path)
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            assert ": &" not in code and ": *" not in code, f"{path.name}: {line}"
