"""Fixtures of the emulator tier: Kubernetes API and Flink REST stand-ins, and the operator.

The stand-ins (:mod:`kube_standin`, :class:`harness.FlinkStandIn`) run in this process over
real HTTP; the operator runs as a real process (``python -m tfflink.operator``: kopf, the
official kubernetes client) pointed at them by a kubeconfig. This tier checks the operator's
behaviour against an API *stand-in*, not a real API server (that tier is separate).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from harness import StandIns

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.emulator)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the tail of the operator's log: it says what the operator saw."""
    outcome = yield
    report = outcome.get_result()
    op = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(op, OperatorProcess) and op.log_path is not None:
        lines = op.log_path.read_text(errors="replace").splitlines()[-80:]
        report.sections.append(("operator log (tail)", "\n".join(lines)))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """``python -m tfflink.operator`` against the stand-ins; can be killed and restarted."""

    def __init__(self, standins: StandIns, kubeconfig: Path, log_dir: Path) -> None:
        self.standins, self.kubeconfig, self.log_dir = standins, kubeconfig, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.liveness_port = _free_port()
        self.metrics_port = _free_port()
        self.starts = 0
        self.log_path: Path | None = None

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"operator-{self.starts}.log"
        log = open(self.log_path, "wb")
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        cmd = [
            sys.executable, "-m", "tfflink.operator", "-A",
            "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
            "--metrics-port", str(self.metrics_port),
            "--flink-url-template", self.standins.flink_url_template(),
            "--poll-seconds", "0.3", "--watch-timeout", "60", "--log-format", "plain",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: see {log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1).read()
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


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    s = StandIns().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def kubeconfig(standins: StandIns, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return standins.kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture(scope="session")
def operator(standins: StandIns, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    op = OperatorProcess(standins, kubeconfig, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    op.stop()


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(str(kubeconfig))


@pytest.fixture
def ns() -> str:
    """A fresh namespace name per test (the stand-in needs no Namespace object)."""
    return f"t-{uuid.uuid4().hex[:8]}"
