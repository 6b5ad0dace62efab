"""The application master as a Flink operator body: serve the AM until the job ends.

Runs in the AM's Flink subtask (parallelism 1). It publishes its address through the
rendezvous, lets ``ClusterState`` referee the nodes, and ends the Flink subtask with the
job's outcome: a return on success, an exception carrying the reason on failure (which
fails the Flink job, so every observer sees it).
"""

from __future__ import annotations

import json
import logging
import time

from ..lifecycle import Phase, RestartPolicy
from ..lifecycle.outcome import AM_GAVE_UP_MARK
from .agent import node_host
from .am_server import AMServer
from .am_state import ClusterState
from .config import RuntimeConfig
from .rendezvous import open_rendezvous

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30.0  # how long stopped nodes get to confirm before the AM leaves
LINGER_SECONDS = 3.0  # keep answering /status briefly so observers see the final phase


class TFJobFailed(RuntimeError):
    """The TF job failed for good (restarts exhausted); the message is the reason."""


def new_state(cfg: RuntimeConfig) -> ClusterState:
    spec = cfg.spec
    return ClusterState(
        roles=spec.roles.sizes(),
        policy=RestartPolicy.from_spec(spec.failover),
        heartbeat_timeout=spec.failover.heartbeat_timeout_seconds,
        registration_timeout=spec.failover.registration_timeout_seconds,
        restarts=cfg.restarts_done,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run_am(cfg: RuntimeConfig) -> str:
    """Serve the TF cluster until it succeeds (return) or fails for good (raise)."""
    state = new_state(cfg)
    host = node_host()  # the pod IP on Kubernetes, 127.0.0.1 under tfflink run: never 0.0.0.0
    server = AMServer(state, cfg.token, host=host)
    server.start()
    try:
        open_rendezvous(cfg.rendezvous, cfg.submission, cfg.token).publish(f"{_url_host(host)}:{server.port}")
        finished_at: float | None = None
        while not state.done():
            state.check()
            if state.phase.finished:
                finished_at = finished_at or time.monotonic()
                if time.monotonic() - finished_at > STOP_GRACE_SECONDS:
                    break
            time.sleep(0.2)
        time.sleep(LINGER_SECONDS)
    finally:
        server.shutdown()
        server.server_close()
    status = state.status()
    if state.phase is not Phase.SUCCEEDED:
        raise TFJobFailed(AM_GAVE_UP_MARK + state.message)
    return json.dumps({k: status[k] for k in ("phase", "restarts", "clusterVersion")})
