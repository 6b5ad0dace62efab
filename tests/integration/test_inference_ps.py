"""Distributed inference with ps: a checkpoint from the batch linear example is loaded into the
ps, rows stream through 2 workers, one prediction per row matches direct TF evaluation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from tests.support.cli import run_job
from tests.support.jobs import REPO, copy_example

pytestmark = pytest.mark.flink


def test_checkpoint_in_ps_scores_every_row_like_direct_tf(tmp_path: Path) -> None:
    train = copy_example("linear", tmp_path / "train", properties={"steps": "60"})
    run = run_job(train, tmp_path / "wd-train", timeout=300)
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    ckpt = tmp_path / "train" / "ckpt"

    shutil.copytree(REPO / "examples" / "inference", tmp_path / "job")
    doc_path = tmp_path / "job" / "ps_job.yaml"
    doc = yaml.safe_load(doc_path.read_text())
    doc["spec"]["checkpointDir"] = str(ckpt)
    doc_path.write_text(yaml.safe_dump(doc))
    run = run_job(doc_path, tmp_path / "wd", timeout=300)
    assert run.returncode == 0, run.stderr + run.text[-3000:]

    got = {}
    for part in (tmp_path / "job" / "predictions-ps").glob("part-*.jsonl"):
        for line in part.read_text().splitlines():
            rec = json.loads(line)
            assert rec["id"] not in got
            got[rec["id"]] = rec["prediction"]
    data = np.loadtxt(tmp_path / "job" / "rows.csv", delimiter=",", skiprows=1, dtype=np.float32)
    assert sorted(got) == list(range(len(data))), "one prediction per input row"
    reader = tf.train.load_checkpoint(str(ckpt))
    expected = data[:, 1:] @ reader.get_tensor("w")[:, 0] + reader.get_tensor("b")[0]
    np.testing.assert_allclose([got[i] for i in range(len(data))], expected, rtol=1e-4, atol=1e-4)
