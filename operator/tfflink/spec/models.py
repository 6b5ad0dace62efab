"""Pydantic models of the TFFlinkJob resource: the single source of truth.

The CLI, the runtime, the operator and the generated CRD all read these models, so a
field added here is available (and validated) everywhere at once.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .base import _Model
from .io import InputSpec, OutputSpec, SavedModelSpec
from .kubernetes import KubernetesSpec, RunPolicy, encoded_size
from .quantity import MEMORY_PATTERN

API_VERSION = "tfflink.dev/v1alpha1"
KIND = "TFFlinkJob"

# spec.properties reach every TF node process in one environment variable (TFFLINK_NODE),
# and Linux refuses a single one over 128 KiB (E2BIG at every launch): half of that at most.
MAX_PROPERTIES_BYTES = 64 << 10
MAX_FLINK_CONFIGURATION_BYTES = 64 << 10

_ADDRESSES = "the Flink cluster's addresses and ports are tfflink's, its clients and network rules rely on them"
# Flink keys the runtime sets itself, each with the reason a job may not override it.
RUNTIME_FLINK_KEYS: dict[str, str] = {
    **dict.fromkeys(
        (
            "jobmanager.rpc.address",
            "jobmanager.rpc.port",
            "jobmanager.rpc.bind-port",
            "jobmanager.bind-host",
            "rest.address",
            "rest.port",
            "rest.bind-address",
            "rest.bind-port",
            "blob.server.port",
            "taskmanager.host",
            "taskmanager.bind-host",
            "taskmanager.rpc.port",
            "taskmanager.rpc.bind-port",
            "taskmanager.data.port",
            "taskmanager.data.bind-port",
        ),
        _ADDRESSES,
    ),
    "restart-strategy": "failover is tfflink's (spec.failover), Flink must not restart tasks on its own",
    "taskmanager.numberoftaskslots": "set spec.flink.taskSlots",
    "jobmanager.memory.process.size": "set spec.flink.jobManager.memory",
    "taskmanager.memory.process.size": "set spec.flink.taskManager.memory",
    "python.executable": "the TF nodes run with the runtime's own Python",
    "python.client.executable": "the TF nodes run with the runtime's own Python",
    "parallelism.default": "each operator's parallelism is tfflink's (a role's replicas)",
}


def runtime_flink_key(key: str) -> str | None:
    """Why ``key`` is the runtime's (None if a job may set it); prefixes cover sub-keys."""
    k = key.strip().lower()
    for owned, reason in RUNTIME_FLINK_KEYS.items():
        if k == owned or k.startswith(owned + "."):
            return reason
    return None


class Mode(str, Enum):
    """How the workers get their data."""

    BATCH = "batch"
    STREAM = "stream"
    INFERENCE = "inference"


class Entry(_Model):
    """Where the user's TF function lives: a .py file (relative to the job file) or a module."""

    file: str | None = Field(None, description="Path of a .py file, relative to the job file.")
    module: str | None = Field(None, description="Importable module name (instead of file).")
    function: str = Field(
        "map_func",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the function called with the TFContext.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Entry:
        if bool(self.file) == bool(self.module):
            raise ValueError("set exactly one of 'file' or 'module'")
        return self


class NodeResources(_Model):
    """What one TF node process needs; it runs inside a TaskManager, outside Flink's own memory.

    On Kubernetes the TaskManager container's requests and limits add this per node it hosts;
    TF's thread pools are sized from ``cpu``.
    """

    memory: str = Field("1g", pattern=MEMORY_PATTERN, description="Memory of one node process, e.g. 1g or 768Mi.")
    cpu: float = Field(0.1, gt=0, le=256, description="CPU cores requested for one node process.")


class RoleSpec(_Model):
    """One TF role: the number of nodes, which is also its Flink operator's parallelism."""

    replicas: int = Field(1, ge=0, le=512, description="Number of nodes of this role.")
    resources: NodeResources = Field(default_factory=NodeResources)


class WorkerRoleSpec(RoleSpec):
    """The worker role: a job without workers computes nothing."""

    replicas: int = Field(1, ge=1, le=512, description="Number of worker nodes.")


class SingleRoleSpec(RoleSpec):
    """A role of at most one node (chief, evaluator); absent means none."""

    replicas: int = Field(0, ge=0, le=1, description="0 or 1 node.")


# The TF task types tfflink runs, in the order TF_CONFIG and the status list them.
TF_ROLES = ("chief", "worker", "ps", "evaluator")


class Roles(_Model):
    """The TF roles of the job, as TF_CONFIG names them.

    Workers compute, ps hold the parameters, the chief coordinates (ParameterServerStrategy's
    ClusterCoordinator, MultiWorkerMirroredStrategy's checkpoint writer) and its end ends the
    job, the evaluator evaluates checkpoints beside training (outside the training cluster).
    """

    chief: SingleRoleSpec = Field(
        default_factory=SingleRoleSpec,
        description="The chief (0 or 1): with one, its end ends the job and the other roles are stopped.",
    )
    worker: WorkerRoleSpec = Field(description="Workers (at least one).")
    ps: RoleSpec = Field(default_factory=lambda: RoleSpec(replicas=0), description="Parameter servers.")
    evaluator: SingleRoleSpec = Field(
        default_factory=SingleRoleSpec,
        description="A sidecar evaluator (0 or 1): it reads checkpoints and is not in the training cluster.",
    )

    def specs(self) -> dict[str, RoleSpec]:
        """Every TF role by name, in TF_ROLES order (roles of 0 nodes included)."""
        return {role: getattr(self, role) for role in TF_ROLES}

    def sizes(self) -> dict[str, int]:
        """Role -> node count, in TF_ROLES order: the AM's roster and each operator's parallelism."""
        return {role: spec.replicas for role, spec in self.specs().items()}


class Resources(_Model):
    """Resources of one process the operator runs: a Flink JobManager or TaskManager, TensorBoard."""

    memory: str = Field("1600m", pattern=MEMORY_PATTERN, description="Process memory, e.g. 1600m or 2Gi.")
    cpu: float = Field(0.25, gt=0, le=256, description="CPU cores requested (no CPU limit is set).")


class FlinkSpec(_Model):
    """Shape of the Flink session cluster the job runs on."""

    task_slots: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Slots per TaskManager; default: enough for the AM and every TF node in one TaskManager.",
    )
    job_manager: Resources = Field(default_factory=Resources)
    task_manager: Resources = Field(default_factory=lambda: Resources(memory="2g", cpu=0.25))
    configuration: dict[str, str] = Field(
        default_factory=dict,
        max_length=512,
        description=(
            "Extra Flink configuration (config.yaml keys). Keys tfflink sets itself (addresses, ports, "
            "restart strategy, slots, process memory, Python, default parallelism) are refused."
        ),
    )

    @field_validator("configuration")
    @classmethod
    def _no_runtime_keys(cls, conf: dict[str, str]) -> dict[str, str]:
        refused = [f"{k!r}: {reason}" for k in conf if (reason := runtime_flink_key(k))]
        if refused:
            raise ValueError("keys set by tfflink, not the job: " + "; ".join(refused))
        size = encoded_size(conf)
        if size > MAX_FLINK_CONFIGURATION_BYTES:
            raise ValueError(f"{size} bytes in all, over the limit of {MAX_FLINK_CONFIGURATION_BYTES}")
        return conf


class TensorBoardSpec(_Model):
    """TensorBoard over the job's summaries: ``tfflink run`` starts one on a loopback port; on
    Kubernetes the operator runs one per job (Service ``<job>-tensorboard``, port 6006)."""

    log_dir: str = Field(
        min_length=1,
        description=(
            "Where the TF nodes write summaries (context.get_tensorboard_dir); relative to the job file. "
            "On Kubernetes: on a volume the TaskManagers mount (the TensorBoard pod mounts it read-only) "
            "or an object-store URI."
        ),
    )
    # TensorBoard imports TensorFlow for its file systems: about 400 MiB resident before any data.
    resources: Resources = Field(
        default_factory=lambda: Resources(memory="1Gi", cpu=0.05),
        description="The TensorBoard pod's resources on Kubernetes (memory is also its limit).",
    )


class Backoff(_Model):
    """Delay between restarts: initial * multiplier**n, capped at max."""

    initial_seconds: float = Field(1.0, ge=0, le=3600, description="Delay before the first restart.")
    max_seconds: float = Field(30.0, ge=0, le=86400, description="Longest delay between restarts.")
    multiplier: float = Field(2.0, ge=1, le=10, description="Factor by which the delay grows per restart.")


class FailoverSpec(_Model):
    """What happens when a node fails: the whole TF cluster restarts, up to maxRestarts times."""

    policy: Literal["FullRestart"] = Field("FullRestart", description="Only FullRestart exists.")
    max_restarts: int = Field(3, ge=0, le=1000, description="Restarts before the job fails.")
    backoff: Backoff = Field(default_factory=Backoff)
    heartbeat_interval_seconds: float = Field(
        1.0, gt=0, le=60, description="How often each TF node tells the AM it is alive."
    )
    heartbeat_timeout_seconds: float = Field(
        10.0, gt=0, le=3600, description="A node silent this long counts as failed."
    )
    registration_timeout_seconds: float = Field(
        300.0, gt=0, le=86400, description="How long the AM waits for every node to register."
    )

    @model_validator(mode="after")
    def _timeout_above_interval(self) -> FailoverSpec:
        if self.heartbeat_timeout_seconds <= self.heartbeat_interval_seconds:
            raise ValueError("heartbeatTimeoutSeconds: must be greater than heartbeatIntervalSeconds")
        if self.backoff.max_seconds < self.backoff.initial_seconds:
            raise ValueError("backoff.maxSeconds: must be >= backoff.initialSeconds")
        return self


class TFFlinkJobSpec(_Model):
    """What the user wants run."""

    mode: Mode = Field(
        Mode.BATCH,
        description="batch: TF reads its own data; stream: rows from Flink (spec.input); "
        "inference: a SavedModel scores spec.input inside Flink, no TF cluster.",
    )
    entry: Entry | None = Field(None, description="The TF function (batch, stream); inference mode runs none.")
    roles: Roles
    properties: dict[str, str] = Field(
        default_factory=dict,
        max_length=1000,
        description=(
            "Strings handed to the function (context.get_property); at most 64 KiB in all (they reach "
            "every node process in its environment). Pass bigger data as files."
        ),
    )
    checkpoint_dir: str | None = Field(
        None,
        min_length=1,
        description="Where TF writes checkpoints (context.get_checkpoint_dir); relative to the job file.",
    )
    tensorboard: TensorBoardSpec | None = Field(None, description="TensorBoard over the job's summaries.")
    flink: FlinkSpec = Field(default_factory=FlinkSpec)
    failover: FailoverSpec = Field(default_factory=FailoverSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    input: InputSpec | None = Field(None, description="Rows fed to the workers (stream, inference).")
    output: OutputSpec | None = Field(None, description="File sink for what the workers write.")
    saved_model: SavedModelSpec | None = Field(None, description="The model of inference mode.")

    @field_validator("properties")
    @classmethod
    def _properties_fit(cls, props: dict[str, str]) -> dict[str, str]:
        size = encoded_size(props)
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(
                f"{size} bytes in all, over the limit of {MAX_PROPERTIES_BYTES} (they reach every "
                "node process in one environment variable; pass bigger data as a file)"
            )
        return props

    @model_validator(mode="after")
    def _mode_fields(self) -> TFFlinkJobSpec:
        if self.mode is Mode.INFERENCE:
            for name, value in (("savedModel", self.saved_model), ("input", self.input), ("output", self.output)):
                if value is None:
                    raise ValueError(f"{name}: required field is missing (mode: inference)")
            for role in ("chief", "ps", "evaluator"):
                if self.roles.sizes()[role]:
                    raise ValueError(f"roles.{role}.replicas: must be 0 in inference mode (the model is in-process)")
            assert self.input is not None
            if self.input.process is not None and self.input.process.batch:
                raise ValueError("input.process.batch: only in stream mode (it runs inside the TF workers)")
            return self
        if self.entry is None:
            raise ValueError(f"entry: required field is missing (mode: {self.mode.value})")
        if self.mode is Mode.STREAM and self.input is None:
            raise ValueError("input: required field is missing (mode: stream)")
        return self

    def slots_needed(self) -> int:
        """One slot per TF node of every role plus one for the AM: every role runs at once.

        Inference mode runs no TF cluster: one slot per scoring subtask (worker replicas).
        """
        if self.mode is Mode.INFERENCE:
            return self.roles.worker.replicas
        return 1 + sum(self.roles.sizes().values())

    def task_manager_shape(self) -> tuple[int, int]:
        """(TaskManagers, slots each) of a session cluster with every slot this job needs."""
        needed = self.slots_needed()
        per_tm = self.flink.task_slots or needed
        return -(-needed // per_tm), per_tm


class ObjectMeta(_Model):
    """The part of Kubernetes metadata a job file uses; the rest is kept but not checked."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=45,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            description="DNS-1123 label; short enough to prefix the owned objects' names.",
        ),
    ]
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TFFlinkJob(_Model):
    """The whole resource as written in job.yaml or stored by Kubernetes."""

    api_version: Literal["tfflink.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["TFFlinkJob"]
    metadata: ObjectMeta
    spec: TFFlinkJobSpec
    status: dict[str, Any] | None = None
