"""The cost of exactly-once stream input: the same training job with and without it.

    .venv/bin/python benchmarks/exactly_once.py [--rows 200000] [--cols 20] [--every 50000]

One stream job (1 worker, JVM data plane) trains a linear model on CSV rows with
``context.get_batches(256)``. With exactly-once, the loop first calls
``context.restore(manager)`` and saves a ``tf.train.CheckpointManager`` checkpoint whenever
``context.checkpoint_requested()`` (every ``--every`` rows); without, it only trains (the feeder
then keeps batches until the node takes them: at-least-once). The worker times its own loop
(first batch to end of input), so Flink's start-up is not in the figure. The baseline is the
run without exactly-once, measured in the same process; prints the ratio last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_rate_job, stream_job

ENTRY = """
import json, os, time
import tensorflow as tf

def map_func(context):
    exactly_once = context.get_property("exactly_once") == "1"
    names = [name for name, _ in context.get_input_columns()]
    w = tf.Variable(tf.zeros([len(names), 1]))
    opt = tf.keras.optimizers.SGD(0.01)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(w=w, opt=opt),
                                         os.path.join(context.get_checkpoint_dir(), "ckpt"), max_to_keep=2)
    if exactly_once:
        context.restore(manager)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0))
        opt.apply_gradients([(tape.gradient(loss, w), w)])

    n, saves, t0 = 0, 0, None
    for b in context.get_batches(batch_size=256, stack={"x": names}):
        t0 = t0 or time.perf_counter()
        step(b["x"])
        n += len(b["x"])
        if exactly_once and context.checkpoint_requested():
            context.save(manager)
            saves += 1
    secs = time.perf_counter() - (t0 or time.perf_counter())
    with open(os.path.join(context.get_checkpoint_dir(), "rate.json"), "w") as f:
        json.dump({"rows": n, "secs": secs, "saves": saves}, f)
"""


def rate(work: Path, csv: Path, cols: int, every: int, exactly_once: bool) -> tuple[float, int, int]:
    d = work / ("exactly-once" if exactly_once else "plain")
    d.mkdir()
    (d / "entry.py").write_text(ENTRY)
    source = {"name": "rows", "csv": {"paths": [str(csv)]}, "columns": [{"name": f"c{i}"} for i in range(cols)]}
    job = stream_job(
        f"bench-eo-{int(exactly_once)}", d / "out", {"dataPlane": "jvm", "checkpointRows": every, "sources": [source]}
    )
    job["spec"]["properties"] = {"exactly_once": "1" if exactly_once else "0"}
    r, wall = run_rate_job(d, job)
    print(f"{d.name}: {r['rows']} rows in {r['secs']:.2f} s, {r['saves']} saves; job wall {wall:.1f} s", flush=True)
    return r["rows"] / r["secs"], int(r["rows"]), int(r["saves"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--every", type=int, default=50_000, help="spec.input.checkpointRows")
    a = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data = np.random.default_rng(0).normal(size=(a.rows, a.cols)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="tfflink-bench-") as tmp:
        work = Path(tmp)
        csv = work / "rows.csv"
        np.savetxt(csv, data, fmt="%.6f", delimiter=",")
        print(f"{a.rows} rows x {a.cols} float32 columns; a checkpoint every {a.every} rows", flush=True)
        plain, n, _ = rate(work, csv, a.cols, a.every, exactly_once=False)
        assert n == a.rows, (n, a.rows)
        eo, n, saves = rate(work, csv, a.cols, a.every, exactly_once=True)
        assert n == a.rows and saves >= 1, (n, saves)
    print(f"without: {plain:,.0f} rows/s; exactly-once: {eo:,.0f} rows/s")
    print(f"ratio exactly-once / without = {eo / plain:.3f}")


if __name__ == "__main__":
    main()
