"""The operator's decision function, step by step: deploy, run, restart, give up, suspend, finish."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from op_fixtures import job_body

from tfflink.lifecycle.reconcile import Action, Failure, Observation, Plan, reconcile
from tfflink.spec.models import TFFlinkJob, TFFlinkJobSpec
from tfflink.spec.status import ProgressStatus, RowsStatus, TFFlinkJobStatus

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def spec(**kw: Any) -> TFFlinkJobSpec:
    return TFFlinkJob.model_validate(job_body(**kw)).spec


def step(sp: TFFlinkJobSpec, st: TFFlinkJobStatus, obs: Observation, at: float = 0.0) -> Plan:
    return reconcile(spec=sp, status=st, obs=obs, now=T0 + timedelta(seconds=at), generation=1)


RUNNING_CLUSTER = Observation(
    cluster_created=True,
    any_objects=True,
    jobmanager_ready=True,
    taskmanagers_ready=1,
    submitter="Complete",
    flink_job_id="f1",
    flink_state="RUNNING",
)


def running(sp: TFFlinkJobSpec) -> TFFlinkJobStatus:
    st = step(sp, TFFlinkJobStatus(), Observation()).status
    return step(sp, st, RUNNING_CLUSTER, 5).status


def test_new_job_writes_deploy_intent_and_deploys_attempt_1() -> None:
    sp = spec()
    plan = step(sp, TFFlinkJobStatus(), Observation())
    st = plan.status
    assert (st.phase, st.attempt, st.restart_count, st.observed_generation) == ("Deploying", 1, 0, 1)
    assert st.intent is not None and (st.intent.action, st.intent.attempt) == ("Deploy", 1)
    assert plan.actions == [Action("Deploy", 1)]
    assert st.start_time == "2026-11-28T12:00:00Z" and st.task_managers == 1
    assert [e.reason for e in plan.events] == ["Deploying"]
    assert st.roles["worker"].desired == 2 and st.roles["ps"].desired == 1


def test_submit_waits_for_jobmanager_and_all_taskmanagers() -> None:
    sp = spec(workers=3, ps=1, flink={"taskSlots": 2})  # 5 slots -> 3 TMs
    st = step(sp, TFFlinkJobStatus(), Observation()).status
    created = Observation(cluster_created=True, any_objects=True, jobmanager_ready=True, taskmanagers_ready=2)
    assert step(sp, st, created).actions == []
    ready = Observation(cluster_created=True, any_objects=True, jobmanager_ready=True, taskmanagers_ready=3)
    assert step(sp, st, ready).actions == [Action("Submit", 1)]


def test_redeploys_objects_missing_after_a_crash() -> None:
    sp = spec()
    st = step(sp, TFFlinkJobStatus(), Observation()).status
    # The operator died after writing the intent: nothing was created. Same attempt, no new one.
    plan = step(sp, st, Observation(), 3)
    assert plan.actions == [Action("Deploy", 1)] and plan.status.attempt == 1


def test_flink_job_running_makes_the_job_running() -> None:
    sp = spec()
    st = running(sp)
    assert (st.phase, st.flink_job_id, st.intent) == ("Running", "f1", None)
    cond = st.condition("Running")
    assert cond is not None and cond.status == "True" and cond.reason == "FlinkJobRunning"


def test_pod_failure_restarts_everything_with_backoff_and_counts_once() -> None:
    sp = spec(failover={"maxRestarts": 2, "backoff": {"initialSeconds": 4, "maxSeconds": 10}})
    st = running(sp)
    broken = Observation(**{**RUNNING_CLUSTER.__dict__, "failure": Failure("PodFailed", "pod tm-1: OOMKilled")})
    plan = step(sp, st, broken, 10)
    st2 = plan.status
    assert (st2.phase, st2.restart_count, st2.attempt, st2.flink_job_id) == ("Restarting", 1, 2, None)
    assert st2.intent is not None and st2.intent.action == "Restart"
    assert st2.intent.not_before == "2026-11-28T12:00:14Z"
    assert plan.actions == [Action("Teardown", 2)]
    assert plan.events[0].type == "Warning" and plan.events[0].reason == "PodFailed"
    # Old attempt still going away, backoff not over: keep tearing down, no second count.
    stale = Observation(any_objects=True, stale=True)
    again = step(sp, st2, stale, 11)
    assert again.status.restart_count == 1 and again.actions == [Action("Teardown", 2)]
    # Backoff over but old pods remain: still wait.
    assert step(sp, st2, stale, 15).status.phase == "Restarting"
    # Old attempt gone, backoff over: deploy attempt 2.
    plan3 = step(sp, st2, Observation(), 15)
    assert plan3.status.phase == "Deploying" and plan3.actions == [Action("Deploy", 2)]
    assert plan3.status.restart_count == 1


def test_gives_up_after_max_restarts() -> None:
    sp = spec(failover={"maxRestarts": 1, "backoff": {"initialSeconds": 0}})
    st = running(sp)
    fail = Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FAILED"})
    st = step(sp, st, fail, 10).status
    assert (st.phase, st.restart_count) == ("Restarting", 1)
    st = step(sp, st, Observation(), 11).status
    assert st.phase == "Deploying"
    st = step(sp, st, RUNNING_CLUSTER, 12).status
    final = step(sp, st, fail, 13)
    assert final.status.phase == "Failed" and final.status.reason == "FlinkJobFailed"
    assert "gave up after 1 restart(s), maxRestarts=1" in final.status.message
    assert final.status.completion_time is not None
    assert final.actions == [Action("Teardown", None)]  # cleanupPolicy Delete
    failed = final.status.condition("Failed")
    assert failed is not None and failed.status == "True"


def test_flink_job_finished_succeeds_and_keep_policy_keeps_the_cluster() -> None:
    sp = spec(runPolicy={"cleanupPolicy": "Keep"})
    st = running(sp)
    done = Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FINISHED"})
    plan = step(sp, st, done, 20)
    assert plan.status.phase == "Succeeded" and plan.actions == []
    assert plan.events[-1].reason == "FlinkJobFinished"


def test_keep_on_failure_tears_down_only_after_success() -> None:
    sp = spec(runPolicy={"cleanupPolicy": "KeepOnFailure"}, failover={"maxRestarts": 0})
    st = running(sp)
    failed = step(sp, st, Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FAILED"}), 9)
    assert failed.status.phase == "Failed" and failed.actions == []
    ok = step(sp, st, Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FINISHED"}), 9)
    assert ok.actions == [Action("Teardown", None)]


def test_ttl_deletes_the_job_after_it_finished() -> None:
    sp = spec(runPolicy={"ttlSecondsAfterFinished": 60})
    st = running(sp)
    st = step(sp, st, Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FINISHED"}), 10).status
    early = step(sp, st, Observation(), 30)
    assert early.actions == [] and early.requeue_seconds == 40
    assert step(sp, st, Observation(), 71).actions == [Action("DeleteJob")]


def test_suspend_tears_down_and_resume_deploys_a_new_attempt_without_counting_a_restart() -> None:
    sp = spec()
    st = running(sp)
    sus = spec(runPolicy={"suspend": True})
    plan = step(sus, st, RUNNING_CLUSTER, 10)
    assert plan.status.phase == "Suspended" and plan.actions == [Action("Teardown", None)]
    st = step(sus, plan.status, Observation(), 11).status
    assert st.intent is None and st.phase == "Suspended"
    resumed = step(sp, st, Observation(), 20)
    assert resumed.status.phase == "Deploying" and resumed.actions == [Action("Deploy", 2)]
    assert resumed.status.restart_count == 0 and resumed.status.start_time == "2026-11-28T12:00:20Z"
    suspended = resumed.status.condition("Suspended")
    assert suspended is not None and suspended.status == "False"


def test_startup_deadline_fails_with_the_pod_problem() -> None:
    sp = spec(kubernetes={"startupDeadlineSeconds": 60})
    st = step(sp, TFFlinkJobStatus(), Observation()).status
    stuck = Observation(
        cluster_created=True, any_objects=True, startup_problem="pod x: ImagePullBackOff: no such image"
    )
    assert step(sp, st, stuck, 30).status.phase == "Deploying"
    plan = step(sp, st, stuck, 61)
    assert plan.status.phase == "Failed" and plan.status.reason == "StartupDeadlineExceeded"
    assert "ImagePullBackOff" in plan.status.message


def test_active_deadline_fails_a_running_job() -> None:
    sp = spec(runPolicy={"activeDeadlineSeconds": 100})
    st = running(sp)
    assert step(sp, st, RUNNING_CLUSTER, 50).status.phase == "Running"
    plan = step(sp, st, RUNNING_CLUSTER, 101)
    assert plan.status.phase == "Failed" and plan.status.reason == "DeadlineExceeded"


def test_spec_change_redeploys_without_counting_a_failure() -> None:
    sp = spec()
    st = running(sp)
    bigger = spec(workers=4)
    plan = step(bigger, st, RUNNING_CLUSTER, 10)
    assert plan.status.phase == "Restarting" and plan.status.reason == "SpecChanged"
    assert plan.status.restart_count == 0 and plan.status.attempt == 2
    # A runPolicy-only change (e.g. a deadline) does not redeploy.
    same = spec(runPolicy={"activeDeadlineSeconds": 1000})
    assert step(same, st, RUNNING_CLUSTER, 10).status.phase == "Running"


def test_a_running_cluster_that_vanished_is_a_failure() -> None:
    sp = spec()
    st = running(sp)
    plan = step(sp, st, Observation(any_objects=True), 10)
    assert plan.status.phase == "Restarting" and plan.status.reason == "ClusterDeleted"


def test_status_round_trips_through_the_stored_body() -> None:
    st = running(spec())
    body = st.to_body()
    assert body["phase"] == "Running" and body["restartCount"] == 0 and body["intent"] is None
    assert TFFlinkJobStatus.from_body({**body, "kopf": {"progress": {}}}) == st


def _ended(root: str, **am: Any) -> Observation:
    return Observation(**{**RUNNING_CLUSTER.__dict__, "flink_state": "FAILED", "root_exception": root, **am})


def test_bad_input_fails_at_once_without_a_restart() -> None:
    """Malformed rows carry the fatal mark through Flink: no restart can fix them."""
    sp = spec(failover={"maxRestarts": 3})
    plan = step(
        sp,
        running(sp),
        _ended("Traceback ...\ntfflink.runtime.flink.rows.MalformedRow: [fatal] a.csv:6: expected 5 columns, got 3"),
        10,
    )
    st = plan.status
    assert (st.phase, st.reason, st.restart_count) == ("Failed", "NotRetryable", 0)
    assert st.message == "MalformedRow: a.csv:6: expected 5 columns, got 3 (not retried)"
    assert [(e.type, e.reason) for e in plan.events][-1] == ("Warning", "NotRetryable")


def test_the_am_spent_the_budget_in_place_so_the_job_fails_with_the_users_error() -> None:
    """The AM restarted the TF cluster maxRestarts times and gave up: Failed at once, and the
    restart count says how many restarts happened in all."""
    sp = spec(failover={"maxRestarts": 2})
    root = (
        "org.apache.flink...PythonException\nCaused by: tfflink.runtime.cluster.am.TFJobFailed: TFFlinkJob failed: "
        "worker-0 failed: ValueError: learning rate 42 is too large (gave up after 2 restart(s), maxRestarts=2)"
    )
    plan = step(sp, running(sp), _ended(root), 10)
    st = plan.status
    assert (st.phase, st.reason, st.restart_count) == ("Failed", "TFJobFailed", 2)
    assert st.message.startswith("worker-0 failed: ValueError: learning rate 42 is too large")
    assert "Teardown" in [a.kind for a in plan.actions]


def test_am_restarts_count_in_the_status_while_running() -> None:
    sp = spec(failover={"maxRestarts": 3})
    st = running(sp)
    plan = step(sp, st, Observation(**{**RUNNING_CLUSTER.__dict__, "am_restarts": 1}), 10)
    assert plan.status.restart_count == 1 and plan.status.phase == "Running"
    assert [e.reason for e in plan.events] == ["TFClusterRestarted"]
    # A later Flink-level failure spends the rest of the same budget: restart 2 of 3.
    plan = step(sp, plan.status, _ended("java.lang.RuntimeException: TaskManager lost"), 11)
    assert (plan.status.phase, plan.status.restart_count) == ("Restarting", 2)
    assert "full restart 2/3" in plan.status.message


def test_progress_from_the_am_goes_into_status_and_the_checkpoint_step_outlives_a_new_am() -> None:
    sp = spec()
    st = running(sp)
    assert st.progress is None
    seen = ProgressStatus.from_am({"step": 120, "stepsPerSecond": 12.34567, "checkpointStep": 100})
    st = step(sp, st, replace(RUNNING_CLUSTER, progress=seen), 10).status
    assert st.progress == ProgressStatus(step=120, steps_per_second=12.346, checkpoint_step=100)
    assert st.to_body()["progress"] == {"step": 120, "stepsPerSecond": 12.346, "checkpointStep": 100}
    fresh_am = ProgressStatus.from_am({"step": 130, "stepsPerSecond": None, "checkpointStep": None})
    st = step(sp, st, replace(RUNNING_CLUSTER, progress=fresh_am), 20).status
    assert st.progress == ProgressStatus(step=130, steps_per_second=None, checkpoint_step=100)
    st = step(sp, st, RUNNING_CLUSTER, 30).status  # the AM unreachable this time: the last one stays
    assert st.progress is not None and st.progress.step == 130


def test_row_counts_go_into_status_stay_at_the_end_and_start_again_with_an_attempt() -> None:
    sp = spec(failover={"maxRestarts": 3})
    st = step(sp, running(sp), replace(RUNNING_CLUSTER, rows=RowsStatus(sent=100)), 10).status
    assert st.rows == RowsStatus(sent=100)
    st = step(sp, st, RUNNING_CLUSTER, 11).status  # Flink's REST unread this time: the last counts stay
    assert st.rows == RowsStatus(sent=100)
    restarted = step(sp, st, _ended("java.lang.RuntimeException: TaskManager lost"), 12).status
    assert restarted.phase == "Restarting" and restarted.rows is None  # counts belong to one Flink job
    final = RowsStatus(sent=500, late=3, input_guarantee="exactly-once")
    done = step(sp, st, replace(RUNNING_CLUSTER, flink_state="FINISHED", rows=final), 13).status
    assert done.phase == "Succeeded" and done.rows == final


def test_progress_fields_of_the_wrong_type_from_the_am_are_dropped() -> None:
    assert ProgressStatus.from_am("step 5") is None
    odd = ProgressStatus.from_am({"step": True, "stepsPerSecond": "fast", "checkpointStep": 2**70})
    assert odd == ProgressStatus()
    assert ProgressStatus.from_am({"step": 5, "stepsPerSecond": -1.0}) == ProgressStatus(step=5)


def test_chief_and_evaluator_appear_in_the_role_counts_when_the_spec_has_them() -> None:
    sp = spec(roles={"chief": {"replicas": 1}, "worker": {"replicas": 2}, "evaluator": {"replicas": 1}})
    st = step(sp, TFFlinkJobStatus(), Observation()).status
    assert {r: s.desired for r, s in st.roles.items()} == {"chief": 1, "worker": 2, "ps": 0, "evaluator": 1}
    assert st.task_managers == 1 and sp.task_manager_shape() == (1, 5)


def test_a_restart_waits_for_the_old_pods_then_fails_if_they_never_go() -> None:
    """Fencing: old TF processes may write the checkpoint dir until their pods are gone."""
    from tfflink.lifecycle.reconcile import FENCE_SECONDS

    sp = spec(failover={"maxRestarts": 2, "backoff": {"initialSeconds": 4, "maxSeconds": 10}})
    broken = Observation(**{**RUNNING_CLUSTER.__dict__, "failure": Failure("PodFailed", "pod tm-1: OOMKilled")})
    st = step(sp, running(sp), broken, 10).status  # backoff ends at 14s
    lingering = Observation(any_objects=True, stale=True, stale_pods=("mnist-taskmanager-1-x",))
    during_backoff = step(sp, st, lingering, 12)
    assert during_backoff.status.reason == "PodFailed", "the failure stays the reason while the backoff runs"
    waiting = step(sp, st, lingering, 20)
    assert (waiting.status.phase, waiting.status.reason) == ("Restarting", "WaitingForOldPods")
    assert "mnist-taskmanager-1-x" in waiting.status.message
    assert waiting.actions == [Action("Teardown", 2)], "nothing of attempt 2 is created meanwhile"
    # gone in time: attempt 2 is deployed
    deployed = step(sp, waiting.status, Observation(), 30)
    assert deployed.status.phase == "Deploying" and deployed.actions == [Action("Deploy", 2)]
    # never gone: Failed with the pods named, once the bound has passed (not before)
    assert step(sp, waiting.status, lingering, 14 + FENCE_SECONDS - 1).status.phase == "Restarting"
    stuck = step(sp, waiting.status, lingering, 14 + FENCE_SECONDS + 1)
    assert (stuck.status.phase, stuck.status.reason) == ("Failed", "OldPodsNotGone")
    assert "mnist-taskmanager-1-x" in stuck.status.message and "--force" in stuck.status.message
    assert Action("Deploy", 2) not in stuck.actions


def test_a_deploy_waits_for_pods_of_a_deleted_job_of_the_same_name() -> None:
    sp = spec()
    leftovers = Observation(any_objects=True, stale=True, stale_pods=("mnist-jobmanager-1-old",))
    plan = step(sp, TFFlinkJobStatus(), leftovers)
    assert (plan.status.phase, plan.status.reason) == ("Deploying", "WaitingForOldPods")
    assert plan.actions == [Action("Teardown", 1)]
    ready = Observation(
        any_objects=True,
        stale=True,
        stale_pods=("mnist-jobmanager-1-old",),
        cluster_created=True,
        jobmanager_ready=True,
        taskmanagers_ready=1,
    )
    assert Action("Submit", 1) not in step(sp, plan.status, ready, 2).actions
    gone = step(sp, plan.status, Observation(), 3)
    assert (gone.status.phase, gone.status.reason) == ("Deploying", "Deploying")
    assert gone.actions == [Action("Deploy", 1)]
