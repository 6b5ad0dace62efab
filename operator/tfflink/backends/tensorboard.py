"""TensorBoard beside ``tfflink run``: ``spec.tensorboard.logDir`` served on a loopback port.

TensorBoard comes with TensorFlow (the ``tensorboard`` package); it runs as a child process
of the CLI for the whole run (Flink restarts included) and is stopped with it. It listens on
127.0.0.1 only: what the summaries show is the user's, not the network's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..runtime.cluster.agent import free_port

READY_TIMEOUT = 120.0  # TensorBoard imports TensorFlow first: tens of seconds on a busy machine


class TensorBoard:
    """One TensorBoard process over ``log_dir``; its output goes to ``log_file``."""

    def __init__(self, log_dir: str, log_file: Path) -> None:
        self.log_dir = log_dir
        self.log_file = log_file
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        if "://" not in self.log_dir:  # TensorBoard reads gs:// and s3:// itself
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port("127.0.0.1")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            self.log_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--reload_interval",
            "5",
        ]
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )

    def ready(self) -> bool:
        """True once it answers HTTP."""
        try:
            with urllib.request.urlopen(self.url + "data/logdir", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def announce_when_ready(self, out: Callable[[str], None], stopped: threading.Event) -> threading.Thread:
        """Print its URL once it answers (or where its log is if it died), in the background."""

        def wait() -> None:
            deadline = READY_TIMEOUT
            while not stopped.wait(0.5) and self.proc is not None:
                if self.ready():
                    out(f"tfflink: TensorBoard at {self.url} (logDir {self.log_dir})")
                    return
                deadline -= 0.5
                if self.proc.poll() is not None or deadline <= 0:
                    out(f"tfflink: TensorBoard did not start; its log: {self.log_file}")
                    return

        thread = threading.Thread(target=wait, name="tensorboard-ready", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(wait)
                break
            except (ProcessLookupError, PermissionError):
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
