"""Stream mode flow control on a real Flink job: a slow TF reader slows the source down (and
still gets every row); a reader that stops early ends the job cleanly. On the JVM plane, the
rows it never read (late) and the malformed rows ``onError: skip`` left out are counted in the
status and the CLI's summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_job
from tests.support.jobs import job_doc

pytestmark = pytest.mark.flink

ROWS = 20_000
MALFORMED = ["1_000,0.5", "7,x", "9223372036854775808,1.0"]  # odd literal, not a number, over int64

CODE = """
import json, time
def map_func(context):
    how = context.get_property("how")
    rows, t0 = 0, time.time()
    for batch in context.get_batches(batch_size=500):
        rows += len(batch["id"])
        if how == "early":
            break
        time.sleep(0.05)  # ~10k rows/s: slower than the source
    json.dump({"rows": rows, "seconds": time.time() - t0}, open(context.get_property("out"), "w"))
"""


def stream_job(tmp: Path, how: str, plane: str = "python") -> dict:
    if plane == "jvm":  # the JVM plane reads CSV files; a few malformed rows among them
        lines = [f"{i},{i / 7:.4f}" for i in range(ROWS)]
        for k, bad in enumerate(MALFORMED):
            lines.insert(1 + k * ROWS // 4, bad)
        (tmp / "rows.csv").write_text("\n".join(lines) + "\n")
        source = {"name": "rows", "csv": {"paths": [str(tmp / "rows.csv")]}}
    else:
        source = {"name": "gen", "generated": {"rows": ROWS}}
    return job_doc(
        mode="stream",
        properties={"how": how, "out": str(tmp / "result.json")},
        input={
            "dataPlane": plane,
            "onError": "skip",
            "sources": [{**source, "columns": [{"name": "id", "type": "int64"}, {"name": "x"}]}],
        },
        failover={"maxRestarts": 0},
    )


@pytest.mark.parametrize(("how", "plane"), [("slow", "python"), ("early", "python"), ("slow", "jvm"), ("early", "jvm")])
def test_slow_reader_gets_every_row_and_early_stop_ends_cleanly(
    tmp_path: Path, write_job, how: str, plane: str
) -> None:
    job = write_job(stream_job(tmp_path, how, plane), code=CODE)
    run = run_job(job, tmp_path / "wd", timeout=300)
    assert run.returncode == 0, run.stderr + run.text[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    if how == "slow":
        assert result["rows"] == ROWS and result["seconds"] > 1.5, result
    else:
        assert 0 < result["rows"] < ROWS, result
    if plane == "jvm":
        rows = run.status["rows"]
        assert rows["malformed"] == len(MALFORMED), rows
        assert rows["sent"] >= result["rows"], rows
        # Late: the rows the worker never took from the channel (sent and unread, or never sent).
        late = rows.get("late", 0)
        assert (0 < late <= ROWS - result["rows"]) if how == "early" else late == 0, rows
        assert f"{len(MALFORMED)} malformed (skipped)" in run.text
