"""The node agent: runs inside a Flink subtask and keeps one TF node process alive for the AM.

Loop: find the AM, register, wait for the full cluster, start the user's function in a child
process, then heartbeat (forwarding the child's log lines) until the AM says stop or restart.
On restart the child is killed and the agent rejoins under the new cluster version. The
agent never waits on the AM without a deadline: an AM that stops answering ends the subtask.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ...errors import PermanentFailure
from ..config import RuntimeConfig
from .am_server import AMClient, AMUnreachable, log_batches
from .log_echo import echo, printable
from .node_main import NODE_ENV
from .progress import ProgressFile
from .protocol import Action, FinishRequest, HeartbeatRequest, RegisterRequest, Reply
from .rendezvous import open_rendezvous

MAX_BUFFERED_LINES = 5000

Req = TypeVar("Req")
Ans = TypeVar("Ans", bound=Reply)


class NodeStopped(PermanentFailure):
    """The AM ended this node (job finished or failed): asking it again gets the same answer."""


def node_host() -> str:
    """The address other TF nodes reach this one at (and the AM binds): ``TFFLINK_NODE_HOST``
    (127.0.0.1 under ``tfflink run``), else ``POD_IP`` (set in every pod by the operator),
    else this host's name resolved."""
    for var in ("TFFLINK_NODE_HOST", "POD_IP"):
        host = os.environ.get(var, "").strip()
        if host:
            return host
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def free_port(host: str = "") -> int:
    """A port free on ``host`` a moment ago ("" = every interface, as a TF server binds)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Child side: get SIGKILL when the agent's thread dies (no orphan TF processes)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs of this container's CPU limit (cgroup v2 or v1), None when unlimited.

    TF sizes its thread pools from the host's cores; in a container limited to fewer, that
    means hundreds of threads fighting over a quota.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None


def thread_env(cpus: int | None) -> dict[str, str]:
    """TF thread-pool sizes for a container of ``cpus`` CPUs (none when unlimited)."""
    if cpus is None:
        return {}
    # Distributed TF blocks inter-op threads in RPCs: never fewer than two.
    return {"TF_NUM_INTRAOP_THREADS": str(cpus), "TF_NUM_INTEROP_THREADS": str(max(2, cpus))}


class NodeProcess:
    """One run of the user's function in a child process, with its log pump."""

    def __init__(self, node: dict[str, Any], sink: deque[str], prefix: str, env: dict[str, str]) -> None:
        self.error_file = Path(node["error_file"])
        self.beat_file = Path(node["beat_file"])
        self.error_file.unlink(missing_ok=True)
        self.beat_file.touch()
        Path(node["progress_file"]).unlink(missing_ok=True)  # a restarted node reports afresh
        self.progress = ProgressFile(Path(node["progress_file"]))
        child_env = dict(os.environ)
        child_env.update(env)
        child_env[NODE_ENV] = json.dumps(node)
        child_env["TF_CONFIG"] = json.dumps(
            {"cluster": node["cluster"], "task": {"type": node["role"], "index": node["index"]}}
        )
        child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        for key, value in thread_env(cgroup_cpus()).items():
            child_env.setdefault(key, value)
        child_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "tfflink.runtime.cluster.node_main"],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - PR_SET_PDEATHSIG has no other way in; it only calls prctl
        )
        self.pump = threading.Thread(target=self._pump, args=(sink, prefix), daemon=True)
        self.pump.start()

    def _pump(self, sink: deque[str], prefix: str) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            # Control characters escaped, length capped: whatever prints it shows plain text.
            line = printable(f"{prefix} {raw.decode(errors='replace').rstrip()}")
            # To the AM, and on Kubernetes to the container's stdout (never the Flink Python
            # worker's own stdout: a pipe nobody drains, a print there blocks once it fills).
            sink.append(line)
            echo(line)

    def beat_age(self) -> float:
        try:
            return time.time() - self.beat_file.stat().st_mtime
        except OSError:
            return 0.0

    def outcome(self) -> tuple[int, str]:
        """Exit code and a one-line error (empty on success)."""
        code = self.proc.wait()
        self.pump.join(2)
        if code == 0:
            return 0, ""
        try:
            return code, self.error_file.read_text().strip()
        except OSError:
            return code, f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def kill(self, grace: float = 3.0) -> None:
        """TERM the node's process group, KILL what is left after ``grace``."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


class NodeAgent:
    """Keeps TF node ``role``-``index`` running for the AM until it says stop."""

    def __init__(self, cfg: RuntimeConfig, role: str, index: int) -> None:
        self.cfg, self.role, self.index = cfg, role, index
        spec = cfg.spec
        self.interval = spec.failover.heartbeat_interval_seconds
        self.timeout = spec.failover.heartbeat_timeout_seconds
        self.lookup_timeout = spec.failover.registration_timeout_seconds
        self.name = f"{role}-{index}"
        self.logs: deque[str] = deque(maxlen=MAX_BUFFERED_LINES)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tfflink-{self.name}-"))
        self.version: int | None = None
        self.am: AMClient | None = None
        self._am_lost_since: float | None = None
        self.data_node: dict[str, Any] = {}  # stream mode: see with_data_channel

    def run(self) -> str:
        """Serve until the AM says stop; return a one-line summary."""
        rdv = open_rendezvous(self.cfg.rendezvous, self.cfg.submission, self.cfg.token)
        address = rdv.lookup(self.lookup_timeout)
        self.am = AMClient(address, self.cfg.token, timeout=max(2.0, self.timeout / 2))
        try:
            while True:  # one pass per cluster version; NodeStopped (the AM's "stop") ends it
                self._register()
                cluster = self._wait_cluster()
                if cluster is not None:
                    self._serve(cluster)
        except NodeStopped:
            pass
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return f"{self.name} done (cluster version {self.version})"

    def with_data_channel(
        self,
        path: str,
        columns: list[tuple[str, str]],
        wire_columns: list[tuple[str, str]] | None = None,
        batch_step: dict[str, str] | None = None,
        replays: bool = False,
    ) -> NodeAgent:
        """Stream mode: every child of this node reads rows from the data channel at ``path``;
        with a batch feature step, rows arrive as ``wire_columns`` and the step makes ``columns``.
        ``replays``: the channel is the JVM feeder, which replays to a restarted node."""
        self.data_node = {"data_channel": path, "columns": [list(c) for c in columns], "replays": replays}
        if wire_columns is not None:
            self.data_node["wire_columns"] = [list(c) for c in wire_columns]
        if batch_step is not None:
            self.data_node["batch_step"] = dict(batch_step)
        return self

    def run_in_thread(self, on_failure: Callable[[BaseException], None]) -> threading.Thread:
        """Run inside a Flink operator: a daemon thread, so the operator keeps its own thread;
        whatever ``run`` raises goes to ``on_failure`` (the operator re-raises it later)."""

        def target() -> None:
            try:
                self.run()
            except BaseException as e:  # noqa: BLE001  (handed to the operator thread)
                on_failure(e)

        thread = threading.Thread(target=target, daemon=True, name=f"tfflink-{self.name}")
        thread.start()
        return thread

    # -- steps ------------------------------------------------------------------------------

    def _ask(self, call: Callable[[AMClient, Req], Ans], request: Req) -> Ans:
        """Call the AM; tolerate short outages, give up after the heartbeat timeout."""
        assert self.am is not None
        while True:
            try:
                reply = call(self.am, request)
                self._am_lost_since = None
                return reply
            except AMUnreachable as e:
                now = time.monotonic()
                self._am_lost_since = self._am_lost_since or now
                if now - self._am_lost_since > self.timeout:
                    raise RuntimeError(f"{self.name}: lost the AM ({e})") from None
                time.sleep(min(self.interval, 0.5))

    def _follow(self, reply: Reply) -> Action:
        """Adopt the version in a reply; raise NodeStopped on stop."""
        if reply.action is Action.STOP:
            raise NodeStopped
        if reply.action is Action.RESTART:
            self.version = reply.version
        return reply.action

    @property
    def _joined(self) -> int:
        """The cluster version this node registered for (set by ``_register``)."""
        assert self.version is not None
        return self.version

    def _register(self) -> None:
        """Join the current cluster version (a fresh port each time: the old one may linger)."""
        while True:
            self.port = free_port()
            host = node_host()
            self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"  # IPv6 pod IPs
            reply = self._ask(AMClient.register, RegisterRequest(self.role, self.index, self.address, self.version))
            if self._follow(reply) is not Action.RESTART:
                self.version = reply.version
                return

    def _wait_cluster(self) -> dict[str, list[str]] | None:
        """Poll for the full cluster (heartbeating meanwhile); None means re-register."""
        last_beat = 0.0
        while True:
            reply = self._ask(AMClient.cluster, self._joined)
            if self._follow(reply) is Action.RESTART:
                return None
            if reply.ready and reply.cluster is not None:
                return dict(reply.cluster)
            if time.monotonic() - last_beat >= self.interval:
                last_beat = time.monotonic()
                if self._follow(self._beat(running=False)) is Action.RESTART:
                    return None
            time.sleep(0.1)

    def _beat(self, running: bool, child: NodeProcess | None = None) -> Reply:
        """One heartbeat; buffered log lines go in as many calls as the AM's body limit needs,
        the child's new progress report (if any) with the first."""
        lines = [self.logs.popleft() for _ in range(len(self.logs))]
        progress = child.progress.take() if child is not None else None
        reply: Reply | None = None
        for batch in log_batches(lines):
            request = HeartbeatRequest(self.role, self.index, self._joined, running, batch, progress)
            got = self._ask(AMClient.heartbeat, request)
            progress = None
            if reply is None or reply.action is Action.CONTINUE:
                reply = got  # the first restart/stop wins
        assert reply is not None  # log_batches gives at least one batch
        return reply

    def _serve(self, cluster: dict[str, list[str]]) -> None:
        """Run the user's function under supervision until it ends or the AM says restart."""
        spec = self.cfg.spec
        assert spec.entry is not None, "batch and stream jobs always have an entry"
        node = {
            "role": self.role,
            "index": self.index,
            "cluster": cluster,
            "version": self.version,
            "properties": spec.properties,
            "checkpoint_dir": self.cfg.resolve(spec.checkpoint_dir) if spec.checkpoint_dir else None,
            "tensorboard_dir": self.cfg.resolve(spec.tensorboard.log_dir) if spec.tensorboard else None,
            "job_name": self.cfg.name,
            "entry_path": self.cfg.entry_path,
            "entry_module": spec.entry.module,
            "function": spec.entry.function,
            "error_file": str(self.workdir / "error"),
            "beat_file": str(self.workdir / "beat"),
            "progress_file": str(self.workdir / "progress"),
            "beat_interval": min(self.interval, 1.0),
            **self.data_node,
        }
        child = NodeProcess(node, self.logs, f"[{self.name}]", self.cfg.extra_env)
        try:
            while child.proc.poll() is None:
                if child.beat_age() > self.timeout:
                    child.kill(grace=0.5)
                    return self._report(child, error=f"stopped heartbeating for {self.timeout:.0f}s (hung)")
                if self._follow(self._beat(running=True, child=child)) is Action.RESTART:
                    child.kill()
                    return
                try:
                    child.proc.wait(self.interval)  # wakes at once when the node process exits
                except subprocess.TimeoutExpired:
                    pass
            return self._report(child)
        except NodeStopped:
            child.kill()  # e.g. a ps once the workers are done: tell the AM it is down
            code, _ = child.outcome()
            self._ask(AMClient.finish, FinishRequest(self.role, self.index, self._joined, code, "stopped by the AM"))
            raise
        except BaseException:
            child.kill(grace=1.0)
            raise

    def _report(self, child: NodeProcess, error: str = "") -> None:
        """Tell the AM how the function ended, then idle until it says restart or stop."""
        code, err = child.outcome()
        if error:
            code, err = code or 1, error
        self._beat(running=False, child=child)  # flush the last log lines and report before the verdict
        finish = FinishRequest(self.role, self.index, self._joined, code, err)
        if self._follow(self._ask(AMClient.finish, finish)) is Action.RESTART:
            return
        while True:  # finished early (or succeeded): wait for the rest of the cluster
            time.sleep(self.interval)
            if self._follow(self._beat(running=False)) is Action.RESTART:
                return
