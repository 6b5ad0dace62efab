"""The AM's rules, on a fake clock: registration, completion, full restarts, stale nodes."""

from __future__ import annotations

from tfflink.lifecycle import Phase, RestartPolicy
from tfflink.runtime.am_state import CONTINUE, RESTART, STOP, ClusterState


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
