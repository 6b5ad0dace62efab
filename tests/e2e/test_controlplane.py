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
import time

import pytest
import yaml
from controlplane import ControlPlane
from cp_harness import LEASE, NS, OP_NS, RELEASE, Cluster
from tools import ROOT

from tests.support.waiting import wait_for
from tfflink.backends.kubernetes import names as n

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(300)]
OWNED_KINDS = (
    "deployments,replicasets,pods,jobs,configmaps,secrets,serviceaccounts,services,roles,rolebindings,networkpolicies"
)


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
