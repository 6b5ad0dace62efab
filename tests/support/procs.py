"""Live processes: what a run left behind, and the finders of a run's own processes (the
failover tests and benchmarks/failover_recovery.py kill them)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose environment or command line contains ``text`` (leak check)."""
    found = []
    needle = text.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            stat = (d / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                continue
            if needle in (d / "environ").read_bytes() or needle in (d / "cmdline").read_bytes():
                found.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]))
        except OSError:
            continue
    return found


def assert_nothing_left(where: Path) -> None:
    """No live process mentions ``where`` (a run's dir) within 10 s."""
    deadline = time.monotonic() + 10
    while (left := processes_mentioning(str(where))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"processes left behind: {left}"


def pid_where(where: Path, *needles: str) -> int:
    """The one live process mentioning ``where`` whose cmdline/environ holds every needle."""
    for pid, _ in processes_mentioning(str(where)):
        try:
            blob = Path(f"/proc/{pid}/environ").read_bytes() + Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if all(n.encode() in blob for n in needles):
            return pid
    raise AssertionError(f"no process with {needles} under {where}")


def node_pid(where: Path, role: str, index: int) -> int:
    """TF node ``role``-``index`` (its environment names the job's dirs and the run's)."""
    return pid_where(where, "tfflink.runtime.cluster.node_main", f'"role": "{role}", "index": {index},')


def am_pid(workdir: Path) -> int:
    """The AM of the run with this ``--workdir``, as its /status reports itself."""
    rdv = next(workdir.glob("rendezvous-*/am.json"))
    address = json.loads(rdv.read_text())["address"]
    with urllib.request.urlopen(f"http://{address}/status", timeout=5) as r:
        return int(json.loads(r.read())["pid"])


# Each finds its victim among the live processes that mention the directory it is given (a TF
# node's environment names the job's checkpoint dir, the Flink processes their work dir).
VICTIMS: dict[str, Callable[[Path], int]] = {
    "worker-node": lambda wd: node_pid(wd, "worker", 1),
    "ps-node": lambda wd: node_pid(wd, "ps", 0),
    "am": am_pid,
    "taskmanager": lambda wd: pid_where(wd, "TaskManagerRunner"),
    "jobmanager": lambda wd: pid_where(wd, "StandaloneSessionClusterEntrypoint"),
}
