"""Facts about one job's pods, Deployments and submitter Job, read from their stored bodies.

The operator indexes these facts from watch events; :func:`observe` folds them into the
:class:`~tfflink.lifecycle.reconcile.Observation` of the current attempt. A pod counts as failed
when Kubernetes says so in any of the usual ways (phase Failed, eviction, a container that
exited non-zero or is in CrashLoopBackOff); image pull errors and unschedulable pods are
startup problems, which fail the job only once the startup deadline passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...lifecycle.errors import error_line, read_failure_record
from ...lifecycle.reconcile import Failure, Observation
from . import names as n

MAX_MESSAGE = 4096
STARTUP_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImageNeverPull",
    }
)


@dataclass(frozen=True)
class ObjectFact:
    """What the operator keeps about one owned object (pod, Deployment or submitter Job)."""

    kind: str
    name: str
    component: str
    attempt: int
    ready: int = 0  # pods: 1 when Ready; Deployments: readyReplicas
    wanted: int = 0  # Deployments: spec.replicas
    state: str = ""  # submitter Job: Active, Complete, Failed
    failure: Failure | None = None
    startup_problem: str | None = None
    message: str = ""  # pods: the main container's termination message (the submitter's result)
    ip: str = ""  # pods: status.podIP
    owner_uid: str = ""  # the TFFlinkJob's uid (tfflink.dev/job-uid label); "" when unlabelled


def _container_failure(pod: str, statuses: Iterable[Mapping[str, Any]]) -> Failure | None:
    for cs in statuses:
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            return Failure("CrashLoopBackOff", f"pod {pod}: container {cs.get('name')} is in CrashLoopBackOff")
        for term in (state.get("terminated"), last.get("terminated")):
            if term and term.get("exitCode", 0) != 0:
                why = f" ({term['reason']})" if term.get("reason") else ""
                return Failure(
                    "ContainerFailed",
                    f"pod {pod}: container {cs.get('name')} exited with code {term.get('exitCode')}{why}",
                )
    return None


def pod_failure(pod: Mapping[str, Any]) -> Failure | None:
    """Why a pod counts as failed, or None."""
    name = pod.get("metadata", {}).get("name", "?")
    status = pod.get("status") or {}
    if pod.get("metadata", {}).get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        return Failure("PodDeleted", f"pod {name} is being deleted")  # not after its grace period
    if status.get("phase") == "Failed":
        reason = status.get("reason") or "PodFailed"
        msg = status.get("message") or "pod phase is Failed"
        return Failure("Evicted" if reason == "Evicted" else "PodFailed", f"pod {name}: {reason}: {msg}")
    statuses = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    return _container_failure(name, statuses)


def pod_startup_problem(pod: Mapping[str, Any]) -> str | None:
    """Image pull errors and scheduling failures: the pod may never start."""
    name = pod.get("metadata", {}).get("name", "?")
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STARTUP_REASONS:
            return f"pod {name}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod {name}: {cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}".rstrip(": ")
    return None


def termination_message(pod: Mapping[str, Any]) -> str:
    """The first container's termination message (bounded), empty while it runs."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        return str(term.get("message") or "")[-MAX_MESSAGE:]
    return ""


def submitted_job_id(message: str) -> str | None:
    """The Flink job id in the submitter's result (``{"jobId": ...}``), if it is one."""
    try:
        job_id = json.loads(message).get("jobId")
    except (ValueError, AttributeError):
        return None
    return job_id if isinstance(job_id, str) and re.fullmatch(r"[0-9a-f]{32}", job_id) else None


def last_error_line(text: str) -> str:
    """The most telling line of a failed submitter's output (ours first, then Python's)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    ours = [ln for ln in lines if ln.startswith("tfflink:")]
    if ours:
        return ours[-1][:500]
    return error_line(text) if lines else ""


def replica_failure(deployment: Mapping[str, Any]) -> Failure | None:
    """Pods the API server refuses (Pod Security, quota, a webhook): no restart can fix that."""
    name = (deployment.get("metadata") or {}).get("name", "?")
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            why = str(cond.get("message") or cond.get("reason") or "pods refused")[:MAX_MESSAGE]
            return Failure("PodsRefused", f"deployment {name}: {why}", retryable=False)
    return None


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def job_state(job: Mapping[str, Any]) -> tuple[str, str]:
    """(Active | Complete | Failed, message) of a batch/v1 Job."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return cond["type"], cond.get("message") or cond.get("reason") or ""
    return "Active", ""


def fact(kind: str, body: Mapping[str, Any]) -> ObjectFact:
    """The fact of one owned object (``kind``: Pod, Deployment or Job)."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    base = {
        "kind": kind,
        "name": meta.get("name", ""),
        "component": labels.get(n.COMPONENT, ""),
        "attempt": n.attempt_of(labels),
        "owner_uid": str(labels.get(n.JOB_UID, "")),
    }
    if kind == "Pod":
        return ObjectFact(
            **base,
            ready=int(pod_ready(body)),
            failure=pod_failure(body),
            startup_problem=pod_startup_problem(body),
            message=termination_message(body),
            ip=str((body.get("status") or {}).get("podIP") or ""),
        )
    if kind == "Deployment":
        return ObjectFact(
            **base,
            ready=int((body.get("status") or {}).get("readyReplicas") or 0),
            wanted=int((body.get("spec") or {}).get("replicas") or 0),
            failure=replica_failure(body),
        )
    state, message = job_state(body)
    failure = Failure("SubmissionFailed", f"submitter {base['name']}: {message}") if state == "Failed" else None
    return ObjectFact(**base, state=state, failure=failure)


def owned_by(facts: Iterable[ObjectFact], uid: str) -> list[ObjectFact]:
    """The facts of the TFFlinkJob with ``uid``: the indexes are keyed by name, and a job deleted
    and created again under the same name may leave pods behind that are not this job's."""
    return [f for f in facts if f.owner_uid == uid]


def observe(
    facts: Iterable[ObjectFact],
    *,
    attempt: int,
    uid: str,
    deleted_pods: Iterable[tuple[int, str]] = (),
    flink_job: tuple[str, str] | None = None,
) -> Observation:
    """Fold the job's object facts into what the reconciler needs about attempt ``attempt``.

    Objects of another job of the same name (another ``uid``) count only as stale: the new
    job waits for them to go but never takes their state for its own.
    """
    facts = list(facts)
    cur = [f for f in owned_by(facts, uid) if f.attempt == attempt]
    pods = [f for f in cur if f.kind == "Pod" and f.component != n.SUBMITTER]
    deps = {f.component: f for f in cur if f.kind == "Deployment"}
    subs = [f for f in cur if f.kind == "Job"]
    failure = next((f.failure for f in pods if f.failure), None)
    if failure is None:
        gone = [name for a, name in deleted_pods if a == attempt]
        if gone:
            failure = Failure("PodDeleted", f"pod {gone[0]} was deleted")
    if failure is None:
        failure = next((d.failure for d in deps.values() if d.failure), None)
    sub_pods = [f for f in cur if f.kind == "Pod" and f.component == n.SUBMITTER]
    if failure is None and subs and subs[0].failure:
        failure = subs[0].failure
        message = next((p.message for p in sub_pods if p.message), "")
        # The submitter's own failure record says whether a new attempt may help (an invalid
        # job does not); a crash leaves only its last log lines: retried.
        why, retryable = read_failure_record(message) or (last_error_line(message), True)
        if why:
            failure = Failure(failure.reason, f"submitter {subs[0].name} failed: {why}", retryable=retryable)
    jm, tm = deps.get(n.JOBMANAGER), deps.get(n.TASKMANAGER)
    return Observation(
        cluster_created=tm is not None,
        any_objects=bool(facts),
        stale=any(f.attempt != attempt or f.owner_uid != uid for f in facts),
        stale_pods=tuple(f.name for f in facts if f.kind == "Pod" and (f.attempt != attempt or f.owner_uid != uid)),
        jobmanager_ready=bool(jm and jm.ready >= 1),
        taskmanagers_ready=tm.ready if tm else 0,
        submitter=subs[0].state if subs else None,
        failure=failure,
        startup_problem=next((f.startup_problem for f in pods if f.startup_problem), None),
        flink_job_id=flink_job[0]
        if flink_job
        else next((j for p in sub_pods if (j := submitted_job_id(p.message))), None),
        flink_state=flink_job[1] if flink_job else None,
    )


def trusted_am_address(address: str | None, facts: Iterable[ObjectFact], attempt: int) -> str | None:
    """``address`` if it is ``IP:port`` of a current TaskManager pod, else None.

    The rendezvous ConfigMap is writable by the job's pods: the operator must not be sent to
    fetch an arbitrary URL from inside the cluster (SSRF).
    """
    if not address:
        return None
    host, _, port = address.rpartition(":")
    ips = {f.ip for f in facts if f.kind == "Pod" and f.component == n.TASKMANAGER and f.attempt == attempt and f.ip}
    return address if host in ips and port.isdigit() and 0 < int(port) < 65536 else None
