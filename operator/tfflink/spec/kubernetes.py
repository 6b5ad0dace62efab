"""Kubernetes-only parts of the spec: images, pod placement and the run policy.

`tfflink run` ignores ``spec.kubernetes`` and ``spec.runPolicy``; the operator reads them to
build and supervise the session cluster.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from .base import _Model

MAX_ENV_BYTES = 64 << 10  # spec.kubernetes.env in all


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as JSON (how strings and maps are measured against their limits)."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def runtime_env_name(name: str) -> str | None:
    """Why the environment variable ``name`` is the runtime's (None if a job may set it)."""
    if name.startswith("TFFLINK_"):
        return "TFFLINK_* variables carry the AM rendezvous and node settings"
    if name == "FLINK_CONF_DIR":
        return "it is where tfflink writes the Flink configuration"
    if name == "POD_IP":
        return "it is the pod's own address, which the AM and the TF nodes bind"
    return None


# A pod template is Kubernetes' own PodTemplateSpec: kept as is by the API server; the operator
# checks the fields it owns (tfflink.backends.kubernetes.podtemplate).
_TEMPLATE_SCHEMA: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


class Toleration(_Model):
    """A pod toleration, copied as is onto every Flink pod."""

    key: str | None = Field(None, description="Taint key; empty with operator Exists matches every taint.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: str | None = Field(None, description="Taint value (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; empty tolerates every effect."
    )
    toleration_seconds: int | None = Field(
        None, ge=0, description="How long a NoExecute taint is tolerated before eviction."
    )


class EnvVar(_Model):
    """A plain environment variable for the Flink containers."""

    name: str = Field(
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        max_length=256,
        description="Variable name (not TFFLINK_*, FLINK_CONF_DIR or POD_IP: those are tfflink's).",
    )
    value: str = Field("", max_length=32768, description="Variable value.")

    @field_validator("name")
    @classmethod
    def _not_runtime_owned(cls, name: str) -> str:
        reason = runtime_env_name(name)
        if reason:
            raise ValueError(f"{name} is set by tfflink, not the job: {reason}")
        return name


class IngressSpec(_Model):
    """An Ingress to the Flink web UI of the job's session cluster.

    The UI is Flink's REST API, which can also submit and cancel jobs: expose it only behind an
    authenticating ingress (annotations) or on an internal class.
    """

    host: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Host name the UI is served on.",
    )
    path: str = Field("/", pattern=r"^/", max_length=256, description="Path prefix.")
    class_name: str | None = Field(None, max_length=253, description="IngressClass to use.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations (auth, TLS...).")
    tls_secret_name: str | None = Field(None, max_length=253, description="Secret with the TLS certificate for host.")


class KubernetesSpec(_Model):
    """How the Flink session cluster's pods look on Kubernetes."""

    image: str = Field("tfflink/runtime:0.1.0", min_length=1, description="Runtime image (Flink + TF + tfflink).")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="When the kubelet pulls the image."
    )
    image_pull_secrets: list[str] = Field(default_factory=list, description="Names of Secrets used to pull the image.")
    service_account_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description=(
            "Existing ServiceAccount for the Flink pods; default: the operator creates "
            "<name>-flink. Either way the operator binds it to the rendezvous Role."
        ),
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels every Flink pod must match.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Pod tolerations.")
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on every Flink pod (tfflink.dev/* is reserved)."
    )
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on every Flink pod.")
    env: list[EnvVar] = Field(
        default_factory=list, max_length=256, description="Extra environment of the Flink containers (64 KiB in all)."
    )

    @field_validator("env")
    @classmethod
    def _env_fits(cls, env: list[EnvVar]) -> list[EnvVar]:
        size = encoded_size({e.name: e.value for e in env})
        if size > MAX_ENV_BYTES:
            raise ValueError(f"{size} bytes in all, over the limit of {MAX_ENV_BYTES}")
        return env

    code_config_map: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "ConfigMap holding the job's files (entry .py, feature files, small data), one key per "
            "file; mounted where the job file's relative paths resolve. `tfflink submit "
            "--kubernetes` creates it. Without it, entry files are paths inside the image."
        ),
    )
    pod_template: dict[str, Any] | None = Field(
        None,
        json_schema_extra=_TEMPLATE_SCHEMA,
        description=(
            "Pod template (metadata + spec) merged onto every pod of the job: volumes, "
            "volumeMounts/env/envFrom/resources of the main container (named 'main' or after its "
            "component), nodeSelector, affinity, tolerations, securityContext, initContainers... "
            "The container's command/args/image, the config volume and TFFLINK_* / FLINK_CONF_DIR "
            "env names are the operator's."
        ),
    )
    job_manager_pod_template: dict[str, Any] | None = Field(
        None, json_schema_extra=_TEMPLATE_SCHEMA, description="Merged after podTemplate onto the JobManager pod."
    )
    task_manager_pod_template: dict[str, Any] | None = Field(
        None,
        json_schema_extra=_TEMPLATE_SCHEMA,
        description="Merged after podTemplate onto the TaskManager pods (where the TF nodes run: GPUs go here).",
    )
    submitter_pod_template: dict[str, Any] | None = Field(
        None, json_schema_extra=_TEMPLATE_SCHEMA, description="Merged after podTemplate onto the submitter pod."
    )
    ingress: IngressSpec | None = Field(None, description="Serve the Flink web UI through an Ingress.")
    startup_deadline_seconds: int = Field(
        600,
        ge=10,
        le=86400,
        description=(
            "How long a (re)deployed cluster may take to run the Flink job; past it the job "
            "fails with the pods' problem (image pull errors, unschedulable pods)."
        ),
    )


class RunPolicy(_Model):
    """Limits on the whole run (Kubeflow's runPolicy in spirit)."""

    suspend: bool = Field(False, description="True tears the session cluster down; false brings it back.")
    active_deadline_seconds: int | None = Field(
        None,
        ge=1,
        description="The job fails (DeadlineExceeded) after running this long; the clock restarts on resume.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Delete the TFFlinkJob this long after it succeeded or failed."
    )
    cleanup_policy: Literal["Delete", "Keep", "KeepOnFailure"] = Field(
        "Delete",
        description=(
            "The session cluster after the job ends: Delete it, Keep it (for debugging), "
            "or keep it only when the job failed (KeepOnFailure)."
        ),
    )
