"""The ``tfflink`` command line as a user runs it: one command (``tfflink``), or a whole
``tfflink run`` watched line by line as it prints (``run_job``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TFFLINK = [sys.executable, "-m", "tfflink"]


def tfflink(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would."""
    return subprocess.run(
        [*TFFLINK, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=dict(os.environ)
    )


def sigint_default() -> None:
    """``preexec_fn`` for a CLI a test interrupts: SIGINT as a terminal gives it. A runner that
    starts the suite in the background (``cmd &``) leaves SIGINT ignored, and Python then never
    turns it into KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


SUBMITTED = re.compile(r"submitted Flink job ([0-9a-f]{32}) \(web UI: http://([^)]+)\)")


@dataclass
class CliRun:
    """A finished ``tfflink run``: exit code, output and the --status-file contents."""

    returncode: int
    stdout: list[str]
    stderr: str
    status: dict[str, Any] = field(default_factory=dict)
    flink: tuple[str, str] | None = None  # (job id, REST address) of the last submission

    @property
    def text(self) -> str:
        return "\n".join(self.stdout)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM first, once: ``tfflink run`` then tears its Flink cluster down (a SIGKILL would
    leave the JobManager and TaskManager running); SIGKILL only if it does not exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_job(
    job: Path,
    workdir: Path,
    on_line: Callable[[str, subprocess.Popen[str], CliRun], None] | None = None,
    timeout: float = 400,
    flink_address: str | None = None,
) -> CliRun:
    """Run the CLI to completion; ``on_line`` sees every stdout line as it appears.
    ``flink_address``: submit to that session cluster (``--flink-address``), start none."""
    status_file = workdir / "status.json"
    result = CliRun(returncode=-1, stdout=[], stderr="")
    err_chunks: list[str] = []
    with subprocess.Popen(
        [
            *TFFLINK,
            "run",
            str(job),
            "--workdir",
            str(workdir),
            "--status-file",
            str(status_file),
            *(["--flink-address", flink_address] if flink_address else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        preexec_fn=sigint_default,  # noqa: PLW1509  (the child's signal state only; no threads touched)
    ) as proc:
        timer = threading.Timer(timeout, _stop, (proc,))
        timer.start()
        err_thread = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
        err_thread.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                result.stdout.append(line)
                m = SUBMITTED.search(line)
                if m:
                    result.flink = (m.group(1), m.group(2))
                if on_line:
                    on_line(line, proc, result)
            result.returncode = proc.wait()
        finally:
            timer.cancel()
            if timer.is_alive():  # it fired: let its one SIGTERM finish
                timer.join()
            _stop(proc)
            err_thread.join(5)
    result.stderr = "".join(err_chunks)
    if status_file.exists():
        result.status = json.loads(status_file.read_text())
    return result
