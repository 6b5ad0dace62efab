"""Full-restart failover with real processes: kill -9 each kind of process mid-training.

Every scenario must end Succeeded with exactly one restart, resume from the checkpoint
(the restarted cluster starts at a global step above 0, and the run ends at the same
final step as a clean run), and leave no process behind.

A kill of a TF node (or a hung node, or a failing user function) is the AM's business: it
restarts the TF cluster in place and Flink never notices. Those scenarios share one Flink
session cluster (``tfflink run --flink-address``), which saves a cluster start each; the
kills of Flink's own processes (the AM's task, the TaskManager, the JobManager) make
``tfflink run`` replace its cluster, so those run on their own embedded one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import CliRun, run_job
from tests.support.jobs import copy_example, job_doc
from tests.support.procs import VICTIMS, assert_nothing_left
from tfflink.backends.local import LocalFlinkCluster
from tfflink.spec import FlinkSpec

pytestmark = pytest.mark.flink

STEPS = 900
STEP_LINE = re.compile(r"^\[worker-\d\] step (\d+) ")
START_LINE = re.compile(r"^\[worker-0\] start: global step (\d+) ")


IN_PLACE = ("worker-node", "ps-node")  # the AM restarts the TF cluster; Flink stays up


@pytest.fixture(scope="module")
def session_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REST address of one Flink session cluster for the scenarios that leave Flink alone."""
    workdir = tmp_path_factory.mktemp("session")
    cluster = LocalFlinkCluster(workdir=workdir, spec=FlinkSpec(), slots=4, run_id=uuid.uuid4().hex)
    cluster.start()
    try:
        yield cluster.rest_address
        assert cluster.dead_process() is None, "a scenario that leaves Flink alone killed a Flink process"
    finally:
        cluster.stop()
    assert_nothing_left(workdir)


def training_job(tmp_path: Path, **failover: object) -> Path:
    return copy_example(
        "linear",
        tmp_path / "job",
        properties={"steps": str(STEPS), "step_delay": "0.02"},
        failover={"maxRestarts": 2, "heartbeatTimeoutSeconds": 5, "backoff": {"initialSeconds": 0.5}, **failover},
    )


def kill_mid_training(
    victim: str, where: Path, sig: int = signal.SIGKILL
) -> Callable[[str, subprocess.Popen[str], CliRun], None]:
    """An output watcher that signals ``victim`` (found under ``where``) once training has
    passed step 200."""
    killed: list[int] = []

    def on_line(line: str, proc: subprocess.Popen[str], run: CliRun) -> None:
        m = STEP_LINE.match(line)
        if not killed and m and int(m.group(1)) >= 200:
            pid = VICTIMS[victim](where)
            os.kill(pid, sig)
            killed.append(pid)

    return on_line


# The kills of Flink's processes first: the shared cluster then starts after them and serves
# the in-place scenarios back to back instead of idling through those runs.
@pytest.mark.parametrize("victim", sorted(VICTIMS, key=lambda v: v in IN_PLACE))
def test_kill_one_process_restarts_everything_once_and_resumes(
    tmp_path: Path, victim: str, request: pytest.FixtureRequest
) -> None:
    workdir = tmp_path / "wd"
    if victim in IN_PLACE:  # found by the job dir its environment names; Flink is shared
        flink, where = request.getfixturevalue("session_cluster"), tmp_path
    else:
        flink, where = None, workdir
    run = run_job(training_job(tmp_path), workdir, on_line=kill_mid_training(victim, where), flink_address=flink)
    assert run.returncode == 0, run.stderr + run.text[-4000:]
    assert run.status["phase"] == "Succeeded"
    assert run.status["restarts"] == 1, run.status
    starts = [int(m.group(1)) for ln in run.stdout if (m := START_LINE.match(ln))]
    # The first cluster starts near step 0 (the other worker may have run a step or two before
    # the chief's first eval); the restarted one resumes from a checkpoint taken after step 200.
    assert len(starts) >= 2 and starts[0] < 50 and starts[-1] >= 200, f"did not resume: {starts}"
    metrics = json.loads((tmp_path / "job" / "ckpt" / "metrics.json").read_text())
    assert metrics["start_step"] < 50, "the first run's start loss is kept"
    assert STEPS <= metrics["end_step"] <= STEPS + 10, metrics  # not double, not short
    assert metrics["end_loss"] < 0.05 * metrics["start_loss"]
    assert "restart 1" in run.text
    assert_nothing_left(tmp_path)


def test_hung_node_is_detected_and_restarted(tmp_path: Path, session_cluster: str) -> None:
    run = run_job(
        training_job(tmp_path, heartbeatTimeoutSeconds=4),
        tmp_path / "wd",
        on_line=kill_mid_training("worker-node", tmp_path, signal.SIGSTOP),
        flink_address=session_cluster,
    )
    assert run.returncode == 0, run.stderr + run.text[-4000:]
    assert run.status["restarts"] == 1
    assert "hung" in run.status["restartReasons"][0]
    assert_nothing_left(tmp_path)


def test_crash_looping_function_fails_after_max_restarts(tmp_path: Path, write_job, session_cluster: str) -> None:
    code = "def map_func(context):\n    raise RuntimeError('input table is missing')\n"
    job = write_job(job_doc(failover={"maxRestarts": 2, "backoff": {"initialSeconds": 0.2}}), code=code)
    run = run_job(job, tmp_path / "wd", flink_address=session_cluster)
    assert run.returncode == 1
    assert run.status["phase"] == "Failed"
    assert run.status["restarts"] == 2
    assert "RuntimeError: input table is missing" in run.stderr
    assert "maxRestarts=2" in run.stderr
    assert_nothing_left(tmp_path)


def test_function_exiting_zero_early_is_not_a_failure(tmp_path: Path, write_job, session_cluster: str) -> None:
    code = "import time\ndef map_func(context):\n    if context.get_index() == 1:\n        time.sleep(3)\n"
    job = write_job(job_doc(roles={"worker": {"replicas": 2}}), code=code)
    run = run_job(job, tmp_path / "wd", flink_address=session_cluster)
    assert run.returncode == 0, run.stderr
    assert run.status["restarts"] == 0
