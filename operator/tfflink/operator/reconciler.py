"""One TFFlinkJob's supervision loop: observe, plan, write status, act, wait.

The loop runs as a kopf daemon per job. Observation comes from kopf indexes (pods,
Deployments, submitter Jobs, fed by watches) and the Flink REST API; the plan comes from the
pure :func:`tfflink.lifecycle.reconcile.reconcile`. The status is patched *before* the actions
run, so a crash between the two repeats the actions of the recorded intent (they are
idempotent) rather than starting another restart.

Errors of a pass are decided in one place, :func:`supervise`, by their retry meaning
(:mod:`tfflink.errors`): a permanent one (an invalid spec, objects the API server refuses)
fails the job at once with its message; anything else is retried with backoff. kopf's own
``PermanentError``/``TemporaryError`` are not used: nothing escapes the loop to kopf, whose
permanent error would end the job's supervision and leave its status as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException
from pydantic import ValidationError

from ..backends.kubernetes import manifests
from ..backends.kubernetes.api import KubeApi
from ..backends.kubernetes.flink import FlinkClient
from ..backends.kubernetes.manifests import JobRef
from ..backends.kubernetes.observe import ObjectFact, observe, owned_by, trusted_am_address
from ..errors import PermanentFailure, TfflinkError
from ..lifecycle.outcome import FLINK_FAILED
from ..lifecycle.reconcile import Action, Event, Observation, Plan, reconcile
from ..lifecycle.rows import rows_status
from ..spec.loader import SpecError, format_errors
from ..spec.models import TFFlinkJob
from ..spec.status import Phase, ProgressStatus, TFFlinkJobStatus, now_rfc3339
from .config import OperatorConfig
from .metrics import Metrics

log = logging.getLogger(__name__)
Key = tuple[str, str]
EventPoster = Callable[[Event], None]


@dataclass
class Deps:
    """What every job's loop shares (kept in kopf's memo)."""

    api: KubeApi
    flink: FlinkClient
    config: OperatorConfig
    metrics: Metrics
    wakeups: dict[Key, asyncio.Event] = field(default_factory=dict)
    deleted_pods: dict[Key, list[tuple[str, int, str]]] = field(default_factory=dict)  # (job uid, attempt, pod)

    def wake(self, key: Key) -> None:
        ev = self.wakeups.get(key)
        if ev is not None:
            ev.set()


def parse(body: Mapping[str, Any]) -> TFFlinkJob | list[str]:
    """The validated job, or the problems (the CRD schema should have caught them)."""
    try:
        return TFFlinkJob.model_validate({k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec")})
    except ValidationError as err:
        return format_errors(err)


async def _observe(deps: Deps, ref: JobRef, status: TFFlinkJobStatus, facts: Iterable[ObjectFact]) -> Observation:
    facts = list(facts)
    deleted = deps.deleted_pods.get((ref.namespace, ref.name), [])
    deleted[:] = [d for d in deleted if d[0] == ref.uid and d[1] >= status.attempt]
    obs = observe(facts, attempt=status.attempt, uid=ref.uid, deleted_pods=[(a, pod) for _, a, pod in deleted])
    # Only the Flink job this attempt's submitter started counts (its id is in the submitter's
    # termination message), never whatever else runs in the session cluster.
    job_id = obs.flink_job_id or status.flink_job_id
    if not job_id and obs.submitter == "Complete" and obs.jobmanager_ready and status.phase == "Deploying":
        # A submitter that succeeded without a result (its termination message was lost):
        # this attempt's fresh session cluster runs exactly one job, or we do not guess.
        job_id = await deps.flink.only_job(ref.namespace, ref.name)
    if status.phase not in ("Deploying", "Running") or not obs.jobmanager_ready or not job_id:
        return obs
    state = await deps.flink.job_state(ref.namespace, ref.name, job_id)
    if state is None:
        return obs
    am: dict[str, Any] = {}
    if status.phase is Phase.RUNNING or state in FLINK_FAILED:
        address = trusted_am_address(
            await deps.api.am_address(ref.namespace, ref.name), owned_by(facts, ref.uid), status.attempt
        )
        am = (await deps.flink.am_status(address) if address else None) or {}
    root = await deps.flink.root_exception(ref.namespace, ref.name, job_id) if state in FLINK_FAILED else None
    rows = rows_status(await deps.flink.accumulators(ref.namespace, ref.name, job_id))
    restarts = am.get("restarts")
    am_restarts = restarts if isinstance(restarts, int) and not isinstance(restarts, bool) else None
    roles = None
    if isinstance(am.get("roles"), dict):
        roles = {
            r: {k.lower(): int(v) for k, v in c.items() if isinstance(v, int)}
            for r, c in am["roles"].items()
            if isinstance(c, dict)
        }
    phase = am.get("phase")
    return dataclasses.replace(
        obs,
        flink_job_id=job_id,
        flink_state=state,
        root_exception=root,
        am_restarts=am_restarts,
        roles=roles,
        am_phase=phase if isinstance(phase, str) else None,
        am_message=str(am.get("message") or "")[:2000],
        progress=ProgressStatus.from_am(am.get("progress")),
        rows=rows,
    )


async def execute(deps: Deps, ref: JobRef, action: Action, status: TFFlinkJobStatus) -> None:
    """Run one planned action; each is idempotent."""
    if action.kind == "Deploy":
        assert action.attempt is not None
        for obj in manifests.job_objects(ref) + manifests.cluster_objects(ref, action.attempt):
            await deps.api.create(obj, refresh=obj["metadata"]["name"].endswith("-config"))
        tensorboard = manifests.tensorboard_objects(ref)  # follows the spec: a changed logDir, or none
        for obj in tensorboard:
            await deps.api.apply(obj)
        if not tensorboard:
            await deps.api.delete_tensorboard(ref.namespace, ref.name)
    elif action.kind == "Submit":
        assert action.attempt is not None  # the token first: the submitter pod mounts it
        await deps.api.create(manifests.token_secret(ref, action.attempt, manifests.new_token()))
        await deps.api.create(manifests.submitter_job(ref, action.attempt, restarts_done=status.restart_count))
    elif action.kind == "Teardown":
        await deps.api.delete_cluster(ref.namespace, ref.name, keep_attempt=action.attempt)
    elif action.kind == "DeleteJob":
        await deps.api.delete_job(ref.namespace, ref.name)


REFUSED = (403, 422)  # forbidden (Pod Security, quota, RBAC) and invalid objects
STATUS_REASONS: dict[type[TfflinkError], str] = {SpecError: "InvalidSpec"}  # else the class name


class Refused(PermanentFailure):
    """The API server refused an object (422, a Pod Security or quota 403): a retry gets the same answer."""


# An action repeated this soon is skipped: its effects are still on their way to the indexes.
IN_FLIGHT_SECONDS = {"Deploy": 5.0, "Submit": 5.0, "Teardown": 1.0, "DeleteJob": 5.0}


class JobLoop:
    """The supervision state of one job: the status as last written, and actions in flight."""

    def __init__(self, deps: Deps, body: Mapping[str, Any], post: EventPoster) -> None:
        self.deps, self.body, self.post = deps, body, post
        meta = body["metadata"]
        self.key: Key = (meta["namespace"], meta["name"])
        self.status = TFFlinkJobStatus.from_body(body.get("status"))
        self.recent: dict[Action, float] = {}

    async def _write(self, status: TFFlinkJobStatus) -> None:
        await self.deps.api.patch_status(*self.key, status.to_body())
        self.status = status  # before any action runs: a failed action never re-decides

    async def _fail_now(self, reason: str, message: str) -> None:
        """Failed at once, without a plan (a refused spec or refused objects): status, then Event."""
        st = self.status.model_copy(deep=True)
        st.phase, st.reason, st.message = Phase.FAILED, reason, message[:2000]
        st.intent = None
        st.completion_time = now_rfc3339()
        st.set_condition("Failed", True, reason, st.message, st.completion_time)
        await self._write(st)
        self.post(Event("Warning", reason, st.message))

    async def fail_for_good(self, e: TfflinkError) -> float:
        """Failed with the error's message (once), without a retry; returns the wait for the next
        pass: soon after the status changed (it may clean up), else until the spec changes."""
        reason = STATUS_REASONS.get(type(e), type(e).__name__)
        if self.status.phase == Phase.FAILED and self.status.reason == reason:
            return 3600.0
        await self._fail_now(reason, "; ".join(e.problems) if isinstance(e, SpecError) else str(e))
        return 0.5

    async def step(self, facts: Iterable[ObjectFact]) -> float:
        """One pass; returns how long to wait before the next one."""
        deps, body = self.deps, self.body
        ns, name = self.key
        job = parse(body)
        if not isinstance(job, list) and (problems := manifests.spec_problems(job.spec)):
            job = problems
        if isinstance(job, list):
            raise SpecError(f"{ns}/{name}", job)
        meta = body["metadata"]
        ref = JobRef(name=name, namespace=ns, uid=meta["uid"], job=job)
        obs = await _observe(deps, ref, self.status, facts)
        plan: Plan = reconcile(
            spec=job.spec,
            status=self.status,
            obs=obs,
            now=datetime.now(UTC),
            generation=int(meta.get("generation") or 0),
        )
        plan.status.tensorboard_url = manifests.tensorboard_url(ref)  # a Kubernetes fact, not the planner's
        if plan.status != self.status:
            restarts = plan.status.restart_count - self.status.restart_count
            await self._write(plan.status)  # the intent is stored before acting
            deps.metrics.restarts.inc(max(0, restarts))
        for ev in plan.events:
            self.post(ev)
        now = time.monotonic()
        for action in plan.actions:
            if now - self.recent.get(action, -1e9) < IN_FLIGHT_SECONDS[action.kind]:
                continue
            log.info(
                "%s/%s: %s attempt=%s",
                ns,
                name,
                action.kind,
                action.attempt,
                extra={"job": f"{ns}/{name}", "action": action.kind},
            )
            try:
                await execute(deps, ref, action, self.status)
            except ApiException as e:
                if e.status not in REFUSED or action.kind not in ("Deploy", "Submit"):
                    raise
                raise Refused(f"the API server refused the session cluster: {_api_message(e)}") from None
            self.recent[action] = now  # after success: a failed action is retried on the next pass
        deps.metrics.phase(self.key, plan.status.phase)
        poll = deps.config.poll_seconds
        wait = poll if plan.requeue_seconds is None else min(plan.requeue_seconds, poll)
        if plan.actions:
            wait = min(wait, 0.5)  # look again soon: the actions' effects arrive as events
        return max(wait, 0.05)


async def supervise(
    deps: Deps,
    *,
    body: Mapping[str, Any],
    facts: Callable[[], Iterable[ObjectFact]],
    post: EventPoster,
    stopped: Any,
) -> None:
    """Loop until kopf stops the daemon (the job was deleted or the operator exits)."""
    loop = JobLoop(deps, body, post)
    key = loop.key
    wake = deps.wakeups.setdefault(key, asyncio.Event())
    failures = 0
    try:
        while not stopped:
            wake.clear()
            started = time.monotonic()
            try:
                try:
                    wait = await loop.step(facts())
                except TfflinkError as e:
                    if e.retryable:
                        raise
                    wait = await loop.fail_for_good(e)
                deps.metrics.reconciles.labels("ok").inc()
                failures = 0
            except ApiException as e:
                if e.status == 404:
                    return  # the TFFlinkJob is gone
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                deps.metrics.reconciles.labels("error").inc()
                log.warning("%s/%s: API error %s (%s); retrying in %.1fs", *key, e.status, e.reason, wait)
            except Exception:  # one job's bug must not stop the loop
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                deps.metrics.reconciles.labels("error").inc()
                log.exception("%s/%s: reconcile failed; retrying in %.1fs", *key, wait)
            deps.metrics.seconds.observe(time.monotonic() - started)
            await _sleep(wake, stopped, wait)
    finally:
        deps.wakeups.pop(key, None)


def _api_message(e: ApiException) -> str:
    """The API server's words for a refusal (its Status message), else the HTTP reason."""
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason)
    except (ValueError, AttributeError):
        return str(e.reason)


async def _sleep(wake: asyncio.Event, stopped: Any, seconds: float) -> None:
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
