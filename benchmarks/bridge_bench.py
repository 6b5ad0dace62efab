"""Bridge and in-process inference throughput, as ratios against baselines in the same script.

    .venv/bin/python benchmarks/bridge_bench.py [--rows 200000] [--cols 100]

1. Rows/s from a producer process (the Flink operator's side: BridgeServer.put of row tuples)
   into tf.data in the consumer (TFContext.get_dataset path, batches of 256), against
   tf.data.Dataset.from_tensor_slices over the same rows in memory, batched the same.
2. Rows/s of the SavedModel operator's scoring path (ModelScorer.score on dict rows, batches
   of 256) against calling the same signature on pre-stacked tensors of the same batches.
Neither includes PyFlink's own per-record cost (about 35-50k rows/s here, DESIGN.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "operator"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 256


def consume(path: str, cols: int, out: mp.Queue) -> None:
    from tfflink.runtime.cluster.context import TFContext

    ctx = TFContext({"data_channel": path, "columns": [[f"c{i}", "float32"] for i in range(cols)], "properties": {}})
    t0, n = None, 0
    for b in ctx.get_dataset(batch_size=BATCH):
        t0 = t0 or time.perf_counter()
        n += int(b["c0"].shape[0])
    out.put((n, time.perf_counter() - (t0 or time.perf_counter())))
    ctx.close_input()


def bridge_rate(rows: int, cols: int) -> float:
    from tfflink.runtime.cluster.bridge import BridgeServer

    data = [tuple(r) for r in np.random.default_rng(0).normal(size=(rows, cols)).astype(np.float32).tolist()]
    path = os.path.join(tempfile.mkdtemp(), "b.sock")
    server = BridgeServer(path, alive=lambda: True)
    q: mp.Queue = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=consume, args=(path, cols, q))
    p.start()
    for r in data:
        server.put(r)
    server.end(timeout=120)
    n, secs = q.get(timeout=120)
    p.join(30)
    assert n == rows, (n, rows)
    return n / secs


def memory_rate(rows: int, cols: int) -> float:
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(rows, cols)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices({f"c{i}": x[:, i] for i in range(cols)}).batch(BATCH)
    t0, n = time.perf_counter(), 0
    for b in ds:
        n += int(b["c0"].shape[0])
    return n / (time.perf_counter() - t0)


def inference_rates(rows: int, features: int = 10) -> tuple[float, float]:
    import tensorflow as tf

    from tfflink.runtime.flink.inference import ModelScorer
    from tfflink.spec.io import Column, SavedModelSpec

    class Linear(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.ones((features, 1), np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, features], tf.float32, name="x")])
        def serve(self, x):
            return {"prediction": tf.squeeze(tf.matmul(x, self.w), axis=1)}

    m = Linear()
    d = tempfile.mkdtemp()
    tf.saved_model.save(m, d, signatures={"serving_default": m.serve})
    cols = [Column(name="id", type="int64")] + [Column(name=f"f{i}") for i in range(features)]
    scorer = ModelScorer(SavedModelSpec(path=d), d, cols, ["id"])
    x = np.random.default_rng(0).normal(size=(rows, features)).astype(np.float32)
    dict_rows = [{"id": i, **{f"f{j}": float(v) for j, v in enumerate(r)}} for i, r in enumerate(x)]
    t0 = time.perf_counter()
    for i in range(0, rows, BATCH):
        scorer.score(dict_rows[i : i + BATCH])
    op = rows / (time.perf_counter() - t0)
    fn = tf.saved_model.load(d).signatures["serving_default"]
    t0 = time.perf_counter()
    for i in range(0, rows, BATCH):
        fn(x=tf.constant(x[i : i + BATCH]))["prediction"].numpy()
    direct = rows / (time.perf_counter() - t0)
    return op, direct


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=100)
    a = ap.parse_args()
    b, m = bridge_rate(a.rows, a.cols), memory_rate(a.rows, a.cols)
    print(f"bridge -> tf.data ({a.cols} float32 cols): {b:,.0f} rows/s")
    print(f"from_tensor_slices in memory:             {m:,.0f} rows/s   ratio bridge/memory = {b / m:.2f}")
    op, direct = inference_rates(min(a.rows, 100_000))
    print(f"SavedModel operator path (dict rows):     {op:,.0f} rows/s")
    print(f"direct signature call on stacked batches: {direct:,.0f} rows/s   ratio operator/direct = {op / direct:.2f}")


if __name__ == "__main__":
    main()
