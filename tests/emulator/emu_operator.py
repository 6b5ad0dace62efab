"""The operator under test as a real process: ``python -m tfflink.operator`` against the stand-ins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from emu_standins import StandIns

from tests.support.net import free_port, http_get

ROOT = Path(__file__).resolve().parents[2]


class OperatorProcess:
    """``python -m tfflink.operator`` against the stand-ins; can be killed and restarted."""

    def __init__(self, standins: StandIns, kubeconfig: Path, log_dir: Path) -> None:
        self.standins, self.kubeconfig, self.log_dir = standins, kubeconfig, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        self.starts = 0
        self.log_path: Path | None = None

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"operator-{self.starts}.log"
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        cmd = [
            sys.executable,
            "-m",
            "tfflink.operator",
            "-A",
            "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz",
            "--metrics-port",
            str(self.metrics_port),
            "--flink-url-template",
            self.standins.flink_url_template(),
            "--poll-seconds",
            "0.3",
            "--watch-timeout",
            "60",
            "--log-format",
            "plain",
        ]
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: see {log.name}")
            try:
                http_get(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("operator did not become live in 30s")

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
