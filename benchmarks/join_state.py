"""Two-source join on the JVM plane: its state lives in Flink, so Python's memory stays flat.

    .venv/bin/python benchmarks/join_state.py [--small 100000] [--large 1000000]

Two CSV sources of N rows each, joined on an int64 key (the right side shuffled), feed one worker
that counts the joined rows. While each job runs, the resident memory of its processes is
sampled (/proc, every 0.2 s): the Python ones (PyFlink's workers, the AM, the TF node) and the
JVMs (where the join's state lives). The baseline is the same job with N = --small: the ratio
large/small of the Python processes' peak RSS should stay near 1 while rows grow 10x.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import stream_job

ENTRY = """
import json, os

def map_func(context):
    n = 0
    for b in context.get_batches(batch_size=4096):
        n += len(b["id"])
    with open(os.path.join(context.get_checkpoint_dir(), "rows.json"), "w") as f:
        json.dump({"rows": n}, f)
"""


def write_sources(d: Path, n: int) -> None:
    rng = random.Random(5)
    ids = list(range(n))
    (d / "left.csv").write_text("".join(f"{2**60 + i},{i % 97}\n" for i in ids))
    rng.shuffle(ids)
    (d / "right.csv").write_text("".join(f"{2**60 + i},{i % 89}.5\n" for i in ids))


def rss_by_kind(workdir: Path) -> dict[str, int]:
    """Resident bytes of this run's Flink processes and their children (whose environment
    names the run's Flink configuration directory), by kind."""
    out = {"python": 0, "java": 0}
    needle = f"FLINK_CONF_DIR={workdir / 'flink' / 'conf'}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            exe = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            rss_pages = int((d / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kind = "java" if exe.endswith("java") else "python" if "python" in exe else None
        if kind:
            out[kind] += rss_pages * os.sysconf("SC_PAGE_SIZE")
    return out


def run(tmp: Path, n: int) -> dict[str, float]:
    d = tmp / f"join{n}"
    (d / "out").mkdir(parents=True)
    write_sources(d, n)
    (d / "entry.py").write_text(ENTRY)
    left = {
        "name": "left",
        "csv": {"paths": ["left.csv"]},
        "columns": [{"name": "id", "type": "int64"}, {"name": "a", "type": "int32"}],
    }
    right = {
        "name": "right",
        "csv": {"paths": ["right.csv"]},
        "columns": [{"name": "id", "type": "int64"}, {"name": "b"}],
    }
    job = stream_job("join-bench", d / "out", {"dataPlane": "jvm", "sources": [left, right], "join": {"key": "id"}})
    (d / "job.yaml").write_text(yaml.safe_dump(job))
    peak = {"python": 0, "java": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            for k, v in rss_by_kind(d / "wd").items():
                peak[k] = max(peak[k], v)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    env = dict(os.environ)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "tfflink", "run", str(d / "job.yaml"), "--workdir", str(d / "wd")],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    if r.returncode != 0:
        sys.exit(f"join of {n}: tfflink run failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    rows = json.loads((d / "out" / "rows.json").read_text())["rows"]
    assert rows == n, (rows, n)
    mib = {k: v / 2**20 for k, v in peak.items()}
    print(
        f"join {n} x {n}: {rows} joined rows, {wall:.0f} s; peak RSS python {mib['python']:.0f} MiB, "
        f"JVMs {mib['java']:.0f} MiB",
        flush=True,
    )
    return mib


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tfflink-join-") as tmp:
        small = run(Path(tmp), a.small)
        large = run(Path(tmp), a.large)
    print(
        f"rows x{a.large / a.small:.0f}: python peak RSS ratio {large['python'] / small['python']:.2f}, "
        f"JVM peak RSS ratio {large['java'] / small['java']:.2f}"
    )


if __name__ == "__main__":
    main()
