"""Emulator tier: the real operator process (kopf, kubernetes client, HTTP) against the
Kubernetes API stand-in and a Flink REST stand-in (see conftest.py). Not a real API server.
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from emu_cluster import Cluster, wait_for
from emu_operator import OperatorProcess
from emu_standins import StandIns

from tests.support.net import http_get
from tfflink.backends.kubernetes import names as n

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(60)]


@pytest.fixture
def k(api: kubernetes.client.ApiClient, standins: StandIns, ns: str, operator: OperatorProcess) -> Cluster:
    return Cluster(api, standins, ns)


def owner_uids(obj: Any) -> list[str]:
    return [r.uid for r in obj.metadata.owner_references or []]


def test_create_builds_every_owned_object_with_owner_refs_labels_and_sizes(k: Cluster) -> None:
    job = k.create_job("mnist", workers=3, ps=2, flink={"taskSlots": 2})  # 6 slots -> 3 TMs of 2
    uid = job["metadata"]["uid"]
    st = k.wait_phase("mnist", "Deploying")
    assert st["attempt"] == 1 and st["taskManagers"] == 3 and st["intent"]["action"] == "Deploy"
    wait_for(lambda: len(k.deployments("mnist")) == 2, "JM and TM deployments")
    deps = {d.metadata.labels[n.COMPONENT]: d for d in k.deployments("mnist")}
    assert deps["jobmanager"].spec.replicas == 1 and deps["taskmanager"].spec.replicas == 3
    assert len(k.pods("mnist", "taskmanager")) == 3 and len(k.pods("mnist", "jobmanager")) == 1
    cms = {c.metadata.name: c for c in k.core.list_namespaced_config_map(k.ns).items}
    assert set(cms) == {"mnist-config", "mnist-rendezvous"}
    assert "taskmanager.numberOfTaskSlots: '2'" in cms["mnist-config"].data["config.yaml"]
    svc = k.core.read_namespaced_service("mnist-jobmanager", k.ns)
    sa = k.core.read_namespaced_service_account("mnist-flink", k.ns)
    role = k.rbac.read_namespaced_role("mnist-rendezvous", k.ns)
    binding = k.rbac.read_namespaced_role_binding("mnist-rendezvous", k.ns)
    assert role.rules[0].resource_names == ["mnist-rendezvous"]
    for obj in [*deps.values(), *cms.values(), svc, sa, role, binding]:
        assert owner_uids(obj) == [uid], obj.metadata.name
        assert obj.metadata.labels[n.JOB] == "mnist"
        assert obj.metadata.labels[n.MANAGED_BY] == "tfflink-operator"
    assert k.submitters("mnist") == []  # nothing is submitted before the cluster is ready
    assert wait_for(lambda: k.events("Deploying"), "a Deploying event")


def test_ready_cluster_is_submitted_and_runs(k: Cluster) -> None:
    k.create_job("runner")
    wait_for(lambda: len(k.deployments("runner")) == 2, "deployments")
    k.make_pods_ready("runner")
    (sub,) = wait_for(lambda: k.submitters("runner"), "the submitter Job")
    assert sub.spec.template.spec.containers[0].args[5:7] == ["tfflink", "submit"]
    assert owner_uids(sub) == [k.job("runner")["metadata"]["uid"]]
    jid = k.complete_submission("runner")
    st = k.wait_phase("runner", "Running")
    assert st["flinkJobId"] == jid and st.get("intent") is None and st["restartCount"] == 0
    running = [c for c in st["conditions"] if c["type"] == "Running"]
    assert running and running[0]["status"] == "True"
    assert wait_for(lambda: k.events("FlinkJobRunning"), "a FlinkJobRunning event")


def test_running_job_reports_per_role_counts_and_progress_from_the_am(k: Cluster, standins: StandIns) -> None:
    """The AM publishes its address in the rendezvous ConfigMap; the operator reads its /status,
    but only at an address of one of the job's current TaskManager pods (the ConfigMap is
    writable by the job's pods: no fetching arbitrary URLs for them)."""
    import json

    k.create_job("roles", workers=2, ps=1)
    k.bring_up("roles")
    am = {
        "phase": "Running",
        "clusterVersion": 1,
        "restarts": 0,
        "message": "",
        "roles": {"worker": {"Running": 2}, "ps": {"Running": 1}},
        "progress": {"step": 120, "stepsPerSecond": 12.5, "checkpointStep": 100, "metrics": {"loss": 0.3}},
    }
    standins.call(lambda: setattr(standins.flink, "root_am", am))
    address = standins.flink_url.removeprefix("http://")  # 127.0.0.1:port, answering /status
    k.core.patch_namespaced_config_map(
        "roles-rendezvous", k.ns, {"data": {"am-address": json.dumps({"submission": "s1", "address": address})}}
    )
    time.sleep(3)  # the TaskManager's pod IP is 10.0.0.1: the address is not trusted
    assert k.status("roles").get("roles", {}).get("worker", {}).get("running", 0) == 0
    (tm,) = k.pods("roles", n.TASKMANAGER)
    k.core.patch_namespaced_pod_status(tm.metadata.name, k.ns, {"status": {"podIP": "127.0.0.1"}})
    st = wait_for(
        lambda: (s := k.status("roles")).get("roles", {}).get("worker", {}).get("running") == 2 and s,
        "worker running count from the AM",
    )
    assert st["roles"]["worker"]["desired"] == 2
    assert st["roles"]["ps"] == {"desired": 1, "running": 1, "succeeded": 0, "failed": 0}
    assert st["progress"] == {"step": 120, "stepsPerSecond": 12.5, "checkpointStep": 100}, "kubectl get tfj's Step"


FAILURES = {
    "pod Failed": {"phase": "Failed", "reason": "Error", "message": "exit 1"},
    "evicted": {"phase": "Failed", "reason": "Evicted", "message": "node low on memory"},
    "crash loop": {
        "phase": "Running",
        "containerStatuses": [
            {"name": "taskmanager", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ],
    },
    "container exit": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "taskmanager",
                "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            }
        ],
    },
}


@pytest.mark.parametrize("how", [*FAILURES, "deleted"])
def test_a_failed_pod_recreates_the_whole_cluster(k: Cluster, how: str) -> None:
    k.create_job("tf", failover={"maxRestarts": 3, "backoff": {"initialSeconds": 0}})
    k.bring_up("tf")
    old_pods = {p.metadata.name for p in k.pods("tf")}
    victim = k.pods("tf", "taskmanager")[0].metadata.name
    if how == "deleted":
        k.core.delete_namespaced_pod(victim, k.ns)
    else:
        k.set_pod_status(victim, FAILURES[how])
    wait_for(lambda: k.status("tf").get("restartCount") == 1, "restartCount 1")
    st = k.bring_up("tf", attempt=2)
    assert st["restartCount"] == 1 and st["attempt"] == 2
    assert {p.metadata.name for p in k.pods("tf")}.isdisjoint(old_pods)  # every pod is new
    assert len(k.submitters("tf")) == 1 and k.submitters("tf")[0].metadata.name == "tf-submit-2"
    assert wait_for(
        lambda: [e for e in k.events() if e.type == "Warning" and "Restarting" not in e.reason], "a warning event"
    )


def test_a_failed_flink_job_restarts_then_fails_after_max_restarts(k: Cluster) -> None:
    k.create_job("flaky", failover={"maxRestarts": 1, "backoff": {"initialSeconds": 0}})
    k.bring_up("flaky")
    k.set_flink_state("flaky", "FAILED")
    wait_for(lambda: k.status("flaky").get("restartCount") == 1, "the first restart")
    k.bring_up("flaky", attempt=2)
    k.set_flink_state("flaky", "FAILED")
    st = k.wait_phase("flaky", "Failed")
    assert st["reason"] == "FlinkJobFailed" and st["restartCount"] == 1
    assert "maxRestarts=1" in st["message"] and st["completionTime"]
    wait_for(lambda: not k.deployments("flaky") and not k.pods("flaky"), "cluster deleted (cleanupPolicy Delete)")
    assert k.job("flaky") is not None


def test_finished_flink_job_succeeds_and_ttl_deletes_it(k: Cluster) -> None:
    k.create_job("done", runPolicy={"ttlSecondsAfterFinished": 4})  # long enough to see Succeeded
    k.bring_up("done")
    k.set_flink_state("done", "FINISHED")
    st = k.wait_phase("done", "Succeeded")
    assert st["reason"] == "FlinkJobFinished" and st["completionTime"]
    wait_for(lambda: k.job("done") is None, "TTL deletion of the TFFlinkJob", timeout=15)
    assert k.deployments("done") == [] and k.core.list_namespaced_config_map(k.ns).items == []


def test_suspend_tears_down_and_resume_brings_a_new_cluster(k: Cluster) -> None:
    k.create_job("pause")
    k.bring_up("pause")
    k.patch_spec("pause", {"runPolicy": {"suspend": True}})
    st = k.wait_phase("pause", "Suspended")
    wait_for(lambda: not k.deployments("pause") and not k.pods("pause"), "no cluster while suspended")
    assert k.core.read_namespaced_config_map("pause-config", k.ns)  # per-job objects stay
    k.patch_spec("pause", {"runPolicy": {"suspend": False}})
    st = k.bring_up("pause", attempt=2)
    assert st["restartCount"] == 0 and st["attempt"] == 2
    assert [c["status"] for c in st["conditions"] if c["type"] == "Suspended"] == ["False"]


def test_deleting_the_job_removes_every_owned_object(k: Cluster) -> None:
    k.create_job("gone")
    k.bring_up("gone")
    k.delete_job("gone")
    wait_for(lambda: k.job("gone") is None, "the TFFlinkJob to go")
    assert k.deployments("gone") == [] and k.pods("gone") == [] and k.submitters("gone") == []
    assert k.core.list_namespaced_config_map(k.ns).items == []
    assert k.core.list_namespaced_service(k.ns).items == []
    assert k.rbac.list_namespaced_role(k.ns).items == []


def test_deletion_never_hangs_when_the_cluster_underneath_is_broken(k: Cluster, standins: StandIns) -> None:
    k.create_job("broken")
    wait_for(lambda: len(k.deployments("broken")) == 2, "deployments")
    path = f"/namespaces/{k.ns}/"

    def broken(method: str, url: str) -> int | None:  # every delete of an owned object fails
        return 500 if method == "DELETE" and path in url and "tfflinkjobs" not in url else None

    standins.call(lambda: standins.kube.faults.append(broken))
    try:
        k.delete_job("broken")
        wait_for(lambda: k.job("broken") is None, "the TFFlinkJob to go despite failing deletes", timeout=25)
    finally:
        standins.call(lambda: standins.kube.faults.remove(broken))
    assert k.deployments("broken") == []  # garbage collection by owner references


def test_startup_deadline_fails_a_job_whose_image_cannot_be_pulled(k: Cluster) -> None:
    k.create_job("pull", kubernetes={"startupDeadlineSeconds": 10, "image": "nope/missing:1"})
    wait_for(lambda: len(k.pods("pull")) == 2, "pods")
    for p in k.pods("pull"):
        k.set_pod_status(
            p.metadata.name,
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "flink",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "nope/missing:1 not found"}},
                    }
                ],
            },
        )
    assert k.status("pull")["phase"] == "Deploying"
    st = k.wait_phase("pull", "Failed", timeout=20)
    assert st["reason"] == "StartupDeadlineExceeded" and "ImagePullBackOff" in st["message"]
    assert st["restartCount"] == 0


def test_active_deadline_fails_a_running_job(k: Cluster) -> None:
    k.create_job("slow", runPolicy={"activeDeadlineSeconds": 3})
    k.bring_up("slow")
    st = k.wait_phase("slow", "Failed", timeout=15)
    assert st["reason"] == "DeadlineExceeded"


def test_an_invalid_spec_fails_with_the_field_named(k: Cluster) -> None:
    # The stand-in does not enforce the CRD schema, as a real API server would.
    k.create_job("bad", workers=0)
    st = k.wait_phase("bad", "Failed")
    assert st["reason"] == "InvalidSpec" and "spec.roles.worker.replicas" in st["message"]
    assert k.deployments("bad") == []


def test_liveness_and_prometheus_metrics(k: Cluster, operator: OperatorProcess) -> None:
    k.create_job("seen")
    k.bring_up("seen")
    assert http_get(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5)[0] == 200
    text = http_get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5)[1].decode()
    running = [ln for ln in text.splitlines() if ln.startswith('tfflink_operator_jobs{phase="Running"}')]
    assert running and float(running[0].split()[-1]) >= 1
    assert 'tfflink_operator_reconciles_total{result="ok"}' in text
    assert "tfflink_operator_restarts_total" in text


@pytest.mark.parametrize("crash_point", ["before teardown", "after teardown"])
def test_operator_crash_mid_restart_resumes_with_exactly_one_cluster(
    k: Cluster, standins: StandIns, operator: OperatorProcess, crash_point: str
) -> None:
    """SIGKILL the operator after it wrote the restart intent, with the old cluster still up
    (its deletes fail) or already gone (the new cluster's creates fail); a new operator process
    must finish that same restart: one cluster, restartCount 1."""
    k.create_job("crash", failover={"maxRestarts": 3, "backoff": {"initialSeconds": 0}})
    k.bring_up("crash")
    ns_path = f"/namespaces/{k.ns}/"
    blocked = "DELETE" if crash_point == "before teardown" else "POST"

    def fault(method: str, url: str) -> int | None:
        return 500 if method == blocked and ns_path in url and ("/deployments" in url or "/jobs" in url) else None

    standins.call(lambda: standins.kube.faults.append(fault))
    try:
        k.set_pod_status(k.pods("crash", "taskmanager")[0].metadata.name, FAILURES["pod Failed"])
        st = wait_for(lambda: (s := k.status("crash")).get("restartCount") == 1 and s, "restart intent written")
        assert st["attempt"] == 2 and st["intent"]["attempt"] == 2
        if crash_point == "before teardown":
            assert st["phase"] == "Restarting" and st["intent"]["action"] == "Restart"
            assert k.attempts("crash") == ["1", "1"]  # the old cluster is still there
        else:
            wait_for(lambda: k.status("crash")["phase"] == "Deploying", "Deploying attempt 2 (creates failing)")
            assert k.attempts("crash") == []  # old cluster gone, new one not created
        operator.kill()
    finally:
        standins.call(lambda: standins.kube.faults.remove(fault))
    operator.start()
    st = k.bring_up("crash", attempt=2)
    assert st["restartCount"] == 1 and st["attempt"] == 2
    assert k.attempts("crash") == ["2", "2"]
    assert sorted(d.metadata.name for d in k.deployments("crash")) == ["crash-jobmanager-2", "crash-taskmanager-2"]
    assert [s.metadata.name for s in k.submitters("crash")] == ["crash-submit-2"]
