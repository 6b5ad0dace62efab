"""Full-restart failover with real processes: kill -9 each kind of process mid-training.

Every scenario must end Succeeded with exactly one restart, resume from the checkpoint
(the restarted cluster starts at a global step above 0, and the run ends at the same
final step as a clean run), and leave no process behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import copy_example, job_doc, processes_mentioning
from tests.integration.runner import CliRun, run_job
from tests.integration.test_local_run import assert_nothing_left

pytestmark = pytest.mark.flink

STEPS = 900
STEP_LINE = re.compile(r"^\[worker-\d\] step (\d+) ")
START_LINE = re.compile(r"^\[worker-0\] start: global step (\d+) ")


def _pid_where(workdir: Path, *needles: str) -> int:
    """The one live process of this run whose cmdline/environ holds every needle."""
    for pid, _ in processes_mentioning(str(workdir)):
        try:
            blob = Path(f"/proc/{pid}/environ").read_bytes() + Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if all(n.encode() in blob for n in needles):
            return pid
    raise AssertionError(f"no process with {needles} under {workdir}")


def node_pid(workdir: Path, role: str, index: int) -> int:
    return _pid_where(workdir, "tfflink.runtime.cluster.node_main", f'"role": "{role}", "index": {index},')


def am_pid(workdir: Path) -> int:
    import urllib.request

    rdv = next(workdir.glob("rendezvous-*/am.json"))
    address = json.loads(rdv.read_text())["address"]
    with urllib.request.urlopen(f"http://{address}/status", timeout=5) as r:
        return int(json.loads(r.read())["pid"])


VICTIMS: dict[str, Callable[[Path], int]] = {
    "worker-node": lambda wd: node_pid(wd, "worker", 1),
    "ps-node": lambda wd: node_pid(wd, "ps", 0),
    "am": am_pid,
    "taskmanager": lambda wd: _pid_where(wd, "TaskManagerRunner"),
    "jobmanager": lambda wd: _pid_where(wd, "StandaloneSessionClusterEntrypoint"),
}


def training_job(tmp_path: Path, **failover: object) -> Path:
    return copy_example(
        "linear",
        tmp_path / "job",
        properties={"steps": str(STEPS), "step_delay": "0.02"},
        failover={"maxRestarts": 2, "heartbeatTimeoutSeconds": 5, "backoff": {"initialSeconds": 0.5}, **failover},
    )


def kill_mid_training(
    victim: str, workdir: Path, sig: int = signal.SIGKILL
) -> Callable[[str, subprocess.Popen[str], CliRun], None]:
    """An output watcher that signals ``victim`` once training has passed step 200."""
    killed: list[int] = []

    def on_line(line: str, proc: subprocess.Popen[str], run: CliRun) -> None:
        m = STEP_LINE.match(line)
        if not killed and m and int(m.group(1)) >= 200:
            pid = VICTIMS[victim](workdir)
            os.kill(pid, sig)
            killed.append(pid)

    return on_line


@pytest.mark.parametrize("victim", list(VICTIMS))
def test_kill_one_process_restarts_everything_once_and_resumes(tmp_path: Path, victim: str) -> None:
    workdir = tmp_path / "wd"
    run = run_job(training_job(tmp_path), workdir, on_line=kill_mid_training(victim, workdir))
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
    assert_nothing_left(workdir)


def test_hung_node_is_detected_and_restarted(tmp_path: Path) -> None:
    workdir = tmp_path / "wd"
    run = run_job(
        training_job(tmp_path, heartbeatTimeoutSeconds=4),
        workdir,
        on_line=kill_mid_training("worker-node", workdir, signal.SIGSTOP),
    )
    assert run.returncode == 0, run.stderr + run.text[-4000:]
    assert run.status["restarts"] == 1
    assert "hung" in run.status["restartReasons"][0]
    assert_nothing_left(workdir)


def test_crash_looping_function_fails_after_max_restarts(tmp_path: Path, write_job) -> None:
    code = "def map_func(context):\n    raise RuntimeError('input table is missing')\n"
    job = write_job(job_doc(failover={"maxRestarts": 2, "backoff": {"initialSeconds": 0.2}}), code=code)
    run = run_job(job, tmp_path / "wd")
    assert run.returncode == 1
    assert run.status["phase"] == "Failed"
    assert run.status["restarts"] == 2
    assert "RuntimeError: input table is missing" in run.stderr
    assert "maxRestarts=2" in run.stderr
    assert_nothing_left(tmp_path / "wd")


def test_function_exiting_zero_early_is_not_a_failure(tmp_path: Path, write_job) -> None:
    code = "import time\ndef map_func(context):\n    if context.get_index() == 1:\n        time.sleep(3)\n"
    job = write_job(job_doc(roles={"worker": {"replicas": 2}}), code=code)
    run = run_job(job, tmp_path / "wd")
    assert run.returncode == 0, run.stderr
    assert run.status["restarts"] == 0
