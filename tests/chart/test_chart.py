"""The Helm chart, checked with real Helm (Helm v4's Go SDK through helm-python-sdk), the Kubernetes
schemas (kubernetes-validate) and hadolint for the Dockerfile. No cluster, no helm binary."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dialtone"
KUBERNETES = "1.33.0"
VALUE_FILES = sorted((CHART / "ci").glob("*.yaml"))
CASES = [("default", {})] + [(f.stem, yaml.safe_load(f.read_text())) for f in VALUE_FILES]
# Kinds that come from other projects' CRDs, not in the Kubernetes schemas.
FOREIGN_KINDS = {"ServiceMonitor"}


def render(values: dict) -> list[dict]:
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(values)
    manifests = chart.render(values, name="dialtone", namespace="dialtone", is_install=True)
    objects = []
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("name,values", CASES, ids=[c[0] for c in CASES])
def test_lints_strictly(name, values):
    report = helm.lint(str(CHART), values, strict=True, namespace="dialtone", kube_version=f"v{KUBERNETES}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("name,values", CASES, ids=[c[0] for c in CASES])
def test_every_rendered_object_is_valid_for_kubernetes(name, values):
    objects = render(values)
    assert objects
    for obj in objects:
        if obj["kind"] in FOREIGN_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_crds_ship_with_the_chart_and_are_valid():
    crds = sorted((CHART / "crds").glob("*.yaml"))
    assert [c.name for c in crds] == sorted(c.name for c in (ROOT / "crds").glob("*.yaml"))
    for crd in crds:
        assert crd.read_text() == (ROOT / "crds" / crd.name).read_text(), crd.name
        kubernetes_validate.validate(yaml.safe_load(crd.read_text()), KUBERNETES, strict=True)


@pytest.mark.parametrize("name,values", CASES, ids=[c[0] for c in CASES])
def test_pod_meets_the_restricted_profile(name, values):
    (deployment,) = of_kind(render(values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "add" not in context["capabilities"]
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "hostNetwork" not in pod and "hostPID" not in pod


@pytest.mark.parametrize("name,values", CASES, ids=[c[0] for c in CASES])
def test_rbac_has_no_wildcards_and_covers_what_the_operator_uses(name, values):
    objects = render(values)
    roles = of_kind(objects, "ClusterRole") + of_kind(objects, "Role")
    rules = [rule for role in roles for rule in role["rules"]]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    granted = {(group, resource, verb) for r in rules for group in r["apiGroups"] for resource in r["resources"] for verb in r["verbs"]}
    for needed in [
        ("dialtone.io", "alarmpolicies", "watch"),
        ("dialtone.io", "alarmpolicies", "patch"),
        ("dialtone.io", "alarmpolicies/status", "patch"),
        ("dialtone.io", "maintenancewindows", "list"),
        ("events.k8s.io", "events", "create"),
        ("coordination.k8s.io", "leases", "update"),
    ]:
        assert needed in granted, needed
    assert not any(verb in ("delete", "create") and group == "dialtone.io" for group, _, verb in granted), "never writes its objects"


def test_cluster_role_by_default_role_when_one_namespace_is_watched():
    default = render({})
    assert of_kind(default, "ClusterRole") and of_kind(default, "ClusterRoleBinding")
    scoped = render({"watchNamespace": "contact-center"})
    assert not of_kind(scoped, "ClusterRole") and not of_kind(scoped, "ClusterRoleBinding")
    (role,) = [r for r in of_kind(scoped, "Role") if r["metadata"]["namespace"] == "contact-center"]
    assert role["rules"][0]["apiGroups"] == ["dialtone.io"]
    (deployment,) = of_kind(scoped, "Deployment")
    assert "--namespace=contact-center" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_irsa_annotation_region_and_rate_limits_reach_the_pod():
    values = yaml.safe_load((CHART / "ci" / "irsa-values.yaml").read_text())
    objects = render(values)
    (account,) = of_kind(objects, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/dialtone")
    (deployment,) = of_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "AWS_REGION", "value": "eu-central-1"} in container["env"]
    assert "--aws-rate=PutMetricAlarm=2" in container["args"]


def test_service_monitor_and_network_policy_are_optional():
    assert not of_kind(render({}), "ServiceMonitor") and not of_kind(render({}), "NetworkPolicy")
    values = yaml.safe_load((CHART / "ci" / "servicemonitor-values.yaml").read_text())
    objects = render(values)
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert of_kind(objects, "NetworkPolicy")
    assert of_kind(objects, "PodDisruptionBudget")


@pytest.mark.parametrize(
    "values",
    [{"replicas": 2}, {"replicaCount": "two"}, {"logFormat": "xml"}, {"aws": {"regoin": "us-east-1"}}, {"resync": "1 minute"}],
)
def test_a_typo_in_values_fails_at_install(values):
    with pytest.raises(helm.HelmError):
        helm.Chart.load(str(CHART)).validate_schema(values)


def test_dockerfile_is_clean_under_hadolint():
    hadolint = shutil.which("hadolint") or str(pathlib.Path(__import__("sys").executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
