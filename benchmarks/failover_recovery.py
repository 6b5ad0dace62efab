"""Recovery time after a kill -9: from the kill to the restarted cluster's first training step.

Scenarios: a TF worker node process (the AM restarts the TF cluster inside the running Flink
job) and the TaskManager JVM (a fresh Flink session cluster and a resubmission). Reported
next to the clean run's time per training step, measured in the same runs before the kill.

    .venv/bin/python benchmarks/failover_recovery.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from common import START, STEP, example_copy, median, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.procs import VICTIMS  # the same process finders as the tests


def one_run(victim: str, tmp: Path) -> tuple[float, float]:
    job = example_copy(tmp / "job", steps="900", step_delay="0.02")
    workdir = tmp / "wd"
    killed_at: list[float] = []
    steps: list[tuple[int, float]] = []

    def on_line(line: str, now: float) -> None:
        m = STEP.match(line)
        if m and not killed_at:
            steps.append((int(m.group(1)), float(m.group(2))))
            if int(m.group(1)) >= 300:
                os.kill(VICTIMS[victim](workdir), signal.SIGKILL)
                killed_at.append(now)

    rc, lines = run_cli(job, workdir, on_line)
    assert rc == 0 and killed_at, "\n".join(ln for _, ln in lines[-30:])
    # the restarted cluster's first step: worker-0's first "start:" line printed after the kill
    restarted = [t for _, ln in lines if (m := START.match(ln)) and (t := float(m.group(2))) > killed_at[0]]
    (s0, t0), (s1, t1) = steps[0], steps[-1]
    step_time = (t1 - t0) / max(1, s1 - s0)
    return restarted[0] - killed_at[0], step_time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for victim in ("worker-node", "taskmanager"):
        rec, step = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                r, s = one_run(victim, Path(tmp))
            rec.append(r)
            step.append(s)
            print(f"{victim}: recovery {r:.1f}s, clean step {s * 1000:.1f}ms", flush=True)
        print(
            f"{victim}: median recovery {median(rec):.1f}s over {args.repeat} runs = "
            f"{median(rec) / median(step):.0f}x the clean step time ({median(step) * 1000:.1f}ms)",
            flush=True,
        )


if __name__ == "__main__":
    main()
