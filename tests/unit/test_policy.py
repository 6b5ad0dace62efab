"""The full-restart policy: growing, capped backoff and a hard restart limit."""

from tests.support.jobs import job_doc
from tfflink.lifecycle import RestartPolicy
from tfflink.spec import parse_job


def test_backoff_grows_and_is_capped() -> None:
    p = RestartPolicy(max_restarts=10, initial_seconds=1, max_seconds=5, multiplier=2)
    assert [p.backoff(n) for n in range(5)] == [1, 2, 4, 5, 5]


def test_decide_restarts_until_budget_spent() -> None:
    p = RestartPolicy(max_restarts=2)
    assert p.decide(restarts_done=0, reason="x").restart
    assert p.decide(restarts_done=1, reason="x").restart
    final = p.decide(restarts_done=2, reason="worker-0 failed: boom")
    assert not final.restart
    assert "worker-0 failed: boom" in final.reason and "maxRestarts=2" in final.reason


def test_from_spec() -> None:
    job = parse_job(job_doc(failover={"maxRestarts": 5, "backoff": {"initialSeconds": 2, "maxSeconds": 3}}))
    p = RestartPolicy.from_spec(job.spec.failover)
    assert p.max_restarts == 5 and p.backoff(0) == 2 and p.backoff(3) == 3
