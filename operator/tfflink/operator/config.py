"""Operator settings: from the environment (for ``kopf run``) or the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..backends.kubernetes.flink import IN_CLUSTER


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator process needs beyond kopf's own settings."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty serves the whole cluster."""
    flink_url_template: str = IN_CLUSTER
    """Where a job's JobManager REST API is: {namespace}, {service} and {port} are filled in."""
    poll_seconds: float = 5.0
    """How often a deploying or running job's Flink state is read (pod events wake it sooner)."""
    metrics_port: int = 9090
    """Prometheus metrics on this port; 0 turns them off."""
    liveness: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness endpoint; empty turns it off."""
    watch_timeout_seconds: int = 300
    """Server-side timeout of each watch request (kopf reconnects after it)."""
    api_workers: int = 16
    """Threads for the (synchronous) Kubernetes client."""
    field_manager: str = "tfflink-operator"
    """The name its writes carry in managedFields (with leader election: the replica's)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OperatorConfig:
        """Read TFFLINK_NAMESPACES (comma list), TFFLINK_FLINK_URL_TEMPLATE, TFFLINK_POLL_SECONDS,
        TFFLINK_METRICS_PORT, TFFLINK_LIVENESS, TFFLINK_WATCH_TIMEOUT."""
        d = cls()
        return cls(
            namespaces=tuple(s.strip() for s in env.get("TFFLINK_NAMESPACES", "").split(",") if s.strip()),
            flink_url_template=env.get("TFFLINK_FLINK_URL_TEMPLATE", d.flink_url_template),
            poll_seconds=float(env.get("TFFLINK_POLL_SECONDS", d.poll_seconds)),
            metrics_port=int(env.get("TFFLINK_METRICS_PORT", d.metrics_port)),
            liveness=env.get("TFFLINK_LIVENESS", d.liveness),
            watch_timeout_seconds=int(env.get("TFFLINK_WATCH_TIMEOUT", d.watch_timeout_seconds)),
        )
