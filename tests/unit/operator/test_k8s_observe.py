"""Pod, Deployment and Job facts: which pods count as failed, stuck, or stale."""

from __future__ import annotations

from typing import Any

from tfflink.backends.kubernetes import names as n
from tfflink.backends.kubernetes.observe import fact, observe, pod_failure, pod_startup_problem


def pod(name: str = "p", attempt: int = 1, component: str = "taskmanager", **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {n.JOB: "j", n.COMPONENT: component, n.ATTEMPT: str(attempt)}},
            "status": status}  # fmt: skip


def test_failed_phase_evicted_crashloop_and_nonzero_exit_are_failures() -> None:
    assert pod_failure(pod(phase="Failed", reason="Evicted", message="low memory")).reason == "Evicted"
    assert pod_failure(pod(phase="Failed")).reason == "PodFailed"
    crash = pod(
        phase="Running", containerStatuses=[{"name": "tm", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    )
    assert pod_failure(crash).reason == "CrashLoopBackOff"
    restarted = pod(
        phase="Running",
        containerStatuses=[
            {
                "name": "tm",
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            }
        ],
    )
    f = pod_failure(restarted)
    assert f.reason == "ContainerFailed" and "137 (OOMKilled)" in f.message
    ok = pod(phase="Running", containerStatuses=[{"name": "tm", "state": {"running": {}}}])
    assert pod_failure(ok) is None
    clean_exit = pod(phase="Running", containerStatuses=[{"name": "tm", "state": {"terminated": {"exitCode": 0}}}])
    assert pod_failure(clean_exit) is None


def test_image_pull_errors_and_unschedulable_pods_are_startup_problems() -> None:
    pull = pod(
        phase="Pending",
        containerStatuses=[
            {"name": "tm", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}
        ],
    )
    assert pod_startup_problem(pull) == "pod p: ImagePullBackOff: not found"
    assert pod_failure(pull) is None
    unsched = pod(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}],
    )
    assert "Unschedulable: 0/3 nodes" in pod_startup_problem(unsched)


def test_observe_looks_at_the_current_attempt_only() -> None:
    old = fact("Pod", pod("old", attempt=1, phase="Failed"))
    jm = fact("Deployment", {"metadata": {"name": "jm", "labels": {n.COMPONENT: "jobmanager", n.ATTEMPT: "2"}},
                             "spec": {"replicas": 1}, "status": {"readyReplicas": 1}})  # fmt: skip
    tm = fact("Deployment", {"metadata": {"name": "tm", "labels": {n.COMPONENT: "taskmanager", n.ATTEMPT: "2"}},
                             "spec": {"replicas": 2}, "status": {"readyReplicas": 2}})  # fmt: skip
    obs = observe([old, jm, tm], attempt=2)
    assert obs.failure is None and obs.stale and obs.cluster_created
    assert obs.jobmanager_ready and obs.taskmanagers_ready == 2 and obs.submitter is None
    assert observe([old], attempt=1).failure is not None


def test_deleted_pod_of_the_current_attempt_and_failed_submitter_are_failures() -> None:
    assert observe([], attempt=3, deleted_pods=[(2, "a"), (3, "b")]).failure.reason == "PodDeleted"
    assert observe([], attempt=3, deleted_pods=[(2, "a")]).failure is None
    job = {
        "metadata": {"name": "s", "labels": {n.COMPONENT: "submitter", n.ATTEMPT: "1"}},
        "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
    }
    obs = observe([fact("Job", job)], attempt=1)
    assert obs.submitter == "Failed" and obs.failure.reason == "SubmissionFailed"
    # A failed submitter *pod* is the Job's business, not a cluster pod failure.
    assert observe([fact("Pod", pod(component="submitter", phase="Failed"))], attempt=1).failure is None


def test_the_am_address_is_trusted_only_at_a_current_taskmanager_pod() -> None:
    from tfflink.backends.kubernetes.observe import ObjectFact, trusted_am_address

    facts = [ObjectFact(kind="Pod", name="tm", component="taskmanager", attempt=2, ip="10.88.0.7"),
             ObjectFact(kind="Pod", name="jm", component="jobmanager", attempt=2, ip="10.88.0.8"),
             ObjectFact(kind="Pod", name="old", component="taskmanager", attempt=1, ip="10.88.0.9")]  # fmt: skip
    assert trusted_am_address("10.88.0.7:41234", facts, 2) == "10.88.0.7:41234"
    for bad in (
        "10.88.0.8:41234",
        "10.88.0.9:41234",
        "169.254.169.254:80",
        "10.88.0.7:80/latest/meta-data",
        "kubernetes.default:443",
        "10.88.0.7:99999",
        "",
        None,
    ):
        assert trusted_am_address(bad, facts, 2) is None, bad


def test_pods_refused_by_admission_fail_the_job_at_once() -> None:
    from tfflink.backends.kubernetes.observe import fact, observe

    dep = {"metadata": {"name": "j-taskmanager-1", "labels": {"tfflink.dev/component": "taskmanager", "tfflink.dev/attempt": "1"}},
           "spec": {"replicas": 1},
           "status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                      "message": 'pods "j-taskmanager-1-x" is forbidden: violates PodSecurity "restricted:latest"'}]}}  # fmt: skip
    obs = observe([fact("Deployment", dep)], attempt=1)
    assert obs.failure is not None and not obs.failure.retryable and obs.failure.reason == "PodsRefused"
    assert "violates PodSecurity" in obs.failure.message
