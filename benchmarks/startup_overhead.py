"""Startup overhead of tfflink run against the same TF program as plain processes.

Baseline: examples/linear started as 1 ps + 2 worker processes with a hand-written TF_CONFIG
(the node entry point, no Flink, no AM). Measured: wall time to the first training step and
total wall time, for both, in the same script; reported with their ratios.

    .venv/bin/python benchmarks/startup_overhead.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import STEP, example_copy, fmt, median, run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain_processes(job_dir: Path, props: dict[str, str]) -> dict[str, float]:
    """The baseline: start the nodes by hand, as one would without tfflink."""
    cluster = {"ps": [f"127.0.0.1:{free_port()}"], "worker": [f"127.0.0.1:{free_port()}" for _ in range(2)]}
    t0 = time.time()
    procs = {}
    first_step = None
    for role, addrs in cluster.items():
        for i, _ in enumerate(addrs):
            node = {
                "role": role,
                "index": i,
                "cluster": cluster,
                "version": 1,
                "properties": props,
                "checkpoint_dir": str(job_dir / "ckpt"),
                "job_name": "baseline",
                "entry_path": str(job_dir / "train.py"),
                "entry_module": None,
                "function": "map_func",
                "error_file": str(job_dir / f"err-{role}{i}"),
                "beat_file": str(job_dir / f"beat-{role}{i}"),
                "beat_interval": 1.0,
            }
            env = dict(
                os.environ,
                TFFLINK_NODE=json.dumps(node),
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": role, "index": i}}),
            )
            procs[(role, i)] = subprocess.Popen(
                [sys.executable, "-u", "-m", "tfflink.runtime.cluster.node_main"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
    out = procs[("worker", 0)].stdout
    assert out is not None
    for line in out:
        m = STEP.match(f"[worker-0] {line.strip()}")
        if m and first_step is None:
            first_step = float(m.group(2))
    for (role, _), p in procs.items():
        if role == "worker":
            p.wait()
    end = time.time()
    for (role, _), p in procs.items():
        if role == "ps":
            p.kill()
            p.wait()
    return {"first_step_s": (first_step or end) - t0, "total_s": end - t0}


def with_tfflink(job: Path, workdir: Path) -> dict[str, float]:
    t0 = time.time()
    rc, lines = run_cli(job, workdir)
    assert rc == 0, "\n".join(ln for _, ln in lines[-30:])
    steps = [float(m.group(2)) for _, ln in lines if (m := STEP.match(ln))]
    return {"first_step_s": min(steps) - t0, "total_s": time.time() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    props = {"steps": "400", "features": "10", "learning_rate": "0.05"}
    base, ours = [], []
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            job = example_copy(Path(tmp) / "plain")
            base.append(plain_processes(job.parent, props))
            job = example_copy(Path(tmp) / "tfflink")
            ours.append(with_tfflink(job, Path(tmp) / "wd"))
        print(f"run {r + 1}: plain {fmt(base[-1])} | tfflink {fmt(ours[-1])}", flush=True)
    b_first, o_first = median([x["first_step_s"] for x in base]), median([x["first_step_s"] for x in ours])
    b_total, o_total = median([x["total_s"] for x in base]), median([x["total_s"] for x in ours])
    print(f"median time to first step: plain {b_first:.1f}s, tfflink {o_first:.1f}s, ratio {o_first / b_first:.2f}x")
    print(f"median total wall time:    plain {b_total:.1f}s, tfflink {o_total:.1f}s, ratio {o_total / b_total:.2f}x")


if __name__ == "__main__":
    main()
