"""``spec.mode: inference``: a SavedModel scores CSV rows inside a real Flink job (no TF cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.support.cli import run_job
from tests.support.jobs import MAKE_MODEL, REPO

pytestmark = pytest.mark.flink

FEATURES = 4

DIRECT = """
import sys, json, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
x = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, dtype=np.float32)[:, 1:]
print(json.dumps(m.signatures["serving_default"](x=tf.constant(x))["prediction"].numpy().tolist()))
"""


def write_rows(path: Path, rows: int, bad: dict[int, str] | None = None) -> None:
    x = np.random.default_rng(3).normal(size=(rows, FEATURES))
    lines = ["id," + ",".join(f"f{i}" for i in range(FEATURES))]
    lines += [f"{i}," + ",".join(f"{v:.5f}" for v in r) for i, r in enumerate(x)]
    for i, text in (bad or {}).items():
        lines[i] = text  # index 0 is the header: data row k is file line k + 1
    path.write_text("\n".join(lines) + "\n")


def inference_job(tmp: Path, *, on_error: str = "fail", fmt: str = "jsonl", max_restarts: int = 3) -> Path:
    doc = yaml.safe_load((REPO / "examples" / "inference" / "job.yaml").read_text())
    spec = doc["spec"]
    spec["savedModel"]["path"] = str(tmp / "model")
    spec["savedModel"]["batchSize"] = 64
    src = spec["input"]["sources"][0]
    src["csv"]["paths"] = ["data/*.csv"]
    src["columns"] = [{"name": "id", "type": "int64"}] + [{"name": f"f{i}"} for i in range(FEATURES)]
    spec["input"]["onError"] = on_error
    spec["output"]["format"] = fmt
    spec["failover"] = {"maxRestarts": max_restarts}
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def results(out_dir: Path) -> dict[int, float]:
    got: dict[int, float] = {}
    for part in sorted(out_dir.glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            rec = json.loads(line)
            assert rec["id"] not in got, f"duplicate result for id {rec['id']}"
            got[rec["id"]] = rec["prediction"]
    return got


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("model")
    out = subprocess.run(
        [sys.executable, "-c", MAKE_MODEL.format(f=FEATURES), str(d / "model")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return d / "model"


def test_saved_model_scores_every_csv_row_like_direct_tf(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "data").mkdir()
    write_rows(tmp_path / "data" / "a.csv", 300)
    (tmp_path / "model").symlink_to(model_dir)
    run = run_job(inference_job(tmp_path), tmp_path / "wd", timeout=300)
    assert run.returncode == 0, run.stderr + run.text[-3000:]

    got = results(tmp_path / "predictions")
    assert sorted(got) == list(range(300)), "one result per input row, keyed by id"
    assert not list((tmp_path / "predictions").glob("*.inprogress"))
    direct = subprocess.run(
        [sys.executable, "-c", DIRECT, str(model_dir), str(tmp_path / "data" / "a.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert direct.returncode == 0, direct.stderr
    expected = json.loads(direct.stdout)
    np.testing.assert_allclose([got[i] for i in range(300)], expected, rtol=1e-5, atol=1e-5)


def test_malformed_rows_fail_with_position_or_are_skipped(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "data").mkdir()
    write_rows(tmp_path / "data" / "a.csv", 50, bad={5: "4,1.0,2.0", 9: "8,1.0,oops,3.0,4.0"})
    (tmp_path / "model").symlink_to(model_dir)

    run = run_job(inference_job(tmp_path, on_error="skip"), tmp_path / "wd-skip", timeout=300)
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    assert sorted(results(tmp_path / "predictions")) == [i for i in range(50) if i not in (4, 8)]

    # A malformed row is bad data: the run fails at once (restarts would fail the same way)
    # and the CLI's one-line reason names the row's position.
    fail = run_job(inference_job(tmp_path, on_error="fail", max_restarts=2), tmp_path / "wd-fail", timeout=300)
    assert fail.returncode == 1 and "Failed" in fail.stderr
    assert "MalformedRow: " in fail.stderr and "a.csv:6: expected 5 columns, got 3" in fail.stderr, fail.stderr
    assert "(not retried)" in fail.stderr and fail.status["restarts"] == 0
