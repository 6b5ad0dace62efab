"""The AM's view of the TF cluster: registration, cluster versions, liveness and completion.

Pure logic behind a lock (the HTTP server in ``am_server`` calls it from many threads), with
an injected clock so the failover rules can be tested without sleeping.

Rules:
- Nodes register for the current cluster version; the cluster spec is handed out once every
  node of that version has registered (and any restart backoff has passed).
- A node that fails (non-zero exit, lost heartbeat) ends the version: the restart policy
  either bumps the version (every node is told to restart) or fails the job.
- A node of an older version is told to restart into the current one, never to wait.
- Batch, as TF has it: with a chief, the chief's success is the job's; without one, every
  worker's. Then the nodes still running (workers, ps, evaluator) are told to stop.
- The evaluator is no part of the training cluster: it registers like any node, but the
  cluster spec handed out (TF_CONFIG's) lists only chief, worker and ps.
- Progress: the latest report per node; the job's step is the highest of the current
  version, its rate the step's growth over the last ``RATE_WINDOW`` seconds of reports.
- A node's address is fixed once it registered for a version: only a new cluster version
  (every node registers again) can change it, so no caller can reroute the cluster.
- Everything kept is bounded: log lines (count, length, total size), errors, reasons; log
  lines are stored with control characters escaped, so nothing that prints them can be
  steered by terminal escapes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..lifecycle import Phase, RestartPolicy, RoleState
from .log_echo import printable
from .progress import Progress

CONTINUE, RESTART, STOP = "continue", "restart", "stop"
MAX_LOG_LINES = 20000
MAX_LOG_BYTES = 8 << 20  # all kept log lines together (oldest dropped first)
MAX_ERROR_CHARS = 2000  # a node's error, a restart reason, the phase message
PUBLIC_REASONS = 10  # restart reasons in the unauthenticated /status (the latest)
RATE_WINDOW = 30.0  # seconds of step reports the steps/second rate is measured over
MAX_SAMPLES = 256  # (time, step) samples kept for that rate
OUTSIDE_CLUSTER = ("evaluator",)  # roles TF_CONFIG's cluster does not list


class AddressConflict(Exception):
    """A node already registered for this version tried to register with another address."""


@dataclass
class Node:
    """One TF node in the current cluster version."""

    role: str
    index: int
    address: str = ""
    state: RoleState = RoleState.PENDING
    last_seen: float = 0.0
    error: str = ""
    progress: Progress | None = None

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


@dataclass
class ClusterState:
    """Everything the AM knows; every public method is thread-safe."""

    roles: dict[str, int]
    policy: RestartPolicy
    heartbeat_timeout: float
    registration_timeout: float = 300.0
    clock: Callable[[], float] = time.monotonic
    version: int = 1
    phase: Phase = Phase.DEPLOYING
    restarts: int = 0
    message: str = ""
    restart_reasons: list[str] = field(default_factory=list)
    restart_at: float = 0.0
    logs: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_seq: int = 0
    log_bytes: int = 0
    step: int | None = None  # the job's latest step (kept through a restart until a new report)
    checkpoint_step: int | None = None  # the highest checkpoint step any node reported, ever
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.version_started = self.clock()
        self.nodes = self._fresh_nodes()

    def _fresh_nodes(self) -> dict[str, Node]:
        nodes = {}
        for role, n in self.roles.items():
            for i in range(n):
                node = Node(role, i, last_seen=self.clock())
                nodes[node.name] = node
        return nodes

    # -- node calls -------------------------------------------------------------------------

    def register(self, role: str, index: int, address: str, version: int | None) -> dict[str, Any]:
        """A node announces itself; the answer says which version it belongs to."""
        with self._lock:
            if self.phase.finished:
                return {"action": STOP, "version": self.version}
            node = self.nodes.get(f"{role}-{index}")
            if node is None:
                return {"action": STOP, "version": self.version, "error": f"unknown node {role}-{index}"}
            if version is not None and version != self.version:
                return {"action": RESTART, "version": self.version}
            if node.state is not RoleState.PENDING:
                if address != node.address:  # fixed until the next cluster version
                    raise AddressConflict(
                        f"{node.name} is registered for cluster version {self.version} at another address"
                    )
                return {"action": CONTINUE, "version": self.version}  # a retried registration
            node.address, node.state, node.last_seen, node.error = address, RoleState.REGISTERED, self.clock(), ""
            return {"action": CONTINUE, "version": self.version}

    def cluster(self, version: int) -> dict[str, Any]:
        """The TF cluster spec once every node of ``version`` has registered."""
        with self._lock:
            if self.phase.finished:
                return {"action": STOP, "version": self.version}
            if version != self.version:
                return {"action": RESTART, "version": self.version}
            if self.clock() < self.restart_at or any(n.state is RoleState.PENDING for n in self.nodes.values()):
                return {"action": CONTINUE, "version": self.version, "ready": False}
            if self.phase in (Phase.DEPLOYING, Phase.RESTARTING):
                self.phase = Phase.RUNNING
            return {"action": CONTINUE, "version": self.version, "ready": True, "cluster": self.tf_cluster()}

    def heartbeat(
        self,
        role: str,
        index: int,
        version: int,
        running: bool,
        logs: list[str] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Liveness, log lines and progress; the answer tells the node to go on, restart or stop."""
        with self._lock:
            node = self.nodes.get(f"{role}-{index}")
            if node is not None:  # lines of a node of an older version still count
                for line in logs or []:
                    self._add_log(printable(str(line)))
            if node is None or self.phase.finished:
                return {"action": STOP, "version": self.version}
            if version != self.version:
                return {"action": RESTART, "version": self.version}
            node.last_seen = self.clock()
            if running and node.state is RoleState.REGISTERED:
                node.state = RoleState.RUNNING
            if progress is not None:
                self._progress(node, progress)
            return {"action": CONTINUE, "version": self.version}

    def finish(self, role: str, index: int, version: int, exit_code: int, error: str = "") -> dict[str, Any]:
        """A node's user function ended (or it was stopped)."""
        error = printable(error, MAX_ERROR_CHARS)
        with self._lock:
            node = self.nodes.get(f"{role}-{index}")
            if node is None or version != self.version:
                return {"action": STOP if self.phase.finished else RESTART, "version": self.version}
            if self.phase.finished:
                if node.state in (RoleState.REGISTERED, RoleState.RUNNING):
                    node.state = RoleState.STOPPED
                return {"action": STOP, "version": self.version}
            if exit_code == 0:
                node.state = RoleState.SUCCEEDED
                ended = self._training_ended()
                if ended:
                    self.phase, self.message = Phase.SUCCEEDED, ended
            else:
                node.state, node.error = RoleState.FAILED, error or f"exit code {exit_code}"
                self._fail_version(f"{node.name} failed: {node.error}")
            if self.phase.finished:
                return {"action": STOP, "version": self.version}
            return {"action": CONTINUE if version == self.version else RESTART, "version": self.version}

    # -- AM loop ----------------------------------------------------------------------------

    def check(self) -> None:
        """Called periodically: turn silence into failures."""
        with self._lock:
            if self.phase.finished:
                return
            now = self.clock()
            if self.phase is Phase.DEPLOYING or self.phase is Phase.RESTARTING:
                waiting = [n.name for n in self.nodes.values() if n.state is RoleState.PENDING]
                if waiting and now - max(self.version_started, self.restart_at) > self.registration_timeout:
                    self._fail_version(f"nodes never registered: {', '.join(waiting)}")
                    return
            for n in self.nodes.values():
                live = n.state in (RoleState.REGISTERED, RoleState.RUNNING)
                if live and now - n.last_seen > self.heartbeat_timeout:
                    n.state, n.error = RoleState.FAILED, "heartbeat lost"
                    self._fail_version(f"{n.name} lost: no heartbeat for {now - n.last_seen:.1f}s")
                    return

    def done(self) -> bool:
        """True when the job is finished and no node still needs to hear so."""
        with self._lock:
            if not self.phase.finished:
                return False
            return not any(n.state in (RoleState.REGISTERED, RoleState.RUNNING) for n in self.nodes.values())

    def _training_ended(self) -> str:
        """Why the job succeeded ("" while it has not): the chief's end, else every worker's."""
        if self.roles.get("chief"):
            return "the chief succeeded" if self.nodes["chief-0"].state is RoleState.SUCCEEDED else ""
        workers = [n for n in self.nodes.values() if n.role == "worker"]
        return "all workers succeeded" if all(n.state is RoleState.SUCCEEDED for n in workers) else ""

    def _progress(self, node: Node, progress: Progress) -> None:
        node.progress = progress
        if progress.checkpoint_step is not None:
            self.checkpoint_step = max(self.checkpoint_step or 0, progress.checkpoint_step)
        self.step = max(n.progress.step for n in self.nodes.values() if n.progress is not None)
        self.samples.append((self.clock(), self.step))

    def _steps_per_second(self) -> float | None:
        """The job step's growth per second over the last RATE_WINDOW seconds (or MAX_SAMPLES
        reports, if fewer); None: unknown."""
        now = self.clock()
        recent = [(t, step) for t, step in self.samples if now - t <= RATE_WINDOW]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return None
        (t0, s0), (t1, s1) = recent[0], recent[-1]
        return max(0.0, (s1 - s0) / (t1 - t0))

    def _add_log(self, line: str) -> None:
        if len(self.logs) == self.logs.maxlen:
            self.log_bytes -= len(self.logs[0][1])
        self.log_seq += 1
        self.logs.append((self.log_seq, line))
        self.log_bytes += len(line)
        while self.log_bytes > MAX_LOG_BYTES and self.logs:
            self.log_bytes -= len(self.logs.popleft()[1])

    def _fail_version(self, reason: str) -> None:
        reason = printable(reason, MAX_ERROR_CHARS)
        decision = self.policy.decide(restarts_done=self.restarts, reason=reason)
        if not decision.restart:
            self.phase, self.message = Phase.FAILED, printable(decision.reason, MAX_ERROR_CHARS)
            return
        self.restarts += 1
        self.restart_reasons.append(reason)
        self.version += 1
        self.phase, self.message = Phase.RESTARTING, f"restart {self.restarts}: {reason}"
        self.version_started = self.clock()
        self.restart_at = self.version_started + decision.delay_seconds
        self.nodes = self._fresh_nodes()
        self.samples.clear()  # a restarted cluster resumes from a checkpoint: a new rate

    # -- observation ------------------------------------------------------------------------

    def tf_cluster(self) -> dict[str, list[str]]:
        """role -> addresses ordered by index, as TF's ClusterSpec wants (no evaluator)."""
        out: dict[str, list[str]] = {}
        for role, n in self.roles.items():
            if n and role not in OUTSIDE_CLUSTER:
                out[role] = [self.nodes[f"{role}-{i}"].address for i in range(n)]
        return out

    def status(self, full: bool = True) -> dict[str, Any]:
        """Phase, version, restarts and per-role state counts (the CLI and operator show these).

        ``full=False`` is what anyone may read without the token (the operator does): no node
        addresses or errors, only the latest restart reasons, a few KiB at most.
        """
        with self._lock:
            roles: dict[str, dict[str, int]] = {}
            for n in self.nodes.values():
                counts = roles.setdefault(n.role, {})
                counts[n.state.value] = counts.get(n.state.value, 0) + 1
            out: dict[str, Any] = {
                "pid": os.getpid(),
                "phase": self.phase.value,
                "clusterVersion": self.version,
                "restarts": self.restarts,
                "restartReasons": list(self.restart_reasons),
                "roles": roles,
                "message": self.message,
                "progress": self._job_progress(),
            }
            if full:
                out["nodes"] = {
                    n.name: {
                        "state": n.state.value,
                        "address": n.address,
                        "error": n.error,
                        "progress": n.progress.to_wire() if n.progress else None,
                    }
                    for n in self.nodes.values()
                }
            else:
                out["restartReasons"] = [r[:500] for r in self.restart_reasons[-PUBLIC_REASONS:]]
            return out

    def _job_progress(self) -> dict[str, Any] | None:
        """Step, rate, last checkpoint and the metrics of the first node (chief, worker 0, ...)
        that reported; None before any report."""
        if self.step is None:
            return None
        rate = self._steps_per_second()
        first = next((n.progress for n in self.nodes.values() if n.progress is not None), None)
        return {
            "step": self.step,
            "stepsPerSecond": None if rate is None else round(rate, 3),
            "checkpointStep": self.checkpoint_step,
            "metrics": dict(first.metrics) if first else {},
        }

    def logs_after(self, seq: int, limit: int = 2000, max_chars: int = 2 << 20) -> dict[str, Any]:
        """Log lines with a sequence number above ``seq`` (at most ``limit`` lines, ~``max_chars``)."""
        with self._lock:
            lines: list[tuple[int, str]] = []
            size = 0
            for s, line in self.logs:
                if s <= seq:
                    continue
                if len(lines) >= limit or (lines and size + len(line) > max_chars):
                    break
                lines.append((s, line))
                size += len(line)
            return {"lines": [line for _, line in lines], "next": lines[-1][0] if lines else max(seq, 0)}
