"""Kubernetes-only parts of the spec: images, pod placement and the run policy.

`tfflink run` ignores ``spec.kubernetes``; the operator reads it to build the session cluster.
"""

from __future__ import annotations

from pydantic import Field

from .base import _Model


class KubernetesSpec(_Model):
    """How the Flink session cluster's pods look on Kubernetes."""

    image: str = Field("tfflink/runtime:0.1.0", min_length=1, description="Runtime image (Flink + TF + tfflink).")


class RunPolicy(_Model):
    """Limits on the whole run (Kubeflow's runPolicy in spirit)."""

    suspend: bool = Field(False, description="True tears the session cluster down; false brings it back.")
