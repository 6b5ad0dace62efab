"""TF2's ParameterServerStrategy under ``tfflink run``: chief, workers, ps and evaluator roles,
progress reports, TensorBoard, and a killed worker's full restart resuming from the chief's
checkpoint.

One run proves them all (each Flink run costs a minute): real Flink, real TF, real gRPC.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import CliRun, run_job
from tests.support.jobs import copy_example
from tests.support.procs import assert_nothing_left, node_pid

pytestmark = pytest.mark.flink

STEPS = 300
CHIEF_STEP = re.compile(r"^\[chief-0\] step (\d+) ")
CHIEF_START = re.compile(r"^\[chief-0\] start: step (\d+) ")
PROGRESS = re.compile(r"\| step (\d+) \(([0-9.e+]+) steps/s")


def test_ps_strategy_converges_shows_progress_and_resumes_after_a_killed_worker(tmp_path: Path) -> None:
    job = copy_example(
        "ps_strategy",
        tmp_path / "job",
        properties={"steps": str(STEPS), "steps_per_round": "30", "round_delay": "1"},
        failover={"maxRestarts": 2, "backoff": {"initialSeconds": 0.5}},
        tensorboard={"logDir": str(tmp_path / "job" / "logs")},
    )
    workdir = tmp_path / "wd"
    killed: list[int] = []

    def kill_worker_after_a_checkpoint(line: str, proc: subprocess.Popen[str], run: CliRun) -> None:
        m = CHIEF_STEP.match(line)
        if not killed and m and int(m.group(1)) >= 60:
            killed.append(node_pid(workdir, "worker", 1))
            os.kill(killed[0], 9)

    run = run_job(job, workdir, on_line=kill_worker_after_a_checkpoint)
    assert run.returncode == 0, run.stderr + run.text[-4000:]
    assert killed and run.status["restarts"] == 1, run.status
    am = run.status["am"]
    assert am["message"] == "the chief succeeded"
    assert am["roles"] == {
        "chief": {"Succeeded": 1},
        "worker": {"Stopped": 2},
        "ps": {"Stopped": 1},
        "evaluator": {"Stopped": 1},
    }, am["roles"]

    starts = [int(m.group(1)) for line in run.stdout if (m := CHIEF_START.match(line))]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] >= 60, f"did not resume from a checkpoint: {starts}"
    metrics = json.loads((tmp_path / "job" / "ckpt" / "metrics.json").read_text())
    assert metrics["end_step"] == STEPS and metrics["start_step"] == 0, metrics
    assert metrics["end_loss"] < 0.05 * metrics["start_loss"], metrics

    evaluated = json.loads((tmp_path / "job" / "ckpt" / "eval.json").read_text())
    assert evaluated and all(0 < int(step) <= STEPS for step in evaluated), evaluated

    # Progress: the AM's last report, and tfflink run's progress line with step and steps/s.
    assert am["progress"]["step"] == STEPS and am["progress"]["checkpointStep"] == STEPS, am["progress"]
    assert am["progress"]["metrics"]["loss"] == pytest.approx(metrics["end_loss"])
    shown = [(int(m.group(1)), float(m.group(2))) for line in run.stdout if (m := PROGRESS.search(line))]
    assert shown and shown[-1][0] == STEPS and any(rate > 0 for _, rate in shown), shown

    # TensorBoard: started on loopback for the run; the chief and the evaluator wrote summaries.
    assert any(line.startswith("tfflink: TensorBoard at http://127.0.0.1:") for line in run.stdout), run.text[-3000:]
    for name in ("train", "eval"):
        assert list((tmp_path / "job" / "logs" / name).glob("events.out.tfevents.*")), name
    assert_nothing_left(workdir)
