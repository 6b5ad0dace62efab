"""``spec.mode: stream``: two joined sources, a feature step, 2 workers + 1 ps fed over the bridge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.runner import run_job

pytestmark = pytest.mark.flink


def test_stream_example_consumes_every_joined_row_once_and_loss_falls(tmp_path: Path) -> None:
    job = copy_example("stream_train", tmp_path / "job")
    run = run_job(job, tmp_path / "wd", timeout=400)
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    assert run.status["phase"] == "Succeeded"

    reports = [json.loads((tmp_path / "job" / "ckpt" / f"worker-{i}.json").read_text()) for i in (0, 1)]
    # 4000 users joined with 4000 events on id: 4000 samples, each consumed by exactly one worker.
    assert sum(r["rows"] for r in reports) == 4000, reports
    assert all(r["rows"] > 0 for r in reports), "both workers got rows"
    for r in reports:
        assert max(r["last_losses"]) < 0.2 * r["first_loss"], r
