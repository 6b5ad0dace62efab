"""The Helm chart: CRDs in sync with crds/, `helm lint` and `helm template` with default and
non-default values, values.schema.json rejecting bad values, and what the rendered objects say
(single Recreate replica, probes, non-root read-only container, least-privilege RBAC).

helm is the real binary built from its Go module (hack/build-tools.sh helm).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tools import ROOT, require

CHART = ROOT / "charts" / "tfflink-operator"

NON_DEFAULT = {
    "image": {"repository": "registry.example/tfflink/operator", "tag": "9.9.9", "pullPolicy": "Always"},
    "watchNamespaces": ["team-a", "team-b"],
    "operator": {
        "logLevel": "debug",
        "logFormat": "plain",
        "pollSeconds": 2,
        "flinkUrlTemplate": "http://{service}.{namespace}.svc.cluster.local:{port}",
    },
    "metrics": {"enabled": True, "port": 9100, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
                ]
            }
        }
    },
    "serviceAccount": {"name": "tfflink-ops", "annotations": {"owner": "ops"}},
    "podAnnotations": {"a": "b"},
    "replicas": 2,
    "leaderElection": {"leaseDuration": 20, "renewDeadline": 12, "retryPeriod": 3},
}


@pytest.fixture(scope="module")
def helm() -> Path:
    return require("helm")["helm"]


def _run(
    helm: Path, *args: str, values: dict[str, Any] | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [str(helm), *args]
    if values is not None:
        assert tmp is not None
        f = tmp / "values.json"
        f.write_text(json.dumps(values))
        cmd += ["-f", str(f)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def render(
    helm: Path, tmp: Path, values: dict[str, Any] | None = None, ns: str = "tfflink-system"
) -> list[dict[str, Any]]:
    r = _run(helm, "template", "tfflink", str(CHART), "--namespace", ns, "--include-crds", values=values, tmp=tmp)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str, *, hooks: bool = False) -> list[dict[str, Any]]:
    """The release's objects of that kind (helm hooks only with ``hooks``: they live for the hook)."""
    return [d for d in docs if d["kind"] == kind and hooks == bool(_annotations(d).get("helm.sh/hook"))]


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    return dict((doc.get("metadata") or {}).get("annotations") or {})


def test_uninstall_hook_stops_the_operator_first_with_just_enough_rights(helm: Path, tmp_path: Path) -> None:
    """pre-delete: scale the operator to 0 while its RBAC exists (it releases its finalizers)."""
    docs = render(helm, tmp_path)
    (job,) = by_kind(docs, "Job", hooks=True)
    assert _annotations(job)["helm.sh/hook"] == "pre-delete"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["python", "-m", "tfflink.operator.drain"]
    (dep,) = by_kind(docs, "Deployment")
    assert f"--deployment={dep['metadata']['name']}" in c["args"]
    sel = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
    assert f"--selector={sel}" in c["args"]
    from tfflink.operator.drain import main

    with pytest.raises(SystemExit) as e:  # the rendered args parse with the module's own parser
        main([*c["args"], "--help"])
    assert e.value.code == 0
    (role,) = by_kind(docs, "Role", hooks=True)
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": [dep["metadata"]["name"]],
            "verbs": ["patch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    ]


def test_chart_crds_match_generated_crds() -> None:
    top = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert chart == top, "charts/tfflink-operator/crds/ must hold exactly the files of crds/"
    for name in top:
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), (
            f"charts/tfflink-operator/crds/{name} is stale: cp crds/{name} charts/tfflink-operator/crds/"
        )


def test_values_schema_accepts_defaults_and_non_defaults() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    merged = {**defaults, **NON_DEFAULT}
    jsonschema.validate(merged, schema)


@pytest.mark.parametrize("values", [None, NON_DEFAULT], ids=["default", "non-default"])
def test_helm_lint(helm: Path, tmp_path: Path, values: dict[str, Any] | None) -> None:
    r = _run(helm, "lint", "--strict", str(CHART), values=values, tmp=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 chart(s) failed" in r.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"watchNamespaces": ["Not_A_Namespace"]}, "watchNamespaces"),
        ({"operator": {"logLevel": "loud"}}, "logLevel"),
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"metrics": {"port": 70000}}, "port"),
        ({"replicaCount": 3}, "replicaCount"),
    ],
    ids=["bad-namespace", "bad-log-level", "bad-pull-policy", "bad-port", "unknown-key"],
)
def test_values_schema_rejects_bad_values(helm: Path, tmp_path: Path, values: dict[str, Any], message: str) -> None:
    r = _run(helm, "template", "tfflink", str(CHART), values=values, tmp=tmp_path)
    assert r.returncode != 0
    assert "values don't meet the specifications of the schema" in r.stderr, r.stderr
    assert message in r.stderr, r.stderr


def test_template_default(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path)
    kinds = sorted(d["kind"] for d in docs if not _annotations(d).get("helm.sh/hook"))
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
        ]
    )
    (dep,) = by_kind(docs, "Deployment")
    spec = dep["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["image"] == "tfflink/operator:0.1.0"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "--all-namespaces" in c["args"] and "--metrics-port=9090" in c["args"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    (svc,) = by_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9090
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tfflink-tfflink-operator", "namespace": "tfflink-system"}
    ]


def test_template_non_default(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, NON_DEFAULT, ns="ops")
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ops", "team-a", "team-b"]  # ops: the Lease
    for rb in by_kind(docs, "RoleBinding"):
        assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "tfflink-ops", "namespace": "ops"}]
    (dep,) = by_kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "registry.example/tfflink/operator:9.9.9" and c["imagePullPolicy"] == "Always"
    assert "--namespace=team-a" in c["args"] and "--namespace=team-b" in c["args"]
    assert "--all-namespaces" not in c["args"]
    assert "--verbose" in c["args"] and "--log-format=plain" in c["args"] and "--metrics-port=9100" in c["args"]
    assert "--flink-url-template=http://{service}.{namespace}.svc.cluster.local:{port}" in c["args"]
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert pod["nodeSelector"] == NON_DEFAULT["nodeSelector"]
    assert pod["tolerations"] == NON_DEFAULT["tolerations"]
    assert pod["affinity"] == NON_DEFAULT["affinity"]
    assert pod["serviceAccountName"] == "tfflink-ops"
    (sm,) = by_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"


def test_template_metrics_off(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert not by_kind(docs, "Service") and not by_kind(docs, "ServiceMonitor")
    (dep,) = by_kind(docs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert "--metrics-port=0" in c["args"]
    assert [p["name"] for p in c["ports"]] == ["health"]


def _rules(docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    roles = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    for role in by_kind(docs, "ClusterRole") + roles[:1]:
        for rule in role["rules"]:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    out.setdefault((g, r), set()).update(rule["verbs"])
    return out


def test_rbac_is_least_privilege(helm: Path, tmp_path: Path) -> None:
    """Exactly the verbs the operator uses (see the comment in _helpers.tpl), no wildcards,
    no reading secrets, and the same rules cluster-wide and per namespace."""
    cluster = _rules(render(helm, tmp_path))
    namespaced = _rules(render(helm, tmp_path, {"watchNamespaces": ["a"]}))
    assert cluster == namespaced
    assert cluster == {
        ("tfflink.dev", "tfflinkjobs"): {"get", "list", "watch", "patch", "update", "delete"},
        ("tfflink.dev", "tfflinkjobs/status"): {"get", "patch", "update"},
        ("", "configmaps"): {"create", "get", "patch", "update", "deletecollection"},
        ("", "serviceaccounts"): {"create", "deletecollection"},
        ("", "secrets"): {"create", "deletecollection"},  # the AM token's, never read
        ("", "services"): {"create", "patch", "delete"},
        ("", "pods"): {"list", "watch", "deletecollection"},
        ("", "events"): {"create"},
        ("events.k8s.io", "events"): {"create"},
        ("apps", "deployments"): {"create", "patch", "list", "watch", "deletecollection"},
        ("batch", "jobs"): {"create", "list", "watch", "deletecollection"},
        ("rbac.authorization.k8s.io", "roles"): {"create", "deletecollection"},
        ("rbac.authorization.k8s.io", "rolebindings"): {"create", "deletecollection"},
        ("networking.k8s.io", "networkpolicies"): {"create", "patch", "deletecollection"},
        ("networking.k8s.io", "ingresses"): {"create", "deletecollection"},
    }
    for verbs in cluster.values():
        assert "*" not in verbs


def test_leader_election_rbac_is_one_lease_in_the_release_namespace(helm: Path, tmp_path: Path) -> None:
    for values in (None, {"watchNamespaces": ["a"]}):
        docs = render(helm, tmp_path, values)
        (role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
        assert role["metadata"]["namespace"] == "tfflink-system"
        assert role["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["tfflink-tfflink-operator"],
                "verbs": ["get", "update"],
            },
        ]
        (binding,) = [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
        assert binding["subjects"][0]["name"] == "tfflink-tfflink-operator"
        (dep,) = by_kind(docs, "Deployment")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_rbac_covers_the_objects_the_operator_creates(helm: Path, tmp_path: Path) -> None:
    """Every kind the manifest builders emit can be created (and cleaned up) by the operator."""
    from tfflink.backends.kubernetes import manifests
    from tfflink.spec import parse_job

    doc = yaml.safe_load((ROOT / "examples" / "linear" / "job.yaml").read_text())
    doc["spec"]["kubernetes"] = {"ingress": {"host": "flink.example.com"}}  # every optional object too
    doc["spec"]["tensorboard"] = {"logDir": "gs://bucket/logs"}
    ref = manifests.JobRef(name="linear", namespace="default", uid="u", job=parse_job(doc))
    rules = _rules(render(helm, tmp_path))
    plural = {
        "ConfigMap": ("", "configmaps"),
        "Secret": ("", "secrets"),
        "ServiceAccount": ("", "serviceaccounts"),
        "Service": ("", "services"),
        "Role": ("rbac.authorization.k8s.io", "roles"),
        "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
        "Deployment": ("apps", "deployments"),
        "Job": ("batch", "jobs"),
        "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
        "Ingress": ("networking.k8s.io", "ingresses"),
    }
    objs = manifests.job_objects(ref) + manifests.cluster_objects(ref, 0) + [manifests.submitter_job(ref, 0)]
    objs.append(manifests.token_secret(ref, 0, "t" * 32))
    for o in objs:
        assert "create" in rules[plural[o["kind"]]], o["kind"]
    # The per-job Role: the operator may grant only what it holds (RBAC escalation check).
    for rule in manifests.role(ref)["rules"]:
        for r in rule["resources"]:
            assert set(rule["verbs"]) <= rules[(rule["apiGroups"][0], r)]


@pytest.mark.parametrize("values", [None, NON_DEFAULT], ids=["default", "non-default"])
def test_rendered_args_are_the_operators_flags(helm: Path, tmp_path: Path, values: dict[str, Any] | None) -> None:
    """The container's command and args, as rendered, parse with the operator's own argparse."""
    from tfflink.operator.main import lease_settings, parse_args

    (dep,) = by_kind(render(helm, tmp_path, values), "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["python", "-m", "tfflink.operator"]
    cfg, args = parse_args(c["args"])
    port = next(p["containerPort"] for p in c["ports"] if p["name"] == "health")
    assert cfg.liveness == f"http://0.0.0.0:{port}/healthz"
    lease = lease_settings(args)
    assert lease is not None and lease.name == "tfflink-tfflink-operator"
    if values:
        assert cfg.namespaces == ("team-a", "team-b") and args.verbose and args.log_format == "plain"
        assert cfg.metrics_port == 9100 and cfg.poll_seconds == 2
        assert (lease.lease_duration, lease.renew_deadline, lease.retry_period) == (20, 12, 3)
    else:
        assert cfg.namespaces == () and cfg.metrics_port == 9090 and not args.verbose
        assert (lease.lease_duration, lease.renew_deadline) == (15, 10)
    assert lease.namespace == "tfflink-system"  # the release's
