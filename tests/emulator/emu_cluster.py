"""What the emulator tests do to the stand-in cluster and read back, all over the real API.

The kubelet, the ReplicaSet controller's readiness and Flink are not there: tests play them
by patching pod and Job status through the API and by telling the Flink REST stand-in which
job runs, as a kubelet, the Job controller and a JobManager would.

The control-plane tier's ``cp_harness.Cluster`` looks alike but is not a copy: it goes through
``kubectl`` against a real API server, as a user would, and waits for real controllers and
kwok; this one drives the stand-in through the Python client and plays those controllers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
from emu_standins import StandIns
from kube_standin import complete_job_status, container_status, running_ready_status

from tests.support.jobs import k8s_job
from tests.support.waiting import wait_for as support_wait_for
from tfflink.backends.kubernetes import names as n

T = TypeVar("T")
G, V, P = "tfflink.dev", "v1alpha1", "tfflinkjobs"


def wait_for(fn: Callable[[], T], what: str | Callable[[], str], timeout: float = 20.0, interval: float = 0.1) -> T:
    """tests.support.waiting.wait_for with this tier's pace: the stand-ins answer in
    milliseconds, so poll often and give up sooner."""
    return support_wait_for(fn, what, timeout, interval)


class Cluster:
    """One test namespace seen through the kubernetes client."""

    def __init__(self, api: kubernetes.client.ApiClient, standins: StandIns, ns: str) -> None:
        self.ns, self.standins = ns, standins
        self.core = kubernetes.client.CoreV1Api(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.raw = api

    # -- the TFFlinkJob ---------------------------------------------------------------------
    def create_job(self, name: str, workers: int = 2, ps: int = 1, **spec: Any) -> dict[str, Any]:
        body = k8s_job(name, workers, ps, **spec)
        return dict(self.custom.create_namespaced_custom_object(G, V, self.ns, P, body))

    def job(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.custom.get_namespaced_custom_object(G, V, self.ns, P, name))
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def status(self, name: str) -> dict[str, Any]:
        return (self.job(name) or {}).get("status") or {}

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            G, V, self.ns, P, name, {"spec": spec}, _content_type="application/merge-patch+json"
        )

    def delete_job(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(G, V, self.ns, P, name)

    def wait_phase(self, name: str, phase: str, timeout: float = 20.0) -> dict[str, Any]:
        seen: list[str | None] = []

        def reached() -> dict[str, Any] | None:
            st = self.status(name)
            if not seen or seen[-1] != st.get("phase"):
                seen.append(st.get("phase"))
            return st if st.get("phase") == phase else None

        return wait_for(reached, lambda: f"{name} phase {phase} (phases seen: {seen})", timeout)

    # -- owned objects ------------------------------------------------------------------------
    def sel(self, job: str, extra: str = "") -> str:
        return f"{n.JOB}={job}" + (f",{extra}" if extra else "")

    def deployments(self, job: str) -> list[Any]:
        return list(self.apps.list_namespaced_deployment(self.ns, label_selector=self.sel(job)).items)

    def pods(self, job: str, component: str | None = None) -> list[Any]:
        extra = f"{n.COMPONENT}={component}" if component else ""
        return list(self.core.list_namespaced_pod(self.ns, label_selector=self.sel(job, extra)).items)

    def submitters(self, job: str) -> list[Any]:
        return list(self.batch.list_namespaced_job(self.ns, label_selector=self.sel(job)).items)

    def events(self, reason: str | None = None) -> list[Any]:
        evs = self.core.list_namespaced_event(self.ns).items
        return [e for e in evs if reason is None or e.reason == reason]

    # -- playing kubelet, Job controller and Flink ---------------------------------------------
    def make_pods_ready(self, job: str) -> int:
        pods = [p for p in self.pods(job) if p.metadata.labels.get(n.COMPONENT) != n.SUBMITTER]
        for p in pods:
            self.core.patch_namespaced_pod_status(p.metadata.name, self.ns, {"status": running_ready_status()})
        return len(pods)

    def set_pod_status(self, pod: str, status: dict[str, Any]) -> None:
        if "containerStatuses" in status:
            status = {**status, "containerStatuses": [container_status(**c) for c in status["containerStatuses"]]}
        self.core.patch_namespaced_pod_status(pod, self.ns, {"status": status})

    def complete_submission(self, job: str, state: str = "RUNNING") -> str:
        """The submitter succeeded and Flink runs the job: returns the Flink job id."""
        (sub,) = wait_for(lambda: self.submitters(job), f"submitter Job of {job}")
        jid = self.standins.call(lambda: self.standins.flink.set_job(self.ns, n.jobmanager_service(job), state))
        # What the kubelet reports for the submitter's pod: `tfflink submit` wrote the job id to
        # its termination message (the emulator runs no Job controller: the pod is made here).
        self.core.create_namespaced_pod(
            self.ns,
            {
                "metadata": {"name": f"{sub.metadata.name}-pod", "labels": dict(sub.spec.template.metadata.labels)},
                "spec": {"containers": [{"name": "submitter", "image": "tfflink/runtime:0.1.0"}]},
            },
        )
        self.core.patch_namespaced_pod_status(
            f"{sub.metadata.name}-pod",
            self.ns,
            {
                "status": {
                    "phase": "Succeeded",
                    "containerStatuses": [
                        container_status(
                            name="submitter",
                            state={"terminated": {"exitCode": 0, "message": json.dumps({"jobId": jid})}},
                        )
                    ],
                }
            },
        )
        self.batch.patch_namespaced_job_status(sub.metadata.name, self.ns, {"status": complete_job_status()})
        return jid

    def set_flink_state(self, job: str, state: str) -> None:
        svc = n.jobmanager_service(job)
        self.standins.call(lambda: self.standins.flink.set_job(self.ns, svc, state))

    def forget_flink(self, job: str) -> None:
        svc = n.jobmanager_service(job)
        self.standins.call(lambda: self.standins.flink.forget(self.ns, svc))

    def attempts(self, job: str) -> list[str]:
        """The attempt labels of the job's Deployments (one per JobManager/TaskManager)."""
        return sorted(d.metadata.labels[n.ATTEMPT] for d in self.deployments(job))

    def bring_up(self, job: str, attempt: int = 1, timeout: float = 20.0) -> dict[str, Any]:
        """Pods ready, submission done, Flink running: the job reaches Running."""
        want = [str(attempt)] * 2
        wait_for(lambda: self.attempts(job) == want and self.pods(job), f"{job} attempt {attempt} created", timeout)
        self.forget_flink(job)
        self.make_pods_ready(job)
        self.complete_submission(job)
        return self.wait_phase(job, "Running", timeout)
