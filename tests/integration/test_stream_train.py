"""``spec.mode: stream``: two joined CSV sources, a feature step, 2 workers + 1 ps.

The example runs on the JVM data plane (Java readers, the join in Flink state, typed column
batches to each worker, the feature step on numpy batches inside the workers); the same job on
``dataPlane: python`` with the per-row feature step covers PyFlink's path. Both must hand every
joined row to exactly one worker, with its int64 id (above 2^53) exact, and the loss must fall.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_job
from tests.support.jobs import copy_example
from tfflink.runtime.flink.jars import DATAPLANE_JAR

pytestmark = pytest.mark.flink
IDS = {2**60 + n for n in range(4000)}


def _check(job_dir: Path, run) -> None:
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    assert run.status["phase"] == "Succeeded"
    reports = [json.loads((job_dir / "ckpt" / f"worker-{i}.json").read_text()) for i in (0, 1)]
    seen = [i for r in reports for i in r["ids"]]
    assert len(seen) == len(IDS) and set(seen) == IDS, "every joined row once, its id exact"
    assert all(r["rows"] > 0 for r in reports), "both workers got rows"
    for r in reports:
        assert max(r["last_losses"]) < 0.2 * r["first_loss"], r


@pytest.mark.skipif(not DATAPLANE_JAR.is_file(), reason=f"{DATAPLANE_JAR} not built (make jars)")
def test_stream_example_on_the_jvm_plane_trains_on_every_joined_row_once(tmp_path: Path) -> None:
    job = copy_example("stream_train", tmp_path / "job")
    run = run_job(job, tmp_path / "wd", timeout=400)
    _check(tmp_path / "job", run)
    assert "data plane: python" not in run.text, "the example must take the JVM path"


def test_stream_example_on_the_python_plane_with_a_per_row_step(tmp_path: Path) -> None:
    import yaml

    src = yaml.safe_load((Path(__file__).parents[2] / "examples/stream_train/job.yaml").read_text())
    inp = {**src["spec"]["input"], "dataPlane": "python", "process": {"file": "features.py", "function": "build"}}
    job = copy_example("stream_train", tmp_path / "job", input=inp)
    _check(tmp_path / "job", run_job(job, tmp_path / "wd", timeout=400))
