"""Submitting the TF-on-Flink program to a session cluster with the ``flink`` CLI.

PyFlink programs can only be submitted by the ``flink`` client (it runs the Python program to
build the job graph), so both backends go through here. Submission is detached: the job id
comes back at once and the job is observed over REST.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from ..errors import PermanentFailure, TemporaryFailure
from ..runtime.config import RuntimeConfig
from .local import pyflink_home

JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class SubmitError(TemporaryFailure):
    """The flink client could not submit the job; the message is its most telling line.

    Temporary: the JobManager may not have been ready, and the operator retries a failed
    submitter with a fresh cluster.
    """


class UnsafeWorkdir(PermanentFailure):
    """The client's work dir is not private to us: the same dir is refused again."""


def _reason(output: str) -> str:
    """The most telling line of the flink client's output."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for key in ("Caused by:", "Error:", "Exception:"):
        hits = [ln for ln in lines if key in ln]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else "no output"


def private_workdir(workdir: Path) -> None:
    """Create ``workdir`` (0700) or check an existing one is ours and nobody else can write it.

    The runtime config written there holds the submission's token; a directory another user
    prepared (a fixed path in a shared /tmp) could swap the files under us.
    """
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(workdir)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeWorkdir(f"work dir {workdir} is not a directory")
    if st.st_uid != os.geteuid():
        raise UnsafeWorkdir(f"work dir {workdir} belongs to another user (uid {st.st_uid}); use a private one")
    if st.st_mode & 0o022:
        raise UnsafeWorkdir(
            f"work dir {workdir} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}); use a private one"
        )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only we can read (it holds the token)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def submit(
    cfg: RuntimeConfig,
    *,
    flink_address: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    timeout: float = 180.0,
) -> str:
    """Submit ``cfg`` to the session cluster at ``flink_address``; return the Flink job id."""
    private_workdir(workdir)
    cfg_file = workdir / f"runtime-{cfg.submission}.json"
    _write_private(cfg_file, cfg.to_json())
    program = Path(__file__).resolve().parent.parent / "runtime" / "flink" / "flink_job.py"
    cmd = [
        str(pyflink_home() / "bin" / "flink"),
        "run",
        "-m",
        flink_address,
        "-d",
        "-pyexec",
        python,
        "-pyclientexec",
        python,
        "-py",
        str(program),
        "--config",
        str(cfg_file),
    ]
    run_env = dict(env if env is not None else os.environ)
    run_env.setdefault("FLINK_LOG_DIR", str(workdir))
    try:
        out = subprocess.run(
            cmd, env=run_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise SubmitError(f"flink run did not finish within {timeout:.0f}s") from None
    finally:
        cfg_file.unlink(missing_ok=True)  # it holds the token; the job graph has it now
    text = out.stdout + "\n" + out.stderr
    (workdir / f"submit-{cfg.submission}.log").write_text(text)
    m = JOB_ID.search(text)
    if out.returncode != 0 or not m:
        raise SubmitError(f"submitting to Flink at {flink_address} failed: {_reason(text)}")
    return m.group(1)
