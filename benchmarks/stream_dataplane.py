"""Stream training's data plane: CSV rows through Flink into tf.data in a TF worker.

    .venv/bin/python benchmarks/stream_dataplane.py [--rows 100000] [--cols 100]

One stream job (1 worker, no ps) whose function only iterates ``context.get_dataset(256)``
(the 100 columns stacked into one ``[256, 100]`` tensor, ``stack=``),
run by ``tfflink run`` on the JVM data plane and on the Python one (``dataPlane: python``);
the worker times its own reading (first batch to end of input: the marginal rate, without
Flink's start). Baseline, in this process: ``tf.data.Dataset.from_tensor_slices`` over the same
rows held as one ``[rows, 100]`` tensor, batched the same. Prints the ratios last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_rate_job, stream_job

BATCH = 256
ENTRY = """
import json, os, time

def map_func(context):
    n, t0 = 0, None
    features = {"x": [name for name, _ in context.get_input_columns()]}
    for b in context.get_dataset(batch_size=256, stack=features):
        t0 = t0 or time.perf_counter()
        n += int(b["x"].shape[0])
    secs = time.perf_counter() - (t0 or time.perf_counter())
    with open(os.path.join(context.get_checkpoint_dir(), "rate.json"), "w") as f:
        json.dump({"rows": n, "secs": secs}, f)
"""


def write_csv(path: Path, data: np.ndarray) -> None:
    with open(path, "w") as f:
        for start in range(0, len(data), 10_000):
            np.savetxt(f, data[start : start + 10_000], fmt="%.6f", delimiter=",")


def baseline_rate(data: np.ndarray) -> float:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(data).batch(BATCH)  # the rows as one [rows, cols] tensor
    t0, n = time.perf_counter(), 0
    for b in ds:
        n += int(b.shape[0])
    return n / (time.perf_counter() - t0)


def flink_rate(work: Path, csv: Path, cols: int, plane: str) -> tuple[float, int]:
    d = work / plane
    d.mkdir()
    (d / "entry.py").write_text(ENTRY)
    source = {"name": "rows", "csv": {"paths": [str(csv)]}, "columns": [{"name": f"c{i}"} for i in range(cols)]}
    job = stream_job(f"bench-{plane}", d / "out", {"dataPlane": plane, "sources": [source]})
    r, wall = run_rate_job(d, job)
    print(f"{plane}: {r['rows']} rows read in {r['secs']:.2f} s by the worker; job wall {wall:.1f} s", flush=True)
    return r["rows"] / r["secs"], int(r["rows"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--skip-python", action="store_true", help="only the JVM plane (the Python one is slow)")
    a = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data = np.random.default_rng(0).normal(size=(a.rows, a.cols)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="tfflink-bench-") as tmp:
        work = Path(tmp)
        csv = work / "rows.csv"
        write_csv(csv, data)
        print(f"{a.rows} rows x {a.cols} float32 columns, {csv.stat().st_size / 1e6:.0f} MB of CSV", flush=True)
        base = baseline_rate(data)
        print(f"from_tensor_slices: {base:,.0f} rows/s", flush=True)
        jvm, n = flink_rate(work, csv, a.cols, "jvm")
        assert n == a.rows, (n, a.rows)
        py = None
        if not a.skip_python:
            py, n = flink_rate(work, csv, a.cols, "python")
            assert n == a.rows, (n, a.rows)
    print(f"jvm plane: {jvm:,.0f} rows/s" + (f"; python plane: {py:,.0f} rows/s" if py else ""))
    print(f"ratio jvm / from_tensor_slices = {jvm / base:.3f}" + (f"; jvm / python = {jvm / py:.1f}x" if py else ""))


if __name__ == "__main__":
    main()
