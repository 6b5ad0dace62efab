"""Prometheus metrics of the operator: reconciles, restarts, jobs by phase."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..spec.status import Phase


class Metrics:
    """One registry per operator process (tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "tfflink_operator_reconciles_total", "Reconcile passes by result.", ["result"], registry=self.registry
        )
        self.restarts = Counter(
            "tfflink_operator_restarts_total",
            "Full restarts of a session cluster after a failure.",
            registry=self.registry,
        )
        self.jobs = Gauge("tfflink_operator_jobs", "TFFlinkJobs by phase.", ["phase"], registry=self.registry)
        self.seconds = Histogram(
            "tfflink_operator_reconcile_seconds", "Duration of one reconcile pass.", registry=self.registry
        )
        self._phases: dict[tuple[str, str], Phase] = {}
        for p in Phase:
            self.jobs.labels(p.value).set(0)

    def phase(self, key: tuple[str, str], phase: Phase | None) -> None:
        """Record a job's phase (None: the job is gone)."""
        old = self._phases.pop(key, None)
        if phase is not None:
            self._phases[key] = phase
        if old != phase:
            if old is not None:
                self.jobs.labels(old.value).dec()
            if phase is not None:
                self.jobs.labels(phase.value).inc()

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
