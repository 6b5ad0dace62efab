"""``tfflink run`` end to end: a real local Flink session cluster, real TF, real gRPC."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import CliRun, run_job
from tests.support.jobs import copy_example, job_doc
from tests.support.procs import assert_nothing_left
from tfflink.backends.flink_rest import FlinkRest

pytestmark = pytest.mark.flink


def test_linear_example_trains_exports_and_shows_role_parallelism(tmp_path: Path) -> None:
    job = copy_example("linear", tmp_path / "job")
    seen: dict[str, int] = {}

    def watch(line: str, proc: subprocess.Popen[str], run: CliRun) -> None:
        if not seen and run.flink and "Running (cluster v1" in line:
            job_id, address = run.flink
            for v in FlinkRest(address).job(job_id)["vertices"]:
                seen[v["name"].split(" ")[0]] = v["parallelism"]

    run = run_job(job, tmp_path / "wd", on_line=watch)
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    assert {k: seen.get(k) for k in ("am", "ps", "worker")} == {"am": 1, "ps": 1, "worker": 2}, seen
    assert run.status["phase"] == "Succeeded" and run.status["restarts"] == 0
    assert "[worker-0] start: global step " in run.text, "node logs are attributed and streamed"

    metrics = json.loads((tmp_path / "job" / "ckpt" / "metrics.json").read_text())
    assert metrics["end_loss"] < 0.05 * metrics["start_loss"], metrics
    assert metrics["end_step"] >= 400

    # The exported SavedModel loads in a fresh process and predicts the true model's outputs.
    check = f"""
import numpy as np, tensorflow as tf, sys
sys.path.insert(0, {str(tmp_path / "job")!r})
from train import true_model, shard
m = tf.saved_model.load({str(tmp_path / "job" / "ckpt" / "saved_model")!r})
x, y = shard(10, 7, rows=256)
pred = m.signatures['serving_default'](x=tf.constant(x))['prediction'].numpy()
err = float(np.mean((pred - y[:, 0]) ** 2))
print('mse', err)
assert pred.shape == (256,) and err < 0.05, err
"""
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_nothing_left(tmp_path / "wd")


def test_seed_add_example_with_three_workers_and_two_ps(tmp_path: Path) -> None:
    job = copy_example("add", tmp_path / "job")
    run = run_job(job, tmp_path / "wd")
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    assert run.status["am"]["roles"] == {"worker": {"Succeeded": 3}, "ps": {"Stopped": 2}}
    # each worker printed [value, global_step] pairs from MonitoredTrainingSession
    steps = [ln for ln in run.stdout if ln.startswith("[worker-") and "np.int64(" in ln]
    assert steps, run.text[-3000:]
    assert_nothing_left(tmp_path / "wd")


def test_user_function_that_raises_fails_the_run_with_its_message(tmp_path: Path, write_job) -> None:
    code = (
        "def map_func(context):\n"
        "    if context.get_role_name() == 'worker' and context.get_index() == 1:\n"
        "        raise ValueError('learning rate 42 is too large')\n"
        "    import time; time.sleep(0.5)\n"
    )
    job = write_job(
        job_doc(roles={"worker": {"replicas": 2}, "ps": {"replicas": 1}}, failover={"maxRestarts": 0}), code=code
    )
    run = run_job(job, tmp_path / "wd")
    assert run.returncode == 1
    assert "ValueError: learning rate 42 is too large" in run.stderr
    assert "worker-1 failed" in run.stderr
    assert run.status["phase"] == "Failed"
    assert_nothing_left(tmp_path / "wd")


def test_ctrl_c_stops_everything(tmp_path: Path, write_job) -> None:
    code = "def map_func(context):\n    import time\n    while True:\n        time.sleep(1)\n"
    job = write_job(job_doc(roles={"worker": {"replicas": 1}, "ps": {"replicas": 1}}), code=code)

    def interrupt(line: str, proc: subprocess.Popen[str], run: CliRun) -> None:
        if "Running (cluster v1" in line and "worker: 1 Running" in line:
            proc.send_signal(signal.SIGINT)

    run = run_job(job, tmp_path / "wd", on_line=interrupt)
    assert run.returncode == 130, run.stderr
    assert "interrupted" in run.stderr
    assert_nothing_left(tmp_path / "wd")


def test_run_on_an_existing_session_cluster(tmp_path: Path, write_job) -> None:
    """--flink-address submits to a running session cluster and leaves it running."""
    import uuid

    from tfflink.backends.local import LocalFlinkCluster
    from tfflink.spec import FlinkSpec

    cluster = LocalFlinkCluster(workdir=tmp_path / "external", spec=FlinkSpec(), slots=3, run_id=uuid.uuid4().hex)
    cluster.start()
    try:
        job = write_job(
            job_doc(roles={"worker": {"replicas": 1}, "ps": {"replicas": 1}}),
            code="def map_func(context):\n    print('cluster', context.get_tf_cluster())\n",
        )
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "tfflink",
                "run",
                str(job),
                "--flink-address",
                cluster.rest_address,
                "--workdir",
                str(tmp_path / "wd"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        assert "[worker-0] cluster {'worker': [" in r.stdout
        assert cluster.dead_process() is None, "the external cluster must keep running"
        assert [j["state"] for j in cluster.rest.jobs()] == ["FINISHED"]
    finally:
        cluster.stop()
    assert_nothing_left(tmp_path / "external")


def test_unreachable_flink_address_is_one_clear_line(tmp_path: Path, write_job) -> None:
    job = write_job(job_doc())
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfflink",
            "run",
            str(job),
            "--flink-address",
            "127.0.0.1:9",
            "--workdir",
            str(tmp_path / "wd"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1
    assert "127.0.0.1:9" in r.stderr and "Traceback" not in r.stderr
