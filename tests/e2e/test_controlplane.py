"""The operator against a real Kubernetes control plane on loopback (see controlplane.py):
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, with kwok as the node.

The chart is installed with the real helm (watchNamespaces=[e2e], so the operator holds only
the chart's namespaced Role); the operator runs as a local process (its image cannot run
here) authenticated as the chart's ServiceAccount by a TokenRequest token, so every call it
makes goes through the chart's RBAC. Jobs go in with ``kubectl apply -f``.

kwok marks pods Running and the submitter Job's pod Succeeded, but runs no Flink: the Flink
REST calls are answered by a stand-in (flink_standin.py), and the test says when Flink reports
the job RUNNING. The real-Flink path runs in the kind suite (tests/e2e/kind).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from controlplane import ControlPlane, Proc, free_port, kubeconfig
from flink_standin import FlinkStandIn
from tools import ROOT, require

from tests.helpers import http_get
from tfflink.backends.kubernetes import names as n

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(300)]
T = TypeVar("T")
NS = "e2e"
RELEASE, OP_NS = "tfflink", "tfflink-system"
# The chart under test; TFFLINK_E2E_CHART points at a modified copy (to try a change).
CHART = Path(os.environ.get("TFFLINK_E2E_CHART") or ROOT / "charts" / "tfflink-operator")
OWNED_KINDS = (
    "deployments,replicasets,pods,jobs,configmaps,secrets,serviceaccounts,services,roles,rolebindings,networkpolicies"
)


def wait_for(fn: Callable[[], T], what: str | Callable[[], str], timeout: float = 60, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout:.0f}s) waiting for {what if isinstance(what, str) else what()}")
        time.sleep(interval)


class Cluster:
    def __init__(self, cp: ControlPlane, flink: FlinkStandIn, op_log: Path, ops: Operators) -> None:
        self.cp, self.flink, self.op_log, self.ops = cp, flink, op_log, ops

    def kubectl(self, *args: str, **kw: Any) -> str:
        return self.cp.kubectl(*args, **kw)

    def get(self, kind: str, selector: str = "", ns: str = NS) -> list[dict[str, Any]]:
        args = ["-n", ns, "get", kind, "-o", "json"] + (["-l", selector] if selector else [])
        return list(json.loads(self.kubectl(*args))["items"])

    def job(self, name: str) -> dict[str, Any] | None:
        out = self.kubectl("-n", NS, "get", "tfflinkjob", name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def status(self, name: str) -> dict[str, Any]:
        return (self.job(name) or {}).get("status") or {}

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        seen: list[str] = []

        def reached() -> dict[str, Any] | None:
            self.cp.check_alive()
            st = self.status(name)
            if not seen or seen[-1] != st.get("phase"):
                seen.append(st.get("phase", "-"))
            return st if st.get("phase") == phase else None

        return wait_for(reached, lambda: f"{name} phase {phase}; phases seen: {seen}", timeout)

    def owned(self, job: str, component: str | None = None, kinds: str = "pods") -> list[dict[str, Any]]:
        sel = f"{n.JOB}={job}" + (f",{n.COMPONENT}={component}" if component else "")
        return self.get(kinds, sel)

    def bring_up(self, job: str, attempt: int, timeout: float = 90) -> dict[str, Any]:
        """kwok runs the attempt's pods and completes its submitter; then Flink reports RUNNING."""
        svc = n.jobmanager_service(job)
        self.flink.forget(NS, svc)

        def pods_running() -> bool:
            pods = [
                p
                for p in self.owned(job)
                if p["metadata"]["labels"].get(n.ATTEMPT) == str(attempt)
                and p["metadata"]["labels"].get(n.COMPONENT) != n.SUBMITTER
            ]
            return len(pods) >= 2 and all(p["status"].get("phase") == "Running" for p in pods)

        wait_for(pods_running, f"{job} attempt {attempt} pods Running (kwok)", timeout)
        wait_for(
            lambda: any(
                j["metadata"]["name"] == n.submitter(job, attempt) and j.get("status", {}).get("succeeded")
                for j in self.owned(job, kinds="jobs")
            ),
            f"submitter {n.submitter(job, attempt)} succeeded (kwok + job controller)",
            timeout,
        )
        self.flink.submit(NS, svc, "RUNNING")
        return self.wait_phase(job, "Running", timeout)

    def apply_example(self, name: str, path: str = "examples/linear/job.yaml", **spec: Any) -> None:
        doc = yaml.safe_load((ROOT / path).read_text())
        doc["metadata"]["name"] = name
        # kwok runs no TF: no checkpoint to keep (a pod-local one would be refused, rightly).
        doc["spec"]["checkpointDir"] = f"s3://tfflink-e2e/{name}"
        doc["spec"].update(spec)
        f = self.cp.dir / f"{name}.yaml"
        f.write_text(yaml.safe_dump(doc))
        self.kubectl("-n", NS, "apply", "-f", str(f))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    require("kubectl", "openssl")
    bins = require("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm")
    cp = ControlPlane(bins, tmp_path_factory.mktemp("controlplane"))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def helm_install(cluster: ControlPlane) -> str:
    cluster.kubectl("create", "namespace", NS)
    helm = require("helm")["helm"]
    r = subprocess.run(
        [
            str(helm),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            OP_NS,
            "--create-namespace",
            "--set",
            f"watchNamespaces={{{NS}}}",
            "--wait",
            "--timeout",
            "120s",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


LEASE = f"{RELEASE}-tfflink-operator"  # the chart's Lease name (and its Role's resourceNames)


class Operators:
    """Operator processes (replicas) with the chart ServiceAccount's token, so the chart's RBAC,
    electing a leader on the chart's Lease with short timings."""

    def __init__(self, cp: ControlPlane, flink: FlinkStandIn) -> None:
        self.cp, self.flink, self.procs = cp, flink, dict[str, Proc]()
        sa = f"{RELEASE}-tfflink-operator"
        token = cp.kubectl("-n", OP_NS, "create", "token", sa, "--duration=2h").strip()
        self.kubeconfig = kubeconfig(cp.dir / "operator.kubeconfig", cp.server, token, namespace=NS)

    def start(self, identity: str) -> Proc:
        health = free_port()
        cmd = [
            sys.executable,
            "-m",
            "tfflink.operator",
            "--namespace",
            NS,
            f"--liveness=http://127.0.0.1:{health}/healthz",
            f"--metrics-port={free_port()}",
            f"--flink-url-template={self.flink.url_template}",
            "--poll-seconds=1",
            "--log-format=plain",
            "--verbose",
            "--leader-elect",
            f"--leader-elect-resource-namespace={OP_NS}",
            f"--leader-elect-resource-name={LEASE}",
            f"--leader-elect-identity={identity}",
            "--leader-elect-lease-duration=8",
            "--leader-elect-renew-deadline=6",
            "--leader-elect-retry-period=1",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(self.kubeconfig)
        op = self.procs[identity] = Proc(f"operator-{identity}", cmd, self.cp.dir / f"operator-{identity}.log", env=env)

        def healthy() -> bool:  # a follower answers too (it waits for the Lease)
            if not op.alive():
                raise AssertionError(f"operator {identity} exited:\n{op.tail()}")
            try:
                return http_get(f"http://127.0.0.1:{health}/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, f"operator {identity}'s /healthz", 60)
        return op

    def lease(self) -> dict[str, Any]:
        out = self.cp.kubectl("-n", OP_NS, "get", "lease", LEASE, "-o", "json", "--ignore-not-found")
        return dict(json.loads(out)["spec"]) if out.strip() else {}

    def stop(self) -> None:
        for op in self.procs.values():
            op.stop()


@pytest.fixture(scope="module")
def k(cluster: ControlPlane, helm_install: str) -> Iterator[Cluster]:
    """One operator replica, leading (a test adds a second)."""
    flink = FlinkStandIn()
    ops = Operators(cluster, flink)
    try:
        op = ops.start("op-a")
        wait_for(lambda: ops.lease().get("holderIdentity") == "op-a", "op-a holds the Lease")
        yield Cluster(cluster, flink, op.log, ops)
    finally:
        ops.stop()
        flink.stop()


def test_crd_accepted_by_the_real_api_server(cluster: ControlPlane) -> None:
    """crds/ as generated, through the API server's own structural-schema and CEL cost checks."""
    out = cluster.kubectl("apply", "--dry-run=server", "-f", str(ROOT / "crds"), check=False)
    assert "customresourcedefinition.apiextensions.k8s.io/tfflinkjobs.tfflink.dev created (server dry run)" in out, out


def test_control_plane_is_real(cluster: ControlPlane) -> None:
    code, body = cluster.get("/version")
    assert code == 200 and json.loads(body)["gitVersion"].startswith("v1.")
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    assert [x["metadata"]["name"] for x in nodes] == ["kwok-node-0"]


def test_helm_install(cluster: ControlPlane, helm_install: str) -> None:
    assert f"It serves TFFlinkJobs in: {NS}." in helm_install  # NOTES.txt
    crd = json.loads(cluster.kubectl("get", "crd", "tfflinkjobs.tfflink.dev", "-o", "json"))
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    dep = json.loads(cluster.kubectl("-n", OP_NS, "get", "deployment", f"{RELEASE}-tfflink-operator", "-o", "json"))
    assert dep["status"].get("availableReplicas") == 1  # kwok ran its pod
    assert cluster.kubectl("-n", NS, "get", "role", f"{RELEASE}-tfflink-operator", "-o", "name").strip()
    # least privilege, checked by the real authorizer
    sa = f"system:serviceaccount:{OP_NS}:{RELEASE}-tfflink-operator"

    def can(*a: str) -> str:
        return cluster.kubectl("auth", "can-i", *a, f"--as={sa}", check=False).strip()

    assert can("watch", "tfflinkjobs.tfflink.dev", "-n", NS) == "yes"
    assert can("create", "deployments.apps", "-n", NS) == "yes"
    assert can("watch", "tfflinkjobs.tfflink.dev", "-n", "default") == "no"  # only its namespaces
    assert can("get", "secrets", "-n", NS) == "no"
    assert can("delete", "deployments.apps", "-n", NS) == "no"


def test_apply_example_job_deploys_and_runs(k: Cluster) -> None:
    k.apply_example("linear")
    st = k.wait_phase("linear", "Deploying")
    assert st["attempt"] == 1
    st = k.bring_up("linear", 1)
    assert st["restartCount"] == 0 and st.get("flinkJobId")
    uid = k.job("linear")["metadata"]["uid"]
    for kind in ("deployments", "configmaps", "services", "jobs", "secrets"):
        for obj in k.owned("linear", kinds=kind):
            assert [r["uid"] for r in obj["metadata"].get("ownerReferences", [])] == [uid], obj["metadata"]["name"]


def test_the_am_token_is_in_a_secret_only(k: Cluster) -> None:
    """The submitter reads the attempt's token from a Secret it mounts; the token is in no
    ConfigMap and no pod spec (the operator can create the Secret but not read it back)."""
    (secret,) = k.owned("linear", kinds="secrets")
    assert secret["metadata"]["name"] == n.token_secret("linear", 1)
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) >= 32
    (sub,) = k.owned("linear", n.SUBMITTER)
    assert {"name": "tfflink-token", "secret": {"secretName": n.token_secret("linear", 1), "defaultMode": 0o440}} in [
        {"name": v["name"], "secret": v["secret"]} for v in sub["spec"]["volumes"] if "secret" in v
    ]
    everything = k.kubectl("-n", NS, "get", "pods,configmaps,deployments,jobs,tfflinkjobs", "-o", "json")
    assert token not in everything


@pytest.mark.parametrize("how", ["delete-taskmanager-pod", "pod-failed"])
def test_pod_failure_restarts_the_whole_cluster_once(k: Cluster, how: str) -> None:
    name = f"fo-{how.split('-')[0]}"
    k.apply_example(name, failover={"maxRestarts": 3, "backoff": {"initialSeconds": 0, "maxSeconds": 1}})
    k.bring_up(name, 1)
    old = {p["metadata"]["name"] for p in k.owned(name)}
    victim = k.owned(name, n.TASKMANAGER)[0]["metadata"]["name"]
    if how == "delete-taskmanager-pod":
        k.kubectl("-n", NS, "delete", "pod", victim, "--wait=false")
    else:
        k.kubectl(
            "-n",
            NS,
            "patch",
            "pod",
            victim,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"phase": "Failed", "reason": "Error", "message": "e2e: injected"}}),
        )
    wait_for(lambda: k.status(name).get("restartCount") == 1, f"{name} restartCount 1")
    st = k.bring_up(name, 2)
    assert st["restartCount"] == 1 and st["attempt"] == 2
    attempts = {d["metadata"]["labels"][n.ATTEMPT] for d in k.owned(name, kinds="deployments,secrets")}
    assert attempts == {"2"}, "the whole cluster is recreated, attempt 1 is gone (its token too)"
    assert {
        p["metadata"]["name"] for p in k.owned(name) if p["metadata"]["labels"].get(n.COMPONENT) != n.SUBMITTER
    }.isdisjoint(old)
    time.sleep(3)  # no second restart follows
    assert k.status(name)["restartCount"] == 1


def test_tensorboard_is_the_jobs_kept_across_a_full_restart_and_collected_with_it(k: Cluster) -> None:
    """spec.tensorboard: a Deployment, Service and NetworkPolicy owned by the job, made with its
    first session cluster; a full restart keeps them (the same objects), and they do not hold
    the next attempt back; a changed logDir updates them in place, removing spec.tensorboard
    removes them, and deleting the job collects them."""
    name = "tb"
    k.apply_example(
        name,
        tensorboard={"logDir": "s3://tfflink-e2e/tb/logs"},
        failover={"maxRestarts": 3, "backoff": {"initialSeconds": 0, "maxSeconds": 1}},
    )
    st = k.bring_up(name, 1)
    assert st["tensorboardUrl"] == f"http://{n.tensorboard(name)}.{NS}.svc:{n.TENSORBOARD_PORT}", st
    uid = k.job(name)["metadata"]["uid"]
    tb = {o["kind"]: o for o in k.owned(name, n.TENSORBOARD, kinds="deployments,services,networkpolicies")}
    assert sorted(tb) == ["Deployment", "NetworkPolicy", "Service"], sorted(tb)
    for o in tb.values():
        assert [r["uid"] for r in o["metadata"]["ownerReferences"]] == [uid], o["metadata"]
    wait_for(
        lambda: [p for p in k.owned(name, n.TENSORBOARD) if p["status"].get("phase") == "Running"],
        "the TensorBoard pod Running (kwok)",
    )
    k.kubectl("-n", NS, "delete", "pod", k.owned(name, n.TASKMANAGER)[0]["metadata"]["name"], "--wait=false")
    wait_for(lambda: k.status(name).get("restartCount") == 1, f"{name} restartCount 1")
    k.bring_up(name, 2)
    (dep,) = k.owned(name, n.TENSORBOARD, kinds="deployments")
    assert dep["metadata"]["uid"] == tb["Deployment"]["metadata"]["uid"], "the restart kept the TensorBoard"

    def log_dir() -> str | None:
        deps = k.owned(name, n.TENSORBOARD, kinds="deployments")
        return deps[0]["spec"]["template"]["spec"]["containers"][0]["args"][2] if deps else None

    patch = {"spec": {"tensorboard": {"logDir": "s3://tfflink-e2e/tb/v2"}}}
    k.kubectl("-n", NS, "patch", "tfflinkjob", name, "--type=merge", "-p", json.dumps(patch))
    wait_for(lambda: log_dir() == "s3://tfflink-e2e/tb/v2", "the TensorBoard following the new logDir", 90)
    (dep,) = k.owned(name, n.TENSORBOARD, kinds="deployments")
    assert dep["metadata"]["uid"] == tb["Deployment"]["metadata"]["uid"], "updated in place, not recreated"
    k.kubectl("-n", NS, "patch", "tfflinkjob", name, "--type=merge", "-p", '{"spec": {"tensorboard": null}}')
    wait_for(
        lambda: not k.owned(name, n.TENSORBOARD, kinds="deployments,services,networkpolicies"),
        "the TensorBoard gone with spec.tensorboard",
        90,
    )
    wait_for(lambda: "tensorboardUrl" not in k.status(name), "status.tensorboardUrl cleared")
    k.kubectl("-n", NS, "delete", "tfflinkjob", name, "--wait=true", "--timeout=60s")
    wait_for(
        lambda: not k.owned(name, n.TENSORBOARD, kinds="deployments,services,networkpolicies,pods"),
        "the TensorBoard collected with its job",
        90,
    )


def test_delete_collects_every_owned_object(k: Cluster) -> None:
    k.apply_example("gc")
    k.bring_up("gc", 1)
    assert k.owned("gc", kinds=OWNED_KINDS)
    k.kubectl("-n", NS, "delete", "tfflinkjob", "gc", "--wait=true", "--timeout=60s")
    left = wait_for(
        lambda: not k.owned("gc", kinds=OWNED_KINDS) or None,
        lambda: (
            f"garbage collection; left: {[o['kind'] + '/' + o['metadata']['name'] for o in k.owned('gc', kinds=OWNED_KINDS)]}"
        ),
        timeout=90,
    )
    assert left is True
    assert k.job("gc") is None


INVALID = {
    "zero-workers": (
        {"roles": {"worker": {"replicas": 0}}},
        "spec.roles.worker.replicas: Invalid value: 0: spec.roles.worker.replicas in body should be greater than or equal to 1",
    ),
    "file-and-module": (
        {"entry": {"file": "train.py", "module": "x.y", "function": "f"}},
        "set exactly one of 'file' or 'module'",
    ),
    "unknown-field": ({"replicas": 3}, 'unknown field "spec.replicas"'),
    "bad-mode": ({"mode": "sideways"}, 'spec.mode: Unsupported value: "sideways"'),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_api_server_rejects_invalid_jobs(k: Cluster, case: str) -> None:
    patch, message = INVALID[case]
    doc = yaml.safe_load((ROOT / "examples/linear/job.yaml").read_text())
    doc["metadata"]["name"] = f"bad-{case}"
    doc["spec"].update(patch)
    out = k.kubectl("-n", NS, "apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert message in out, out
    assert k.job(f"bad-{case}") is None


def test_long_name_rejected(k: Cluster) -> None:
    doc = yaml.safe_load((ROOT / "examples/linear/job.yaml").read_text())
    doc["metadata"]["name"] = "x" * 50
    out = k.kubectl("-n", NS, "apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert "metadata.name must be at most 45 characters" in out, out


def test_progress_in_status_survives_the_schema_and_shows_in_kubectl_get(
    cluster: ControlPlane, helm_install: str
) -> None:
    """status.progress as the operator writes it is kept by the real API server's structural
    schema (unknown fields would be pruned), and ``kubectl get tfj`` prints it. The job lives in
    a namespace no operator watches, so this test alone writes its status."""
    cluster.kubectl("create", "namespace", "printer")
    doc = yaml.safe_load((ROOT / "examples" / "ps_strategy" / "job.yaml").read_text())
    doc["spec"]["checkpointDir"] = "s3://tfflink-e2e/ps"
    cluster.kubectl("-n", "printer", "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    progress = {"step": 1200, "stepsPerSecond": 35.5, "checkpointStep": 1100}
    cluster.kubectl(
        "-n",
        "printer",
        "patch",
        "tfj",
        "ps-strategy",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Running", "progress": progress}}),
    )
    stored = json.loads(cluster.kubectl("-n", "printer", "get", "tfj", "ps-strategy", "-o", "json"))
    assert stored["status"]["progress"] == progress
    assert stored["spec"]["roles"]["chief"] == {"replicas": 1, "resources": {"cpu": 0.1, "memory": "1g"}}
    header, row = cluster.kubectl("-n", "printer", "get", "tfj", "-o", "wide").splitlines()
    cells = dict(zip(header.split(), row.split(), strict=True))
    assert (cells["STEP"], cells["STEPS/S"], cells["CHECKPOINT"]) == ("1200", "35.5", "1100"), cells
    assert (cells["CHIEF"], cells["EVALUATOR"], cells["WORKERS"]) == ("1", "1", "2"), cells


def _writers(k: Cluster, kinds: str, job: str) -> dict[str, set[str]]:
    """Object name -> the operator replicas that wrote it (its managedFields managers)."""
    if kinds == "tfflinkjob":
        items = [json.loads(k.kubectl("-n", NS, "get", kinds, job, "-o", "json", "--show-managed-fields"))]
    else:
        out = k.kubectl("-n", NS, "get", kinds, "-l", f"{n.JOB}={job}", "-o", "json", "--show-managed-fields")
        items = json.loads(out)["items"]
    return {
        o["metadata"]["name"]: {
            m["manager"] for m in o["metadata"].get("managedFields", []) if m["manager"].startswith("tfflink-operator")
        }
        for o in items
    }


def test_two_replicas_one_acts_and_the_other_takes_over(k: Cluster) -> None:
    """Last in this module: it kills the leading replica (the module's operator)."""
    import signal

    ops = k.ops
    follower = ops.start("op-b")  # healthy while it waits
    k.apply_example("lease-1")
    st = k.wait_phase("lease-1", "Deploying")
    assert st["attempt"] == 1
    assert ops.lease()["holderIdentity"] == "op-a"
    assert _writers(k, "tfflinkjob", "lease-1") == {"lease-1": {"tfflink-operator@op-a"}}  # the status
    made = _writers(k, "deployments,configmaps,networkpolicies", "lease-1")
    assert len(made) >= 5 and all(w == {"tfflink-operator@op-a"} for w in made.values()), made
    assert "starting the handlers" not in follower.log.read_text()
    transitions = ops.lease().get("leaseTransitions", 0)

    leader = ops.procs["op-a"]
    os.killpg(leader.p.pid, signal.SIGKILL)  # no clean shutdown: the Lease is not given up
    leader.p.wait(10)
    wait_for(lambda: ops.lease().get("holderIdentity") == "op-b", "op-b takes the Lease after its duration", 60)
    assert follower.alive(), follower.tail()
    assert ops.lease()["leaseTransitions"] == transitions + 1
    k.apply_example("lease-2")
    assert k.wait_phase("lease-2", "Deploying")["attempt"] == 1
    assert _writers(k, "tfflinkjob", "lease-2") == {"lease-2": {"tfflink-operator@op-b"}}
    # the new leader carries on with the first job too
    assert k.bring_up("lease-1", 1)["phase"] == "Running", follower.tail()
    assert follower.alive(), follower.tail()  # it kept the Lease

    follower.stop()  # SIGTERM: a clean shutdown gives the Lease up at once
    assert follower.p.returncode == 0, follower.tail()
    assert not ops.lease().get("holderIdentity"), ops.lease()


def test_a_leader_whose_lease_is_taken_stops_at_once(k: Cluster) -> None:
    """Another holder in the Lease (a partition healed, an admin's edit): the leader exits
    instead of acting on (its Deployment restarts it as a follower)."""
    from datetime import UTC, datetime

    ops = k.ops
    op = ops.start("op-d")
    wait_for(lambda: ops.lease().get("holderIdentity") == "op-d", "op-d holds the Lease")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    k.kubectl(
        "-n",
        OP_NS,
        "patch",
        "lease",
        LEASE,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"holderIdentity": "intruder", "renewTime": now}}),
    )
    wait_for(lambda: not op.alive(), "op-d exits", 30)
    assert op.p.returncode == 3, op.tail()
    assert "lost the Lease" in op.log.read_text()
    assert ops.lease()["holderIdentity"] == "intruder", "it wrote nothing on the way out"
