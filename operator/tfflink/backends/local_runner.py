"""``tfflink run``: one job on a local Flink session cluster, supervised to the end.

Start the cluster, submit, watch (Flink REST for the job, the AM for TF roles and node logs),
and tear everything down. A TF node failure is the AM's business (it restarts the TF cluster
in place); a Flink failure (a JVM or task dying) is ours: a fresh session cluster and a
resubmission, under the same ``spec.failover`` budget and the same restart policy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lifecycle import Phase, RestartPolicy
from ..lifecycle.outcome import FLINK_FAILED, EndKind, classify
from ..lifecycle.rows import rows_line
from ..runtime.cluster.am_server import AMClient, AMRejected, AMUnreachable
from ..runtime.cluster.log_echo import NodeNoise, printable
from ..runtime.cluster.rendezvous import FileRendezvous, RendezvousError
from ..runtime.config import RuntimeConfig
from ..spec import LoadedJob, Mode
from ..spec.models import TF_ROLES
from .flink_rest import FlinkRest, FlinkUnreachable
from .local import LocalFlinkCluster, kill_tagged
from .submit import submit
from .tensorboard import TensorBoard

POLL_SECONDS = 0.5
PROGRESS_EVERY_SECONDS = 10.0


@dataclass
class RunResult:
    """How a run ended; ``reason`` is one line fit for the terminal."""

    phase: Phase
    reason: str = ""
    restarts: int = 0
    restart_reasons: list[str] = field(default_factory=list)
    job_id: str | None = None
    am_status: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    accumulators: dict[str, int] = field(default_factory=dict)  # the data plane's row counts (lifecycle.rows)


@dataclass
class _Attempt:
    """What one submission's watch loop observed."""

    outcome: str  # "succeeded" | "tf-failed" | "flink-failed"
    reason: str
    am_status: dict[str, Any]
    accumulators: dict[str, int] = field(default_factory=dict)


class LocalRunner:
    """Runs one loaded job to completion on this machine."""

    def __init__(
        self,
        loaded: LoadedJob,
        *,
        workdir: Path,
        flink_address: str | None = None,
        out: Callable[[str], None] = print,
        quiet: bool = False,
    ) -> None:
        self.loaded = loaded
        self.spec = loaded.job.spec
        self.name = loaded.job.metadata.name
        self.workdir = workdir
        self.flink_address = flink_address
        self.out = out
        self.noise = NodeNoise() if quiet else None  # quiet: no TF C++ INFO or deprecation lines
        self.run_id = uuid.uuid4().hex
        self.policy = RestartPolicy.from_spec(self.spec.failover)
        self.cluster: LocalFlinkCluster | None = None
        self.job_id: str | None = None
        self.started = time.monotonic()
        self.tensorboard: TensorBoard | None = None
        self._stopped = threading.Event()

    # -- public -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run until Succeeded or Failed; always leaves no process of this run behind."""
        restarts: list[str] = []
        self._start_tensorboard()
        try:
            while True:
                attempt = self._attempt(restarts_done=len(restarts))
                # The AM of this attempt restarted the TF cluster in place for these reasons.
                spent = restarts + list(attempt.am_status.get("restartReasons", []))
                if attempt.outcome == "succeeded":
                    return self._result(Phase.SUCCEEDED, "", spent, attempt)
                if attempt.outcome == "tf-failed":
                    return self._result(Phase.FAILED, attempt.reason, spent, attempt)
                decision = self.policy.decide(restarts_done=len(spent), reason=attempt.reason)
                if not decision.restart:
                    return self._result(Phase.FAILED, decision.reason, spent, attempt)
                restarts = spent + [attempt.reason]
                self.out(
                    f"tfflink: restart {len(restarts)}/{self.policy.max_restarts} of the Flink "
                    f"cluster in {decision.delay_seconds:.1f}s: {attempt.reason}"
                )
                time.sleep(decision.delay_seconds)
        finally:
            self._teardown()
            self._stop_tensorboard()

    def close(self) -> None:
        """Stop everything now (Ctrl-C)."""
        self._teardown()
        self._stop_tensorboard()

    # -- one submission ---------------------------------------------------------------------

    def _attempt(self, restarts_done: int) -> _Attempt:
        address = self.flink_address or self._start_cluster()
        if self.flink_address:
            try:
                FlinkRest(address).overview()
            except FlinkUnreachable as e:
                raise RuntimeError(f"cannot reach the Flink session cluster given by --flink-address: {e}") from None
        submission = uuid.uuid4().hex[:12]
        rdv_dir = self.workdir / f"rendezvous-{submission}"
        cfg = RuntimeConfig.from_loaded(
            self.loaded, rendezvous=f"file://{rdv_dir}", submission=submission, restarts_done=restarts_done
        )
        env = self.cluster.env() if self.cluster else None
        self.job_id = submit(cfg, flink_address=address, workdir=self.workdir, env=env)
        self.out(f"tfflink: submitted Flink job {self.job_id} (web UI: http://{address})")
        try:
            return self._watch(FlinkRest(address), self.job_id, FileRendezvous(str(rdv_dir), submission, cfg.token))
        finally:
            self._stop_job(address)

    def _start_cluster(self) -> str:
        if self.cluster is not None:
            self._teardown()
        slots = self.spec.slots_needed()
        self.out(f"tfflink: starting a local Flink session cluster ({slots} slots) ...")
        t0 = time.monotonic()
        self.cluster = LocalFlinkCluster(
            workdir=self.workdir / "flink", spec=self.spec.flink, slots=slots, run_id=self.run_id
        )
        self.cluster.start()
        self.out(f"tfflink: Flink ready at {self.cluster.rest_address} ({time.monotonic() - t0:.1f}s)")
        return self.cluster.rest_address

    def _watch(self, rest: FlinkRest, job_id: str, rdv: FileRendezvous) -> _Attempt:
        """Poll Flink and the AM until the job ends; print progress, node logs and restarts."""
        has_am = self.spec.mode is not Mode.INFERENCE  # inference scores in-process: no AM
        am: AMClient | None = None
        status: dict[str, Any] = {}
        log_seq, last_line, last_print, reasons_shown = 0, "", 0.0, 0
        while True:
            time.sleep(POLL_SECONDS)
            if has_am and am is None:
                try:
                    am = AMClient(rdv.lookup(timeout=0), rdv.token or "", timeout=2.0)
                except RendezvousError:
                    pass  # not published yet
            if am is not None:
                try:
                    status = am.status()
                    logs = am.logs(log_seq)
                    for line in logs["lines"]:
                        if self.noise is None or self.noise.keep(str(line)):
                            self.out(printable(str(line)))  # the AM escapes too; never trust one layer
                    log_seq = int(logs["next"])
                except (AMUnreachable, AMRejected, KeyError, TypeError, ValueError):
                    pass
            reasons = status.get("restartReasons", [])
            for reason in reasons[reasons_shown:]:
                reasons_shown += 1
                self.out(
                    printable(
                        f"tfflink: TF cluster restart {status.get('restarts', '?')}/{self.policy.max_restarts}: {reason}"
                    )
                )
            dead = self.cluster.dead_process() if self.cluster else None
            if dead:
                return _Attempt("flink-failed", f"Flink {dead} process died", status)
            try:
                state = rest.job(job_id).get("state", "")
            except FlinkUnreachable as e:
                return _Attempt("flink-failed", str(e), status)
            line = self._progress_line(status) if has_am else f"Flink job {state} (in-process SavedModel inference)"
            # A new state shows at once; the step, which changes all the time, with the periodic line.
            if line != last_line or time.monotonic() - last_print > PROGRESS_EVERY_SECONDS:
                self.out(printable(f"[{self._elapsed()}] {line}{progress_text(status.get('progress'))}"))
                last_line, last_print = line, time.monotonic()
            root = rest.root_exception(job_id) if state in FLINK_FAILED else None
            end = classify(
                state, root_exception=root, am_phase=status.get("phase"), am_message=str(status.get("message", ""))
            )
            if end is not None:
                outcome = {EndKind.SUCCEEDED: "succeeded", EndKind.RETRYABLE: "flink-failed"}.get(end.kind, "tf-failed")
                return _Attempt(outcome, end.reason, status, self._accumulators(rest, job_id))

    def _accumulators(self, rest: FlinkRest, job_id: str) -> dict[str, int]:
        """The ended job's row counts (lifecycle.rows), printed by reason; {} if Flink has none."""
        try:
            acc = rest.accumulators(job_id)
        except FlinkUnreachable:
            return {}
        line = rows_line(acc)
        if line:
            self.out(f"tfflink: {line}")
        return acc

    def _progress_line(self, status: dict[str, Any]) -> str:
        if not status:
            return "Deploying: waiting for the AM"
        roles = " | ".join(
            f"{role}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            for role, counts in sorted(status.get("roles", {}).items(), key=lambda rc: _role_order(rc[0]))
        )
        return f"{status.get('phase')} (cluster v{status.get('clusterVersion')}, restarts {status.get('restarts')}) {roles}"

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"{s // 60:02d}:{s % 60:02d}"

    def _result(self, phase: Phase, reason: str, restarts: list[str], attempt: _Attempt) -> RunResult:
        return RunResult(
            phase=phase,
            reason=reason,
            restarts=len(restarts),
            restart_reasons=restarts,
            job_id=self.job_id,
            am_status=attempt.am_status,
            elapsed=time.monotonic() - self.started,
            accumulators=attempt.accumulators,
        )

    # -- TensorBoard: one for the whole run, Flink restarts included --------------------------

    def _start_tensorboard(self) -> None:
        if self.spec.tensorboard is None or self.tensorboard is not None:
            return
        self.tensorboard = TensorBoard(
            self.loaded.resolve(self.spec.tensorboard.log_dir), self.workdir / "tensorboard.log"
        )
        self.tensorboard.start()
        self.tensorboard.announce_when_ready(self.out, self._stopped)

    def _stop_tensorboard(self) -> None:
        self._stopped.set()
        if self.tensorboard is not None:
            self.tensorboard.stop()

    # -- teardown ---------------------------------------------------------------------------

    def _stop_job(self, address: str) -> None:
        """Cancel our job if it still runs (matters on an external session cluster)."""
        if self.job_id is None:
            return
        try:
            rest = FlinkRest(address)
            if rest.job(self.job_id).get("state") in ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING"):
                rest.cancel(self.job_id)
        except FlinkUnreachable:
            pass

    def _teardown(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        kill_tagged(self.run_id)


def _role_order(role: str) -> int:
    return TF_ROLES.index(role) if role in TF_ROLES else len(TF_ROLES)


def progress_text(progress: object) -> str:
    """' | step 120 (12.5 steps/s, checkpoint 100)' from the AM's progress ('' before any)."""
    if not isinstance(progress, dict) or not isinstance(progress.get("step"), int):
        return ""
    details = []
    rate = progress.get("stepsPerSecond")
    if isinstance(rate, (int, float)):
        details.append(f"{rate:.3g} steps/s")
    if isinstance(progress.get("checkpointStep"), int):
        details.append(f"checkpoint {progress['checkpointStep']}")
    metrics = progress.get("metrics")
    if isinstance(metrics, dict):
        details += [f"{k} {v:.4g}" for k, v in list(metrics.items())[:4] if isinstance(v, (int, float))]
    return f" | step {progress['step']}" + (f" ({', '.join(details)})" if details else "")
