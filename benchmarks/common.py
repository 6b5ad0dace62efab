"""Shared by the runtime benchmarks: run ``tfflink run`` and timestamp its output lines."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
STEP = re.compile(r"^\[worker-\d\] step (\d+) time ([0-9.]+)")
START = re.compile(r"^\[worker-0\] start: global step (\d+) .* time ([0-9.]+)")


def example_copy(dest: Path, **properties: str) -> Path:
    """examples/linear copied into ``dest`` with its checkpoints there and extra properties."""
    shutil.copytree(REPO / "examples" / "linear", dest, dirs_exist_ok=True)
    job = dest / "job.yaml"
    doc = yaml.safe_load(job.read_text())
    doc["spec"]["checkpointDir"] = str(dest / "ckpt")
    doc["spec"]["properties"].update(properties)
    doc["spec"]["failover"].update({"heartbeatTimeoutSeconds": 5, "backoff": {"initialSeconds": 0.5}})
    job.write_text(yaml.safe_dump(doc))
    return job


def run_cli(
    job: Path, workdir: Path, on_line: Callable[[str, float], None] | None = None
) -> tuple[int, list[tuple[float, str]]]:
    """Run ``tfflink run``; returns the exit code and (arrival time, line) pairs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfflink", "run", str(job), "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.time()
        lines.append((now, line.rstrip()))
        if on_line:
            on_line(line.rstrip(), now)
    return proc.wait(), lines


def stream_job(name: str, out: Path, inp: dict[str, Any]) -> dict[str, Any]:
    """A stream job of one worker and no ps running ``entry.py``'s map_func beside its file."""
    return {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": name},
        "spec": {
            "mode": "stream",
            "entry": {"file": "entry.py", "function": "map_func"},
            "roles": {"worker": {"replicas": 1}, "ps": {"replicas": 0}},
            "checkpointDir": str(out),
            "input": inp,
        },
    }


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt(d: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def run_rate_job(d: Path, job: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run ``job`` from ``d`` (its entry.py writes out/rate.json): that report and the job's wall
    time; exits with the run's last lines if it failed."""
    (d / "job.yaml").write_text(yaml.safe_dump(job))
    (d / "out").mkdir()
    t0 = time.perf_counter()
    code, lines = run_cli(d / "job.yaml", d / "wd")
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"{d.name}: tfflink run failed ({code}):\n" + "\n".join(line for _, line in lines[-30:]))
    return json.loads((d / "out" / "rate.json").read_text()), wall
