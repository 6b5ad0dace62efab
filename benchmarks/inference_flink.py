"""SavedModel inference inside Flink (tfflink run, mode: inference) against direct TF calls.

Throughput inside Flink is the marginal rate of two runs of different sizes,
(n_large - n_small) / (t_large - t_small), where t is the Flink job's own time from RUNNING to
FINISHED (read from the JobManager's log), so the fixed costs (the session cluster's start,
loading the model) cancel out. The baseline is the same SavedModel called directly on the same rows in batches
of the same size, in this script.

    .venv/bin/python benchmarks/inference_flink.py [--small 20000] [--large 100000] [--planes jvm,python]

Each data plane is measured (``input.dataPlane``): jvm scores with TensorFlow Java inside the
Java operator, python with TF in PyFlink's Python worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
FEATURES, BATCH = 10, 128


def make_model(path: Path) -> None:
    import tensorflow as tf

    class Linear(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.linspace(-1, 1, FEATURES, dtype=np.float32).reshape(FEATURES, 1))

        @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="x")])
        def serve(self, x):
            return {"prediction": tf.squeeze(tf.matmul(x, self.w), axis=1)}

    m = Linear()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})


def write_rows(path: Path, x: np.ndarray) -> None:
    with open(path, "w") as f:
        f.write("id," + ",".join(f"f{i}" for i in range(FEATURES)) + "\n")
        for i, r in enumerate(x):
            f.write(f"{i}," + ",".join(f"{v:.6f}" for v in r) + "\n")


def flink_run(tmp: Path, rows: int, x: np.ndarray, plane: str) -> float:
    d = tmp / f"run{rows}-{plane}"
    (d / "data").mkdir(parents=True)
    write_rows(d / "data" / "rows.csv", x[:rows])
    doc = yaml.safe_load((REPO / "examples" / "inference" / "job.yaml").read_text())
    doc["spec"]["savedModel"].update(path=str(tmp / "model"), batchSize=BATCH)
    doc["spec"]["input"]["sources"][0]["csv"]["paths"] = ["data/rows.csv"]
    doc["spec"]["input"]["dataPlane"] = plane
    (d / "job.yaml").write_text(yaml.safe_dump(doc))
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "tfflink", "run", str(d / "job.yaml"), "--workdir", str(d / "wd")],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    del t0
    return job_seconds(d / "wd")


def job_seconds(workdir: Path) -> float:
    """RUNNING -> FINISHED of the job, from the JobManager's log (millisecond timestamps)."""
    import re
    from datetime import datetime

    [log] = list(workdir.glob("flink/log/flink-*-standalonesession-*.log"))
    stamps = {}
    for line in log.read_text().splitlines():
        m = re.match(r"(\S+ \S+) .*Job tfflink-\S+ \(\w+\) switched from state (\w+) to (\w+)", line)
        if m:
            stamps[m.group(3)] = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return (stamps["FINISHED"] - stamps["RUNNING"]).total_seconds()


def direct_rate(model_dir: Path, x: np.ndarray) -> float:
    import tensorflow as tf

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    batches = [tf.constant(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    fn(x=batches[0])  # warm up
    t0 = time.perf_counter()
    for b in batches:
        fn(x=b)["prediction"].numpy()
    return len(x) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--large", type=int, default=100000)
    ap.add_argument("--planes", default="jvm,python")
    args = ap.parse_args()
    x = np.random.default_rng(3).normal(size=(args.large, FEATURES)).astype(np.float32)
    rates = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        make_model(tmp / "model")
        for plane in args.planes.split(","):
            t_small = flink_run(tmp, args.small, x, plane)
            t_large = flink_run(tmp, args.large, x, plane)
            rates[plane] = (args.large - args.small) / (t_large - t_small)
            print(f"{plane}: Flink job time: {args.small} rows {t_small:.1f}s, {args.large} rows {t_large:.1f}s")
        direct = direct_rate(tmp / "model", x)
    print(f"direct SavedModel calls: {direct:,.0f} rows/s")
    for plane, rate in rates.items():
        print(f"inside Flink, {plane} plane (2 subtasks, marginal): {rate:,.0f} rows/s; ratio {rate / direct:.3f}")


if __name__ == "__main__":
    main()
