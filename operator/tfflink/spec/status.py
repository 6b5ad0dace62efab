"""The TFFlinkJob status as the operator writes it: phase, conditions, counters and intent.

The operator writes the status *before* it acts on the cluster. ``attempt`` and ``intent``
carry what it is about to do, so an operator that crashed in the middle of a restart reads them
back and finishes the same restart: it neither counts the failure twice nor creates a second
session cluster.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import Enum
from typing import Literal

from pydantic import Field

from .base import _Model


class Phase(str, Enum):
    """Phase of a whole job: the one list of names the CLI, the operator, the CR and metrics use.

    ::

        Pending -> Deploying -> Running -> Succeeded
                       ^           |  \\
                       |           v   -> Failed
                       +------ Restarting (when restarts remain)
        any non-final phase <-> Suspended (operator only)
    """

    PENDING = "Pending"
    DEPLOYING = "Deploying"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)

    def __str__(self) -> str:  # "Running", not "Phase.RUNNING", in logs, labels and %s
        return self.value


ConditionType = Literal["Created", "Running", "Restarting", "Suspended", "Succeeded", "Failed"]


def now_rfc3339(now: datetime | None = None) -> str:
    """Kubernetes' time format: UTC, seconds, trailing Z."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime:
    """Inverse of :func:`now_rfc3339` (also accepts fractional seconds and offsets)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class Condition(_Model):
    """One observed aspect of the job, Kubernetes-style."""

    type: ConditionType = Field(description="Which aspect this condition describes.")
    status: Literal["True", "False", "Unknown"] = Field(description="Whether it holds now.")
    reason: str = Field("", description="CamelCase reason of the last transition.")
    message: str = Field("", description="Human-readable detail of the last transition.")
    last_transition_time: str | None = Field(
        None, json_schema_extra={"format": "date-time"}, description="When status last changed."
    )


class RoleStatus(_Model):
    """Node counts of one TF role."""

    desired: int = Field(0, ge=0, description="Nodes the spec asks for.")
    running: int = Field(0, ge=0, description="Nodes the AM reports running.")
    succeeded: int = Field(0, ge=0, description="Nodes whose function returned.")
    failed: int = Field(0, ge=0, description="Nodes that failed in this cluster attempt.")


MAX_STEP = 2**62


def _count(value: object) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_STEP else None


class ProgressStatus(_Model):
    """How far training is, as the TF nodes last reported it (``context.report``)."""

    step: int | None = Field(None, ge=0, description="The job's latest training step (the highest any node reported).")
    steps_per_second: float | None = Field(None, ge=0, description="Steps per second over the last 30 seconds.")
    checkpoint_step: int | None = Field(None, ge=0, description="Step of the last checkpoint a node reported.")

    @classmethod
    def from_am(cls, value: object) -> ProgressStatus | None:
        """The AM's ``/status`` ``progress``, type-checked field by field (None when absent or
        not an object; a field of the wrong type is dropped): the AM's answer is not trusted."""
        if not isinstance(value, dict):
            return None
        rate = value.get("stepsPerSecond")
        steps_per_second: float | None = None
        if isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate) and rate >= 0:
            steps_per_second = round(float(rate), 3)
        return cls(
            step=_count(value.get("step")),
            steps_per_second=steps_per_second,
            checkpoint_step=_count(value.get("checkpointStep")),
        )


class Intent(_Model):
    """What the operator is about to do; written before it does it."""

    action: Literal["Deploy", "Restart", "Teardown"] = Field(description="The pending action.")
    attempt: int = Field(ge=0, description="The session cluster attempt the action leads to.")
    reason: str = Field("", description="Why (the failure, suspend, spec change...).")
    not_before: str | None = Field(
        None, json_schema_extra={"format": "date-time"}, description="Backoff: not before this time."
    )


class RowsStatus(_Model):
    """What became of the rows the JVM data plane handled in the current attempt (its Flink job)."""

    sent: int = Field(0, ge=0, description="Rows sent to the TF nodes.")
    replayed: int = Field(0, ge=0, description="Rows sent again to a restarted node (counted in sent too).")
    late: int = Field(0, ge=0, description="Rows that arrived after the TF function returned: not trained on.")
    malformed: int = Field(0, ge=0, description="Rows skipped as malformed (input.onError: skip).")
    input_guarantee: Literal["exactly-once", "at-least-once"] | None = Field(
        None, description="exactly-once when every TF node restored and saved at the feeder's checkpoints."
    )


class TFFlinkJobStatus(_Model):
    """Observed state of a TFFlinkJob."""

    phase: Phase = Field(Phase.PENDING, description="Where the job is in its lifecycle.")
    reason: str = Field("", description="CamelCase reason of the current phase.")
    message: str = Field("", description="Human-readable detail of the current phase.")
    conditions: list[Condition] = Field(default_factory=list, description="Observed conditions.")
    restart_count: int = Field(0, ge=0, description="Full restarts done after failures.")
    attempt: int = Field(
        0, ge=0, description="Number of the current session cluster (its objects carry it as a label)."
    )
    observed_generation: int = Field(0, ge=0, description="metadata.generation last reconciled.")
    flink_job_id: str | None = Field(None, description="Id of the Flink job in the current cluster.")
    task_managers: int = Field(0, ge=0, description="TaskManagers of the current cluster.")
    roles: dict[str, RoleStatus] = Field(default_factory=dict, description="Per-role node counts.")
    progress: ProgressStatus | None = Field(None, description="Training progress the TF nodes reported.")
    rows: RowsStatus | None = Field(None, description="Row counts of a JVM-fed stream, for the current attempt.")
    tensorboard_url: str | None = Field(
        None,
        description="In-cluster URL of the job's TensorBoard (spec.tensorboard); "
        "from outside: kubectl port-forward svc/<job>-tensorboard 6006.",
    )
    start_time: str | None = Field(
        None, json_schema_extra={"format": "date-time"}, description="When the job (or its resume) started."
    )
    deploy_time: str | None = Field(
        None,
        json_schema_extra={"format": "date-time"},
        description="When the current cluster was deployed (the startup deadline counts from here).",
    )
    completion_time: str | None = Field(
        None, json_schema_extra={"format": "date-time"}, description="When the job succeeded or failed."
    )
    spec_hash: str | None = Field(None, description="Hash of the spec the current cluster was built from.")
    intent: Intent | None = Field(None, description="The action in progress (crash safety).")

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if any."""
        return next((c for c in self.conditions if c.type == type_), None)

    def set_condition(self, type_: ConditionType, status: bool, reason: str, message: str, now: str) -> None:
        """Set a condition, moving lastTransitionTime only when its status flips."""
        new: Literal["True", "False"] = "True" if status else "False"
        old = self.condition(type_)
        if old is None:
            self.conditions.append(
                Condition(type=type_, status=new, reason=reason, message=message, last_transition_time=now)
            )
            return
        if old.status != new:
            old.last_transition_time = now
        old.status, old.reason, old.message = new, reason, message

    @classmethod
    def from_body(cls, status: object) -> TFFlinkJobStatus:
        """Read the status of a stored object, ignoring fields others (kopf) keep there."""
        if not isinstance(status, dict):
            return cls()
        known = {f.alias or n for n, f in cls.model_fields.items()}
        return cls.model_validate({k: v for k, v in status.items() if k in known})

    def to_body(self) -> dict[str, object]:
        """The status as stored: camelCase, unset optional fields as null (a merge patch clears them)."""
        return self.model_dump(by_alias=True, mode="json")
