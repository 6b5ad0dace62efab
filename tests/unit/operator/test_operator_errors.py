"""The operator acts on an error's retry meaning: permanent fails the job at once, temporary is retried."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from op_fixtures import job_body

from tfflink.backends.flink_rest import FlinkUnreachable
from tfflink.backends.kubernetes import names as n
from tfflink.backends.kubernetes.flink import FlinkClient
from tfflink.backends.kubernetes.observe import fact, observe
from tfflink.backends.submit import SubmitError
from tfflink.errors import TfflinkError
from tfflink.lifecycle.errors import failure_record
from tfflink.lifecycle.reconcile import Event
from tfflink.operator import reconciler
from tfflink.operator.config import OperatorConfig
from tfflink.operator.metrics import Metrics
from tfflink.spec import SpecError


class FakeApi:
    """Records status writes."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.writes.append(status)


class Stopped:
    """kopf's DaemonStopped as the loop uses it: truthy once set, awaitable."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


def _run(
    monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], passes: int, step: Any = None
) -> tuple[FakeApi, list[Event], list[float], reconciler.Deps]:
    """Run the supervision loop for ``passes`` passes; returns the writes, Events and waits."""
    waits: list[float] = []

    async def go() -> tuple[FakeApi, list[Event], reconciler.Deps]:
        stopped = Stopped()
        api = FakeApi()
        deps = reconciler.Deps(
            api=cast(Any, api), flink=cast(FlinkClient, None), config=OperatorConfig(), metrics=Metrics()
        )

        async def sleep(wake: asyncio.Event, stop: Any, seconds: float) -> None:
            waits.append(seconds)
            if len(waits) >= passes:
                stopped.event.set()

        monkeypatch.setattr(reconciler, "_sleep", sleep)
        if step is not None:
            monkeypatch.setattr(reconciler.JobLoop, "step", step)
        events: list[Event] = []
        await reconciler.supervise(deps, body=body, facts=list, post=events.append, stopped=stopped)
        return api, events, deps

    api, events, deps = asyncio.run(go())
    return api, events, waits, deps


def _count(deps: reconciler.Deps, result: str) -> float:
    return float(deps.metrics.registry.get_sample_value("tfflink_operator_reconciles_total", {"result": result}) or 0)


def test_a_permanent_error_fails_the_job_once_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid spec (SpecError): Failed/InvalidSpec with every problem, one write and one
    Event; the next pass writes nothing and waits for the spec to change."""
    api, events, waits, deps = _run(monkeypatch, job_body(workers=0), passes=2)
    assert len(api.writes) == 1
    status = api.writes[0]
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert "spec.roles.worker.replicas" in status["message"]
    assert [(e.type, e.reason) for e in events] == [("Warning", "InvalidSpec")]
    assert waits == [0.5, 3600.0] and _count(deps, "error") == 0


def test_a_refused_object_fails_the_job_with_the_api_servers_words(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(self: reconciler.JobLoop, facts: Any) -> float:
        raise reconciler.Refused("the API server refused the session cluster: violates PodSecurity")

    api, events, _, _ = _run(monkeypatch, job_body(), passes=1, step=refused)
    assert (api.writes[0]["phase"], api.writes[0]["reason"]) == ("Failed", "Refused")
    assert api.writes[0]["message"] == "the API server refused the session cluster: violates PodSecurity"


@pytest.mark.parametrize("error", [FlinkUnreachable("Flink REST at jm:8081 unreachable"), RuntimeError("a bug")])
def test_a_temporary_error_is_retried_with_backoff_and_fails_nothing(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    calls: list[int] = []

    async def flaky(self: reconciler.JobLoop, facts: Any) -> float:
        calls.append(1)
        if len(calls) < 3:
            raise error
        return 5.0

    api, events, waits, deps = _run(monkeypatch, job_body(), passes=3, step=flaky)
    assert len(calls) == 3 and api.writes == [] and events == []
    assert waits == [1.0, 2.0, 5.0]  # 0.5 * 2**failures, then the pass's own wait
    assert _count(deps, "error") == 2 and _count(deps, "ok") == 1


def _submitter(message: str) -> list[Any]:
    labels = {n.COMPONENT: n.SUBMITTER, n.ATTEMPT: "1", n.JOB_UID: "uid-1"}
    job = {
        "metadata": {"name": "j-submit-1", "labels": labels},
        "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
    }
    terminated = {"state": {"terminated": {"exitCode": 2, "message": message}}}
    pod = {"metadata": {"name": "j-submit-1-x", "labels": labels}, "status": {"containerStatuses": [terminated]}}
    return [fact("Job", job), fact("Pod", pod)]


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (SpecError("/opt/tfflink/config/job.yaml", ["spec.entry.file: fn.py not found"]), False),
        (SubmitError("x"), True),
    ],
)
def test_the_submitters_failure_record_decides_whether_a_new_attempt_is_made(
    error: TfflinkError, retryable: bool
) -> None:
    """Before, every failed submitter was retried: an invalid job spent every restart."""
    failure = observe(_submitter(failure_record(error)), attempt=1, uid="uid-1").failure
    assert failure is not None and failure.reason == "SubmissionFailed"
    assert failure.retryable is retryable
    assert failure.message == f"submitter j-submit-1 failed: {'; '.join(str(error).splitlines())}"


def test_a_submitter_that_crashed_without_a_record_is_retried() -> None:
    failure = observe(_submitter("Traceback ...\nOSError: disk full"), attempt=1, uid="uid-1").failure
    assert failure is not None and failure.retryable
    assert failure.message == "submitter j-submit-1 failed: OSError: disk full"
