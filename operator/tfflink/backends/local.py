"""A real Flink session cluster on this machine, from the PyFlink distribution.

``tfflink run`` (the embedded default) starts one JobManager and one TaskManager JVM with a
private config dir, free ports and enough slots for every TF node, and tears them down again.
Every process it starts carries ``TFFLINK_RUN_ID`` in its environment (inherited by Flink's
Python workers and the TF node processes), so ``kill_tagged`` can sweep up anything left.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.cluster.agent import free_port
from ..runtime.flink.jars import lib_dir
from ..spec import FlinkSpec
from ..spec.quantity import flink_memory
from .flink_conf import write_conf_dir
from .flink_rest import FlinkRest, FlinkUnreachable

log = logging.getLogger(__name__)

RUN_ID_ENV = "TFFLINK_RUN_ID"


def pyflink_home() -> Path:
    """Directory of the installed PyFlink distribution (bin/, lib/, conf/)."""
    import pyflink  # only the local backend needs PyFlink

    return Path(pyflink.__file__).resolve().parent


def flink_configuration(*, spec: FlinkSpec, slots: int, ports: dict[str, int], python: str) -> dict[str, str]:
    """The session cluster's config.yaml as flat keys; the user's keys win."""
    conf = {
        "jobmanager.rpc.address": "localhost",
        "jobmanager.bind-host": "localhost",
        "jobmanager.rpc.port": str(ports["rpc"]),
        "jobmanager.memory.process.size": flink_memory(spec.job_manager.memory),
        "taskmanager.host": "localhost",
        "taskmanager.bind-host": "localhost",
        "taskmanager.rpc.port": str(ports["tm_rpc"]),
        "taskmanager.data.port": str(ports["tm_data"]),
        "taskmanager.numberOfTaskSlots": str(spec.task_slots or slots),
        "taskmanager.memory.process.size": flink_memory(spec.task_manager.memory),
        "rest.address": "localhost",
        "rest.bind-address": "localhost",
        "rest.port": str(ports["rest"]),
        "blob.server.port": str(ports["blob"]),
        "parallelism.default": "1",
        "python.executable": python,
        "python.client.executable": python,
        # A lost TaskManager must be noticed in seconds, not Flink's default 50 s.
        "heartbeat.interval": "2000",
        "heartbeat.timeout": "10000",
        # Failover is ours (full restart); Flink must not restart tasks on its own.
        "restart-strategy.type": "none",
    }
    conf.update(spec.configuration)
    return conf


def _write_conf(conf_dir: Path, conf: dict[str, str]) -> None:
    write_conf_dir(conf_dir, defaults_dir=pyflink_home() / "conf", overrides=conf)


@dataclass
class LocalFlinkCluster:
    """One JobManager + one TaskManager process on this machine."""

    workdir: Path
    spec: FlinkSpec
    slots: int
    run_id: str
    python: str = sys.executable
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def rest_address(self) -> str:
        return f"localhost:{self.ports['rest']}"

    @property
    def rest(self) -> FlinkRest:
        return FlinkRest(self.rest_address)

    def env(self) -> dict[str, str]:
        """Environment of every process of this cluster (tagged with the run id)."""
        env = dict(os.environ)
        env.update(
            FLINK_CONF_DIR=str(self.workdir / "conf"),
            FLINK_LIB_DIR=str(self.workdir / "lib"),  # Flink's lib/ + the JVM data plane's jars
            FLINK_LOG_DIR=str(self.workdir / "log"),
            TFFLINK_NODE_HOST="127.0.0.1",
            PYTHONUNBUFFERED="1",
        )
        env[RUN_ID_ENV] = self.run_id
        # The venv's bin first, so Flink's python launcher finds our interpreter.
        env["PATH"] = str(Path(self.python).parent) + os.pathsep + env.get("PATH", "")
        return env

    def start(self, timeout: float = 90.0) -> None:
        """Start both JVMs and wait until REST reports every slot; raise on failure."""
        self.ports = {k: free_port("127.0.0.1") for k in ("rest", "rpc", "tm_rpc", "tm_data", "blob")}
        conf = flink_configuration(spec=self.spec, slots=self.slots, ports=self.ports, python=self.python)
        _write_conf(self.workdir / "conf", conf)
        lib_dir(pyflink_home(), self.workdir / "lib")
        (self.workdir / "log").mkdir(parents=True, exist_ok=True)
        bin_dir = pyflink_home() / "bin"
        for name, script in (("jobmanager", "jobmanager.sh"), ("taskmanager", "taskmanager.sh")):
            with open(self.workdir / "log" / f"{name}.out", "wb") as out:  # the child keeps its own copy
                self.procs[name] = subprocess.Popen(
                    ["bash", str(bin_dir / script), "start-foreground"],
                    env=self.env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Block until the TaskManager has registered all its slots."""
        deadline = time.monotonic() + timeout
        want = int(self.spec.task_slots or self.slots)
        while time.monotonic() < deadline:
            dead = self.dead_process()
            if dead:
                raise RuntimeError(f"Flink {dead} exited during start-up; see {self.workdir}/log")
            try:
                if int(self.rest.overview().get("slots-total", 0)) >= want:
                    return
            except FlinkUnreachable:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Flink cluster not ready after {timeout:.0f}s; see {self.workdir}/log")

    def dead_process(self) -> str | None:
        """Name of a cluster process that has exited, if any."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                return name
        return None

    def pids(self) -> dict[str, int]:
        """Process ids of the JVMs' process groups (the shell execs the JVM)."""
        return {name: p.pid for name, p in self.procs.items()}

    def stop(self, grace: float = 10.0) -> None:
        """Stop both JVMs (TERM, then KILL) and every process tagged with this run."""
        for p in self.procs.values():
            _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.wait(5)
        kill_tagged(self.run_id)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tagged_pids(run_id: str) -> list[int]:
    """Processes whose environment carries ``TFFLINK_RUN_ID=run_id``."""
    needle = f"{RUN_ID_ENV}={run_id}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                found.append(int(d.name))
        except OSError:
            continue
    return found


def kill_tagged(run_id: str, grace: float = 3.0) -> None:
    """TERM, then KILL, every process of this run that is still alive."""
    pids = tagged_pids(run_id)
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = [p for p in pids if _alive(p)]
    for pid in pids:
        _kill(pid, signal.SIGKILL)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
