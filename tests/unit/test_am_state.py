"""The AM's rules, on a fake clock: registration, completion, full restarts, stale nodes."""

from __future__ import annotations

from tfflink.lifecycle import Phase, RestartPolicy
from tfflink.runtime.am_state import CONTINUE, RESTART, STOP, ClusterState
from tfflink.runtime.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(workers: int = 2, ps: int = 1, max_restarts: int = 3) -> tuple[ClusterState, Clock]:
    clock = Clock()
    st = ClusterState(
        roles={"worker": workers, "ps": ps},
        policy=RestartPolicy(max_restarts=max_restarts, initial_seconds=1, max_seconds=4),
        heartbeat_timeout=5.0,
        registration_timeout=30.0,
        clock=clock,
    )
    return st, clock


def register_all(st: ClusterState, version: int | None = None) -> None:
    for role, n in st.roles.items():
        for i in range(n):
            assert st.register(role, i, f"h:{role}{i}", version)["action"] == CONTINUE


def test_cluster_handed_out_only_when_everyone_registered() -> None:
    st, _ = make()
    st.register("worker", 0, "h:1", None)
    assert st.cluster(1)["ready"] is False
    st.register("worker", 1, "h:2", None)
    st.register("ps", 0, "h:3", None)
    reply = st.cluster(1)
    assert reply["ready"] is True
    assert reply["cluster"] == {"worker": ["h:1", "h:2"], "ps": ["h:3"]}
    assert st.phase is Phase.RUNNING


def test_workers_done_stops_ps_and_job_succeeds() -> None:
    st, _ = make()
    register_all(st)
    st.cluster(1)
    for i in range(2):
        st.heartbeat("worker", i, 1, running=True)
    st.heartbeat("ps", 0, 1, running=True)
    assert st.finish("worker", 0, 1, 0)["action"] == CONTINUE
    assert st.phase is Phase.RUNNING
    assert st.finish("worker", 1, 1, 0)["action"] == STOP
    assert st.phase is Phase.SUCCEEDED
    assert not st.done(), "the ps still runs"
    assert st.heartbeat("ps", 0, 1, running=True)["action"] == STOP
    st.finish("ps", 0, 1, -15, "stopped by the AM")
    assert st.done()
    assert st.status()["roles"] == {"worker": {"Succeeded": 2}, "ps": {"Stopped": 1}}


def test_node_failure_restarts_everyone_under_a_new_version() -> None:
    st, clock = make()
    register_all(st)
    st.cluster(1)
    reply = st.finish("worker", 1, 1, 1, "ValueError: boom")
    assert st.phase is Phase.RESTARTING and st.version == 2 and st.restarts == 1
    assert reply["action"] == RESTART
    # every other node hears "restart" on its next call and rejoins under version 2
    assert st.heartbeat("worker", 0, 1, running=True) == {"action": RESTART, "version": 2}
    assert st.register("ps", 0, "h:x", 1)["action"] == RESTART, "a stale node must not join"
    register_all(st, version=2)
    assert st.cluster(2)["ready"] is False, "backoff of 1s not yet over"
    clock.t += 1.1
    assert st.cluster(2)["ready"] is True
    assert st.status()["restartReasons"] == ["worker-1 failed: ValueError: boom"]


def test_restarts_exhausted_fails_with_last_error() -> None:
    st, clock = make(max_restarts=2)
    for v in (1, 2, 3):
        register_all(st, version=v)
        clock.t += 10
        st.cluster(v)
        st.finish("worker", 0, v, 1, f"RuntimeError: attempt {v}")
    assert st.phase is Phase.FAILED
    assert st.restarts == 2
    assert "RuntimeError: attempt 3" in st.message and "maxRestarts=2" in st.message


def test_lost_heartbeat_is_a_failure() -> None:
    st, clock = make()
    register_all(st)
    st.cluster(1)
    clock.t += 3
    for role, i in (("worker", 0), ("worker", 1)):
        st.heartbeat(role, i, 1, running=True)
    clock.t += 3  # ps silent for 6s > 5s timeout
    st.check()
    assert st.phase is Phase.RESTARTING
    assert "ps-0 lost" in st.restart_reasons[0]


def test_node_that_never_registers_fails_the_version() -> None:
    st, clock = make(max_restarts=0)
    st.register("worker", 0, "h:1", None)
    clock.t += 31
    st.check()
    assert st.phase is Phase.FAILED
    assert "worker-1" in st.message and "ps-0" in st.message


def test_ps_that_exits_zero_early_is_not_a_failure() -> None:
    st, _ = make()
    register_all(st)
    st.cluster(1)
    assert st.finish("ps", 0, 1, 0)["action"] == CONTINUE
    assert st.phase is Phase.RUNNING and st.restarts == 0


def test_logs_are_sequenced() -> None:
    st, _ = make()
    register_all(st)
    st.heartbeat("worker", 0, 1, running=True, logs=["a", "b"])
    st.heartbeat("worker", 1, 1, running=True, logs=["c"])
    first = st.logs_after(0)
    assert first["lines"] == ["a", "b", "c"]
    assert st.logs_after(first["next"])["lines"] == []


def make_roles(roles: dict[str, int]) -> tuple[ClusterState, Clock]:
    clock = Clock()
    st = ClusterState(
        roles=roles, policy=RestartPolicy(max_restarts=3, initial_seconds=0), heartbeat_timeout=5.0, clock=clock
    )
    return st, clock


def test_with_a_chief_its_end_ends_the_job_and_the_others_are_stopped() -> None:
    st, _ = make_roles({"chief": 1, "worker": 2, "ps": 1, "evaluator": 1})
    register_all(st)
    reply = st.cluster(1)
    assert reply["cluster"] == {"chief": ["h:chief0"], "worker": ["h:worker0", "h:worker1"], "ps": ["h:ps0"]}, (
        "the evaluator is no part of the training cluster"
    )
    for name in st.nodes:
        role, i = name.rsplit("-", 1)
        st.heartbeat(role, int(i), 1, running=True)
    assert st.finish("worker", 0, 1, 0)["action"] == CONTINUE
    assert st.finish("worker", 1, 1, 0)["action"] == CONTINUE
    assert st.phase is Phase.RUNNING, "every worker done is not the end while the chief runs"
    assert st.finish("chief", 0, 1, 0)["action"] == STOP
    assert st.phase is Phase.SUCCEEDED and st.message == "the chief succeeded"
    for role in ("ps", "evaluator"):
        assert st.heartbeat(role, 0, 1, running=True)["action"] == STOP
        st.finish(role, 0, 1, -15, "stopped by the AM")
    assert st.done()
    assert st.status()["roles"] == {
        "chief": {"Succeeded": 1},
        "worker": {"Succeeded": 2},
        "ps": {"Stopped": 1},
        "evaluator": {"Stopped": 1},
    }


def test_a_failed_evaluator_restarts_the_whole_cluster_like_any_node() -> None:
    st, _ = make_roles({"chief": 1, "worker": 1, "evaluator": 1})
    register_all(st)
    st.cluster(1)
    assert st.finish("evaluator", 0, 1, 1, "OOM")["action"] == RESTART
    assert st.version == 2 and st.phase is Phase.RESTARTING


def test_progress_keeps_the_latest_per_node_and_derives_steps_per_second() -> None:
    st, clock = make()
    register_all(st)
    st.cluster(1)
    assert st.status()["progress"] is None, "no report yet"
    st.heartbeat("worker", 0, 1, True, progress=Progress(step=100, metrics={"loss": 2.0}))
    assert st.status()["progress"]["stepsPerSecond"] is None, "one sample has no rate"
    clock.t += 10
    st.heartbeat("worker", 1, 1, True, progress=Progress(step=120))
    clock.t += 10
    st.heartbeat("worker", 0, 1, True, progress=Progress(step=300, metrics={"loss": 0.5}, checkpoint_step=250))
    progress = st.status(full=False)["progress"]
    assert progress == {"step": 300, "stepsPerSecond": 10.0, "checkpointStep": 250, "metrics": {"loss": 0.5}}
    assert st.status()["nodes"]["worker-1"]["progress"] == {"step": 120, "metrics": {}}
    clock.t += 60  # reports older than the window no longer count towards the rate
    st.heartbeat("worker", 0, 1, True, progress=Progress(step=310))
    assert st.status()["progress"]["stepsPerSecond"] is None


def test_after_a_restart_the_step_is_the_resumed_one_and_the_checkpoint_is_kept() -> None:
    st, clock = make()
    register_all(st)
    st.cluster(1)
    st.heartbeat("worker", 0, 1, True, progress=Progress(step=500, checkpoint_step=400))
    st.finish("ps", 0, 1, 1, "killed")
    clock.t += 2
    register_all(st, 2)
    st.cluster(2)
    assert st.status()["progress"]["step"] == 500, "the last known step until a new report"
    st.heartbeat("worker", 0, 1, True, progress=Progress(step=999))  # an old version's report
    st.heartbeat("worker", 1, 2, True, progress=Progress(step=400))
    progress = st.status()["progress"]
    assert progress["step"] == 400 and progress["checkpointStep"] == 400 and progress["stepsPerSecond"] is None
