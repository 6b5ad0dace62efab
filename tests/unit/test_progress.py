"""``context.report`` and the Keras callback: what a node writes is what its agent sends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfflink.runtime.cluster.context import TFContext
from tfflink.runtime.cluster.progress import Progress, ProgressFile


def context(tmp_path: Path) -> TFContext:
    node = {"role": "worker", "index": 0, "cluster": {"worker": ["h:1"]}, "progress_file": str(tmp_path / "p")}
    return TFContext(node)


def test_a_report_reaches_the_agent_once_per_change(tmp_path: Path) -> None:
    ctx, seen = context(tmp_path), ProgressFile(tmp_path / "p")
    assert seen.take() is None, "nothing reported yet"
    ctx.report(np.int64(7), checkpoint_step=5, loss=np.float32(0.5), accuracy=1)
    assert seen.take() == Progress(step=7, metrics={"loss": 0.5, "accuracy": 1.0}, checkpoint_step=5)
    assert seen.take() is None, "the same report is sent once"
    ctx.report(8, loss=0.25)
    assert seen.take() == Progress(step=8, metrics={"loss": 0.25})


@pytest.mark.parametrize(
    ("args", "metrics", "message"),
    [
        ((-1,), {}, "step: must be an integer"),
        ((1.5,), {}, "step, checkpoint_step must be integers"),
        ((1,), {"loss": float("nan")}, "metrics.loss: must be finite"),
        ((1,), {"loss": "low"}, "metrics numbers"),
        ((1,), {f"m{i}": 1.0 for i in range(17)}, "at most 16"),
    ],
)
def test_a_bad_report_raises_in_the_users_code_and_writes_nothing(
    tmp_path: Path, args: tuple[object, ...], metrics: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        context(tmp_path).report(*args, **metrics)
    assert not (tmp_path / "p").exists()


def test_a_metric_name_that_is_no_identifier_goes_through_report_metrics(tmp_path: Path) -> None:
    context(tmp_path).report_metrics(3, {"val/loss": 1.0})
    assert ProgressFile(tmp_path / "p").take() == Progress(step=3, metrics={"val/loss": 1.0})
    with pytest.raises(ValueError, match="must match"):
        context(tmp_path).report_metrics(3, {"\x1b[31m": 1.0})


def test_keras_callback_reports_the_optimizer_step_and_the_loss(tmp_path: Path) -> None:
    """A real (tiny) ``model.fit`` in a fresh process, as in a node: TF stays out of this one."""
    script = textwrap.dedent(f"""
        import numpy as np, keras
        from tfflink.tf import ProgressCallback, TFContext  # the path user code imports
        ctx = TFContext({{"role": "worker", "index": 0, "cluster": {{}}, "progress_file": {str(tmp_path / "p")!r}}})
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        x = np.ones((40, 3), "float32")
        model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0, callbacks=[ProgressCallback(ctx)])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = ProgressFile(tmp_path / "p").take()
    assert got is not None and got.step == 10, got  # 2 epochs of 5 batches
    assert set(got.metrics) >= {"loss", "mae"}
