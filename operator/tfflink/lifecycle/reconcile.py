"""The operator's decision function: (spec, status, observation, now) -> plan.

Pure and level-based, so it is unit-tested without Kubernetes and is crash safe: the operator
writes ``plan.status`` *before* it runs ``plan.actions``, and every action is idempotent and
derived from the status (``attempt``), so re-planning after a crash repeats the same step. The
full-restart policy is :class:`~tfflink.lifecycle.policy.RestartPolicy`, shared with the AM and
the local backend.

Attempts: every session cluster the operator creates gets the next ``status.attempt``; a
restart tears down every attempt but the new one and deploys the new one once the old pods are
gone and the backoff has passed. ``restartCount`` counts only restarts caused by failures.

Fencing: an old attempt's TF processes may still write the checkpoint directory until its pods
are gone (the operator deletes them with a grace period, so a pod object outlives its
processes). The new attempt is never deployed or submitted while any pod of another attempt
(or of a deleted job of the same name) exists; the wait shows as reason ``WaitingForOldPods``
and ends, after :data:`FENCE_SECONDS`, in Failed ``OldPodsNotGone`` naming the pods.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ..spec.models import TFFlinkJobSpec
from ..spec.status import (
    Intent,
    ProgressStatus,
    RoleStatus,
    RowsStatus,
    TFFlinkJobStatus,
    now_rfc3339,
    parse_rfc3339,
)
from .outcome import EndKind, Outcome, classify
from .policy import RestartPolicy
from .states import Phase

END_REASONS = {
    EndKind.GAVE_UP: "TFJobFailed",
    EndKind.NOT_RETRYABLE: "NotRetryable",
    EndKind.RETRYABLE: "FlinkJobFailed",
}


@dataclass(frozen=True)
class Failure:
    """A reason (CamelCase) and a message naming the pod/container/job that failed.

    ``retryable`` False: no restart can fix it (bad input, or the AM spent the budget already).
    """

    reason: str
    message: str
    retryable: bool = True


@dataclass(frozen=True)
class Observation:
    """What the operator saw of the job's cluster, for the current attempt unless noted."""

    cluster_created: bool = False  # the attempt's TaskManager Deployment exists (created last)
    any_objects: bool = False  # any per-attempt object or pod of any attempt exists
    stale: bool = False  # objects or pods of other attempts still exist
    stale_pods: tuple[str, ...] = ()  # the names of those pods
    jobmanager_ready: bool = False
    taskmanagers_ready: int = 0
    submitter: str | None = None  # None (not created), Active, Complete, Failed
    failure: Failure | None = None
    startup_problem: str | None = None
    flink_job_id: str | None = None
    flink_state: str | None = None
    roles: dict[str, dict[str, int]] | None = None  # from the AM's /status, when reachable
    am_restarts: int | None = None  # TF cluster restarts the AM counted (earlier attempts' included)
    am_phase: str | None = None
    am_message: str = ""
    root_exception: str | None = None  # the failed Flink job's root exception text
    progress: ProgressStatus | None = None  # from the AM's /status, when reachable and reported
    rows: RowsStatus | None = None  # the Flink job's row counts (JVM data plane), when read

    def end(self) -> Outcome | None:
        """How the submitted Flink job ended (None: it has not)."""
        return classify(
            self.flink_state or "",
            root_exception=self.root_exception,
            am_phase=self.am_phase,
            am_message=self.am_message,
            am_restarts=self.am_restarts,
        )


@dataclass(frozen=True)
class Action:
    """An idempotent step on the cluster.

    Deploy: create the job's objects and attempt ``attempt``'s cluster (existing ones are kept).
    Teardown: delete every attempt's cluster except ``attempt`` (None: all of them).
    Submit: create attempt ``attempt``'s submitter Job.
    DeleteJob: delete the TFFlinkJob itself (ttlSecondsAfterFinished).
    """

    kind: Literal["Deploy", "Teardown", "Submit", "DeleteJob"]
    attempt: int | None = None


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the TFFlinkJob."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    """The new status (written first), then the actions, the events and when to look again."""

    status: TFFlinkJobStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_seconds: float | None = None


def spec_hash(spec: TFFlinkJobSpec) -> str:
    """Hash of what shapes the cluster; runPolicy and failover changes need no redeploy."""
    data = spec.model_dump(by_alias=True, mode="json", exclude={"run_policy", "failover"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def taskmanagers_wanted(spec: TFFlinkJobSpec) -> int:
    return spec.task_manager_shape()[0]


_PHASE_CONDITIONS: dict[str, Literal["Running", "Restarting", "Suspended", "Succeeded", "Failed"]] = {
    "Running": "Running",
    "Restarting": "Restarting",
    "Suspended": "Suspended",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
}
_WARNING_PHASES = {"Restarting", "Failed"}

FENCE_SECONDS = 300.0
"""How long a new attempt waits for the old attempts' pods (from the end of the backoff, or
from the deploy): a node that stopped answering keeps its pods Terminating for good."""
WAITING = "WaitingForOldPods"


class _Planner:
    """One reconcile pass; methods mutate ``self.plan``."""

    def __init__(self, spec: TFFlinkJobSpec, status: TFFlinkJobStatus, obs: Observation, now: datetime) -> None:
        self.spec, self.obs, self.now, self.nows = spec, obs, now, now_rfc3339(now)
        self.plan = Plan(status=status.model_copy(deep=True))
        self.st = self.plan.status
        self.policy = RestartPolicy.from_spec(spec.failover)

    # -- helpers ------------------------------------------------------------------------------
    def enter(self, phase: Phase, reason: str, message: str) -> None:
        """Move to ``phase``: conditions follow, and an Event is posted if the phase changed."""
        st = self.st
        changed = st.phase != phase
        st.phase, st.reason, st.message = phase, reason, message
        for ptype, ctype in _PHASE_CONDITIONS.items():
            if ptype == phase:
                st.set_condition(ctype, True, reason, message, self.nows)
            elif (c := st.condition(ctype)) is not None and c.status == "True":
                st.set_condition(ctype, False, reason, message, self.nows)
        if changed:
            kind: Literal["Normal", "Warning"] = "Warning" if phase in _WARNING_PHASES else "Normal"
            self.plan.events.append(Event(kind, reason, message))

    def act(self, kind: Literal["Deploy", "Teardown", "Submit", "DeleteJob"], attempt: int | None = None) -> None:
        self.plan.actions.append(Action(kind, attempt))

    def requeue(self, seconds: float) -> None:
        cur = self.plan.requeue_seconds
        self.plan.requeue_seconds = seconds if cur is None else min(cur, seconds)

    def elapsed(self, since: str | None) -> float:
        return 0.0 if since is None else (self.now - parse_rfc3339(since)).total_seconds()

    def new_attempt(self, phase: Phase, reason: str, message: str, delay: float = 0.0) -> None:
        """Record the next attempt as the intent, then tear down every other attempt."""
        st = self.st
        st.attempt += 1
        st.flink_job_id = None
        st.rows = None  # counts are per Flink job, so per attempt
        not_before = now_rfc3339(self.now + timedelta(seconds=delay))
        st.intent = Intent(
            action="Restart" if phase is Phase.RESTARTING else "Deploy",
            attempt=st.attempt,
            reason=reason,
            not_before=not_before,
        )
        self.enter(phase, reason, message)
        if phase is Phase.DEPLOYING:
            self.start_deploy()
        else:
            self.act("Teardown", st.attempt)
            self.requeue(delay)

    def start_deploy(self) -> None:
        """Deploy the current attempt, once the previous attempts' pods are gone."""
        st = self.st
        st.deploy_time = self.nows
        st.spec_hash = spec_hash(self.spec)
        st.task_managers = taskmanagers_wanted(self.spec)
        st.intent = Intent(action="Deploy", attempt=st.attempt, reason=st.reason)
        st.set_condition("Created", True, "ClusterCreated", f"session cluster attempt {st.attempt}", self.nows)
        self.deploy_step()

    def deploy_step(self) -> bool:
        """Deploy once the old pods are gone; False when the job failed waiting for them."""
        st = self.st
        if not self.fenced(since=st.deploy_time):
            return st.phase != Phase.FAILED
        if st.reason == WAITING:
            self.enter(Phase.DEPLOYING, "Deploying", f"deploying session cluster attempt {st.attempt}")
        if not self.obs.cluster_created:
            self.act("Deploy", st.attempt)
        return True

    def fenced(self, *, since: str | None) -> bool:
        """True once nothing of another attempt is left; until then tear it down again, say so
        in the status, and fail the job after FENCE_SECONDS (see the module docstring)."""
        obs, st = self.obs, self.st
        if not obs.stale:
            return True
        self.act("Teardown", st.attempt)
        self.requeue(1.0)
        left = ", ".join(obs.stale_pods[:5]) + (
            f" and {len(obs.stale_pods) - 5} more" if len(obs.stale_pods) > 5 else ""
        )
        if self.elapsed(since) > FENCE_SECONDS:
            self.finish(
                Phase.FAILED,
                "OldPodsNotGone",
                f"pods of an earlier attempt were still there {FENCE_SECONDS:g}s after their teardown: "
                f"{left or 'none listed'}; a node that stopped answering keeps its pods Terminating "
                "(delete them with --force once the node is known to be down, then recreate the job)",
            )
            return False
        if obs.stale_pods:
            self.enter(
                st.phase,
                WAITING,
                f"attempt {st.attempt} starts once the pods of earlier attempts are "
                f"gone (up to {FENCE_SECONDS:g}s): {left}",
            )
        return False

    def finish(self, phase: Literal[Phase.SUCCEEDED, Phase.FAILED], reason: str, message: str) -> None:
        st = self.st
        st.completion_time = self.nows
        st.intent = None
        self.enter(phase, reason, message)
        self.finished()

    def cleanup_wanted(self) -> bool:
        policy = self.spec.run_policy.cleanup_policy
        return policy == "Delete" or (policy == "KeepOnFailure" and self.st.phase == Phase.SUCCEEDED)

    # -- phases -------------------------------------------------------------------------------
    def finished(self) -> None:
        if self.cleanup_wanted() and self.obs.any_objects:
            self.act("Teardown", None)
        ttl = self.spec.run_policy.ttl_seconds_after_finished
        if ttl is not None:
            left = ttl - self.elapsed(self.st.completion_time)
            if left <= 0:
                self.act("DeleteJob")
            else:
                self.requeue(left)

    def suspended(self) -> None:
        if self.st.phase != Phase.SUSPENDED:
            self.st.intent = Intent(action="Teardown", attempt=self.st.attempt, reason="Suspended")
            self.st.flink_job_id = None
            self.enter(Phase.SUSPENDED, "Suspended", "spec.runPolicy.suspend is true: session cluster torn down")
        if self.obs.any_objects:
            self.act("Teardown", None)
            self.requeue(1.0)
        else:
            self.st.intent = None

    def failed(self, failure: Failure) -> None:
        if not failure.retryable:
            self.finish(Phase.FAILED, failure.reason, failure.message)
            return
        decision = self.policy.decide(restarts_done=self.st.restart_count, reason=failure.message)
        if decision.restart:
            self.st.restart_count += 1
            msg = (
                f"{failure.message}; full restart {self.st.restart_count}/{self.policy.max_restarts} "
                f"in {decision.delay_seconds:g}s"
            )
            self.new_attempt(Phase.RESTARTING, failure.reason, msg, decision.delay_seconds)
        else:
            self.finish(Phase.FAILED, failure.reason, decision.reason)

    def restarting(self) -> None:
        """Wait for the backoff, then for the old attempts' pods to go, then deploy the new attempt."""
        intent = self.st.intent
        since = intent.not_before if intent else None
        wait = -self.elapsed(since) if since else 0.0
        if wait > 0:
            if self.obs.stale:
                self.act("Teardown", self.st.attempt)
                self.requeue(1.0)
            self.requeue(wait)
        elif self.fenced(since=since):
            self.enter(Phase.DEPLOYING, "Redeploying", f"deploying session cluster attempt {self.st.attempt}")
            self.start_deploy()

    def active(self) -> None:
        """Deploying or Running: watch for failure, success, deadlines; drive the deployment."""
        obs, st = self.obs, self.st
        if st.spec_hash and st.spec_hash != spec_hash(self.spec):
            self.new_attempt(Phase.RESTARTING, "SpecChanged", "the spec changed: redeploying the session cluster")
            return
        end = obs.end()
        self.count_am_restarts(obs.am_restarts if end is None else end.restarts)
        self.progress()
        st.rows = obs.rows or st.rows
        failure = obs.failure
        if failure is None and end is not None and end.kind is not EndKind.SUCCEEDED:
            failure = Failure(END_REASONS[end.kind], end.reason, retryable=end.retryable)
        if failure is None and st.phase == Phase.RUNNING and not obs.cluster_created:
            failure = Failure("ClusterDeleted", f"the session cluster of attempt {st.attempt} disappeared")
        if failure is not None:
            self.failed(failure)
            return
        if end is not None and end.kind is EndKind.SUCCEEDED:
            st.flink_job_id = obs.flink_job_id or st.flink_job_id
            self.finish(Phase.SUCCEEDED, "FlinkJobFinished", f"Flink job {st.flink_job_id} finished")
            return
        if obs.flink_job_id:
            st.flink_job_id = obs.flink_job_id
        if st.phase == Phase.DEPLOYING:
            self.deploying()
        self.roles()

    def count_am_restarts(self, total: int | None) -> None:
        """The AM restarts the TF cluster in place; those restarts spend the same budget."""
        st = self.st
        if total is not None and total > st.restart_count:
            added = total - st.restart_count
            st.restart_count = total
            self.plan.events.append(
                Event(
                    "Warning", "TFClusterRestarted", f"the AM restarted the TF cluster ({added} more, {total} in all)"
                )
            )

    def progress(self) -> None:
        """The AM's latest progress; the last checkpoint step outlives an AM that has none yet
        (a new attempt's AM starts without one, the checkpoint is still there)."""
        new, old = self.obs.progress, self.st.progress
        if new is None:
            return
        if new.checkpoint_step is None and old is not None:
            new = new.model_copy(update={"checkpoint_step": old.checkpoint_step})
        self.st.progress = new

    def deploying(self) -> None:
        obs, st = self.obs, self.st
        deadline = self.spec.kubernetes.startup_deadline_seconds
        if self.elapsed(st.deploy_time) > deadline:
            why = obs.startup_problem or "the session cluster did not run the Flink job in time"
            self.finish(Phase.FAILED, "StartupDeadlineExceeded", f"{why} (startupDeadlineSeconds={deadline})")
            return
        self.requeue(max(1.0, deadline - self.elapsed(st.deploy_time)))
        if not self.deploy_step():
            return
        ready = obs.jobmanager_ready and obs.taskmanagers_ready >= taskmanagers_wanted(self.spec)
        if obs.cluster_created and ready and obs.submitter is None and not obs.stale:
            self.act("Submit", st.attempt)
        if obs.flink_state == "RUNNING" and obs.flink_job_id:
            st.intent = None
            self.enter(Phase.RUNNING, "FlinkJobRunning", f"Flink job {obs.flink_job_id} is running")

    def roles(self) -> None:
        spec = self.spec
        desired = {r: n for r, n in spec.roles.sizes().items() if n or r in ("worker", "ps")}
        seen = self.obs.roles or {}
        self.st.roles = {
            role: RoleStatus(
                desired=count,
                **{k: v for k, v in seen.get(role, {}).items() if k in ("running", "succeeded", "failed")},
            )
            for role, count in desired.items()
        }

    def run(self, generation: int) -> Plan:
        st, spec = self.st, self.spec
        st.observed_generation = max(st.observed_generation, generation)
        phase = Phase(st.phase)
        if phase.finished:
            self.finished()
        elif spec.run_policy.suspend:
            self.suspended()
        elif phase in (Phase.PENDING, Phase.SUSPENDED):
            st.start_time = self.nows  # the active deadline counts from (re)start
            verb = "resuming" if phase is Phase.SUSPENDED else "deploying"
            self.new_attempt(Phase.DEPLOYING, "Deploying", f"{verb}: session cluster attempt {st.attempt + 1}")
            self.roles()
        elif (limit := spec.run_policy.active_deadline_seconds) is not None and self.elapsed(st.start_time) > limit:
            self.finish(Phase.FAILED, "DeadlineExceeded", f"job ran longer than activeDeadlineSeconds={limit}")
        else:
            if limit is not None:
                self.requeue(max(1.0, limit - self.elapsed(st.start_time)))
            if phase is Phase.RESTARTING:
                self.restarting()
            else:
                self.active()
        return self.plan


def reconcile(
    *, spec: TFFlinkJobSpec, status: TFFlinkJobStatus, obs: Observation, now: datetime, generation: int = 0
) -> Plan:
    """Plan one reconcile step; see the module docstring for the rules."""
    return _Planner(spec, status, obs, now).run(generation)
