"""The library API inside a user's own PyFlink program (run on Flink's local mini cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.jobs import MAKE_MODEL

pytestmark = pytest.mark.flink

PROGRAM = """
import json, sys
import numpy as np
from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
import tfflink.api as tfflink

model, rows = sys.argv[1], int(sys.argv[2])
conf = Configuration()
conf.set_string("taskmanager.numberOfTaskSlots", "4")
env = StreamExecutionEnvironment.get_execution_environment(conf)
env.set_python_executable(sys.executable)
env.set_parallelism(1)

def features(n):
    rng = np.random.default_rng(int(n))
    return {"id": int(n), **{f"f{i}": float(v) for i, v in enumerate(rng.normal(size=4))}}

stream = env.from_source(NumberSequenceSource(0, rows - 1), WatermarkStrategy.no_watermarks(), "mine") \\
    .map(features, output_type=Types.PICKLED_BYTE_ARRAY())
job = {"apiVersion": "tfflink.dev/v1alpha1", "kind": "TFFlinkJob", "metadata": {"name": "api"},
       "spec": {"mode": "inference",
                "roles": {"worker": {"replicas": 2}},
                "savedModel": {"path": model, "batchSize": 32},
                "input": {"sources": [{"name": "unused", "generated": {"rows": 1}, "columns": [{"name": "id", "type": "int64"}] + [{"name": f"f{i}"} for i in range(4)]}]},
                "output": {"path": "unused", "keep": ["id"]}}}
preds = tfflink.inference(stream, job, output_type=Types.ROW_NAMED(["id", "prediction"], [Types.LONG(), Types.FLOAT()]))
joined = preds.map(lambda r: json.dumps([r.id, r.prediction]), output_type=Types.STRING())
with joined.execute_and_collect() as results:
    for line in results:
        print("RESULT", line)
"""


def test_library_inference_returns_a_stream_of_rows_matching_direct_tf(tmp_path: Path) -> None:
    model = tmp_path / "model"
    made = subprocess.run(
        [sys.executable, "-c", MAKE_MODEL.format(f=4), str(model)], capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(model), "200"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    lines = [json.loads(ln.split(" ", 1)[1]) for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-3000:]
    got = dict(lines)
    assert sorted(got) == list(range(200))
    w = np.arange(1, 5, dtype=np.float32) / 10
    for n, pred in got.items():
        x = np.random.default_rng(n).normal(size=4).astype(np.float32)
        assert abs(pred - (float(x @ w) + 0.25)) < 1e-5
