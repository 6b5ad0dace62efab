"""Builders shared by the operator's unit tests (a uniquely named module, not conftest)."""

from __future__ import annotations

from typing import Any

from tfflink.backends.kubernetes.manifests import JobRef
from tfflink.spec.models import TFFlinkJob


def job_body(name: str = "mnist", workers: int = 2, ps: int = 1, **spec: Any) -> dict[str, Any]:
    """A TFFlinkJob as stored by the API server (camelCase)."""
    body: dict[str, Any] = {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": name, "namespace": "team-a", "uid": "uid-1"},
        "spec": {
            "entry": {"module": "examples.linear.train"},
            "roles": {"worker": {"replicas": workers}, "ps": {"replicas": ps}},
            **spec,
        },
    }
    return body


def job_ref(**kw: Any) -> JobRef:
    body = job_body(**kw)
    return JobRef(name=body["metadata"]["name"], namespace="team-a", uid="uid-1", job=TFFlinkJob.model_validate(body))
