"""Exactly-once stream input on the JVM plane, with a real local Flink and real TF processes.

Two workers train on 40,000 rows with unique ids; the "model" is a per-id counter saved with
``tf.train.CheckpointManager`` at the feeder's checkpoints (``context.save``). Killed mid-stream:
worker 0's TF process SIGKILLs itself (as the OOM killer would) one batch after its second
checkpoint: the TF cluster restarts, each node restores the checkpoint the feeder names and
gets the rows after it again; or the TaskManager is SIGKILLed after the first checkpoint:
``tfflink run`` resubmits, and the rerun starts every node afresh. Either way the final models
together must have counted each id exactly once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import CliRun, run_job
from tests.support.jobs import job_doc
from tests.support.procs import VICTIMS
from tfflink.runtime.flink.jars import DATAPLANE_JAR

pytestmark = [
    pytest.mark.flink,
    pytest.mark.skipif(not DATAPLANE_JAR.is_file(), reason=f"{DATAPLANE_JAR} not built (make jars)"),
]

ROWS = 40_000

CODE = """
import os, signal, time
import numpy as np
import tensorflow as tf

def map_func(context):
    i, n = context.get_index(), int(context.get_property("rows"))
    counts = tf.Variable(tf.zeros([n], tf.int32))  # the model: how often each id was trained on
    directory = os.path.join(context.get_property("ckpt"), f"worker-{i}")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(counts=counts), directory, max_to_keep=3)
    print(f"restored checkpoint {context.restore(manager)}")
    marker = os.path.join(context.get_property("ckpt"), "killed")
    saved = kill_at = 0
    pace, kill_self = float(context.get_property("pace")), context.get_property("kill") == "self"
    for batch in context.get_batches(batch_size=500):
        time.sleep(pace)
        ids = batch["id"]
        counts.scatter_nd_add(ids[:, None], tf.ones([len(ids)], tf.int32))
        if kill_at and saved == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # trained past the checkpoint, never saved
        if context.checkpoint_requested():
            print(f"saved {context.save(manager)}")
            saved += 1
            if kill_self and i == 0 and saved == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                kill_at = saved
    np.save(os.path.join(context.get_property("out"), f"counts-{i}.npy"), counts.numpy())
"""


@pytest.mark.parametrize("victim", ["tf-node", "taskmanager"])
def test_a_kill_mid_stream_still_trains_each_row_exactly_once(tmp_path: Path, write_job, victim: str) -> None:
    ids = np.random.default_rng(7).permutation(ROWS)
    (tmp_path / "rows.csv").write_text("".join(f"{k},{k / 3:.3f}\n" for k in ids))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "out").mkdir()
    doc = job_doc(
        mode="stream",
        roles={"worker": {"replicas": 2}, "ps": {"replicas": 0}},
        properties={
            "rows": str(ROWS),
            "ckpt": str(tmp_path / "ckpt"),
            "out": str(tmp_path / "out"),
            # The TaskManager is killed from here, on a log line: slow the stream so that
            # the kill lands mid-stream (40 batches of 0.15 s per worker).
            "kill": "self" if victim == "tf-node" else "none",
            "pace": "0" if victim == "tf-node" else "0.15",
        },
        input={
            "dataPlane": "jvm",
            "checkpointRows": 5000,
            "sources": [
                {
                    "name": "rows",
                    "csv": {"paths": [str(tmp_path / "rows.csv")]},
                    "columns": [{"name": "id", "type": "int64"}, {"name": "x"}],
                }
            ],
        },
        failover={"maxRestarts": 2},
    )
    workdir = tmp_path / "wd"
    killed: list[int] = []

    def kill_taskmanager(line: str, proc: object, run: CliRun) -> None:
        if victim == "taskmanager" and not killed and line.startswith("[worker-0] saved"):
            killed.append(VICTIMS["taskmanager"](workdir))
            os.kill(killed[0], signal.SIGKILL)

    run = run_job(write_job(doc, code=CODE), workdir, on_line=kill_taskmanager, timeout=400)
    assert run.returncode == 0, run.stderr + run.text[-3000:]

    if victim == "tf-node":
        assert run.status["restarts"] == 1, run.status
        assert (tmp_path / "ckpt" / "killed").exists()
        assert "[worker-0] restored checkpoint 2" in run.text
    else:  # the AM may count a TF node that lost its feeder before the Flink restart is seen
        assert killed and "Flink taskmanager process died" in run.status["restartReasons"], run.status
    total = sum(np.load(tmp_path / "out" / f"counts-{i}.npy") for i in range(2))
    assert int(total.min()) == 1 and int(total.max()) == 1, np.bincount(total)  # each id exactly once
    rows = run.status["rows"]
    assert rows["sent"] - rows.get("replayed", 0) == ROWS, rows
    assert (rows.get("replayed", 0) > 0) == (victim == "tf-node"), rows  # a resubmitted job starts afresh
    assert run.status["inputGuarantee"] == "exactly-once"
