"""Builders shared by the operator's unit tests (a uniquely named module, not conftest)."""

from __future__ import annotations

from typing import Any

from tests.support.jobs import k8s_job
from tfflink.backends.kubernetes.manifests import JobRef
from tfflink.spec.models import TFFlinkJob


def job_body(name: str = "mnist", workers: int = 2, ps: int = 1, **spec: Any) -> dict[str, Any]:
    """tests.support.jobs.k8s_job as the API server stores it in namespace team-a."""
    return k8s_job(name, workers, ps, namespace="team-a", uid="uid-1", **spec)


def job_ref(**kw: Any) -> JobRef:
    body = job_body(**kw)
    return JobRef(name=body["metadata"]["name"], namespace="team-a", uid="uid-1", job=TFFlinkJob.model_validate(body))
