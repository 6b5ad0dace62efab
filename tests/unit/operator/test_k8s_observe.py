"""Pod, Deployment and Job facts: which pods count as failed, stuck, or stale."""

from __future__ import annotations

from typing import Any

from tfflink.backends.kubernetes import names as n
from tfflink.backends.kubernetes.observe import fact, observe, pod_failure, pod_startup_problem

UID = "uid-1"


def pod(
    name: str = "p", attempt: int = 1, component: str = "taskmanager", uid: str = UID, **status: Any
) -> dict[str, Any]:
    labels = {n.JOB: "j", n.COMPONENT: component, n.ATTEMPT: str(attempt), n.JOB_UID: uid}
    return {"metadata": {"name": name, "labels": labels}, "status": status}


def deployment(component: str, attempt: int, replicas: int, ready: int, uid: str = UID) -> dict[str, Any]:
    labels = {n.COMPONENT: component, n.ATTEMPT: str(attempt), n.JOB_UID: uid}
    return {
        "metadata": {"name": f"j-{component}-{attempt}", "labels": labels},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


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
    jm = fact("Deployment", deployment("jobmanager", 2, 1, 1))
    tm = fact("Deployment", deployment("taskmanager", 2, 2, 2))
    obs = observe([old, jm, tm], attempt=2, uid=UID)
    assert obs.failure is None and obs.stale and obs.cluster_created
    assert obs.jobmanager_ready and obs.taskmanagers_ready == 2 and obs.submitter is None
    assert observe([old], attempt=1, uid=UID).failure is not None


def test_objects_of_a_deleted_job_of_the_same_name_are_not_counted() -> None:
    """Delete + create again under the same name: the old job's attempt 1 (still terminating)
    has the same name and attempt as the new one's, but not its uid."""
    old = [
        fact("Pod", pod("j-taskmanager-1-old", attempt=1, uid="uid-0", phase="Failed")),
        fact("Pod", pod("j-jobmanager-1-old", attempt=1, component="jobmanager", uid="uid-0", phase="Running")),
        fact("Deployment", deployment("taskmanager", 1, 1, 1, uid="uid-0")),
        fact("Deployment", deployment("jobmanager", 1, 1, 1, uid="uid-0")),
    ]
    obs = observe(old, attempt=1, uid=UID)
    assert obs.failure is None, "the old job's failed pod is not the new job's failure"
    assert not obs.cluster_created and not obs.jobmanager_ready and obs.taskmanagers_ready == 0
    assert obs.stale, "the new job waits for them to be gone"
    # unlabelled objects (made before the label existed) are not this job's either
    assert observe(
        [fact("Pod", {"metadata": {"name": "x", "labels": {n.ATTEMPT: "1"}}, "status": {}})], attempt=1, uid=UID
    ).stale
    # the same objects under the new job's uid are counted
    assert observe([fact("Deployment", deployment("taskmanager", 1, 1, 1))], attempt=1, uid=UID).cluster_created


def test_deleted_pod_of_the_current_attempt_and_failed_submitter_are_failures() -> None:
    assert observe([], attempt=3, uid=UID, deleted_pods=[(2, "a"), (3, "b")]).failure.reason == "PodDeleted"
    assert observe([], attempt=3, uid=UID, deleted_pods=[(2, "a")]).failure is None
    job = {
        "metadata": {"name": "s", "labels": {n.COMPONENT: "submitter", n.ATTEMPT: "1", n.JOB_UID: UID}},
        "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
    }
    obs = observe([fact("Job", job)], attempt=1, uid=UID)
    assert obs.submitter == "Failed" and obs.failure.reason == "SubmissionFailed"
    # A failed submitter *pod* is the Job's business, not a cluster pod failure.
    assert observe([fact("Pod", pod(component="submitter", phase="Failed"))], attempt=1, uid=UID).failure is None


def test_the_am_address_is_trusted_only_at_a_current_taskmanager_pod() -> None:
    from tfflink.backends.kubernetes.observe import ObjectFact, trusted_am_address

    facts = [
        ObjectFact(kind="Pod", name="tm", component="taskmanager", attempt=2, ip="10.88.0.7"),
        ObjectFact(kind="Pod", name="jm", component="jobmanager", attempt=2, ip="10.88.0.8"),
        ObjectFact(kind="Pod", name="old", component="taskmanager", attempt=1, ip="10.88.0.9"),
    ]
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

    dep = {
        "metadata": {
            "name": "j-taskmanager-1",
            "labels": {"tfflink.dev/component": "taskmanager", "tfflink.dev/attempt": "1", n.JOB_UID: UID},
        },
        "spec": {"replicas": 1},
        "status": {
            "conditions": [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": 'pods "j-taskmanager-1-x" is forbidden: violates PodSecurity "restricted:latest"',
                }
            ]
        },
    }
    obs = observe([fact("Deployment", dep)], attempt=1, uid=UID)
    assert obs.failure is not None and not obs.failure.retryable and obs.failure.reason == "PodsRefused"
    assert "violates PodSecurity" in obs.failure.message
