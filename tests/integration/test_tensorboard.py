"""TensorBoard as ``tfflink run`` starts it: a real TensorBoard serving a real summary file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tfflink.backends.tensorboard import TensorBoard

pytestmark = pytest.mark.timeout(300)

WRITE = """
import sys, tensorflow as tf
w = tf.summary.create_file_writer(sys.argv[1])
with w.as_default():
    for step in range(5):
        tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
w.flush()
"""


def test_tensorboard_serves_the_log_dirs_scalars_on_loopback_and_stops(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    out = subprocess.run(
        [sys.executable, "-c", WRITE, str(logs / "train")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tb = TensorBoard(str(logs), tmp_path / "tensorboard.log")
    tb.start()
    try:
        assert tb.url.startswith("http://127.0.0.1:")
        tags: dict[str, object] = {}
        deadline = time.monotonic() + 120
        while "train" not in tags and time.monotonic() < deadline:
            time.sleep(1)
            try:
                with urllib.request.urlopen(tb.url + "data/plugin/scalars/tags", timeout=5) as resp:
                    tags = json.loads(resp.read())
            except OSError:
                assert tb.proc is not None and tb.proc.poll() is None, (tmp_path / "tensorboard.log").read_text()
        assert "loss" in tags.get("train", {}), tags
    finally:
        proc = tb.proc
        tb.stop()
    assert proc is not None and proc.poll() is not None, "stopped with the run"
    assert not tb.ready()
