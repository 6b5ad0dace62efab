"""Names and labels of the objects owned by one TFFlinkJob.

Per-job objects (ConfigMaps, RBAC, the JobManager Service) keep one name for the job's life.
The TensorBoard Deployment and Service are per job too (no attempt label: restarts keep them).
Per-attempt objects (the JobManager/TaskManager Deployments, the submitter Job and their pods)
carry the attempt in their name and in the ``tfflink.dev/attempt`` label: a full restart
deletes every attempt but the current one, and events of an old attempt's pods are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

# The CRD's names, defined once in spec.crd (re-exported: n.GROUP, n.VERSION, n.PLURAL).
from ...spec.crd import GROUP as GROUP
from ...spec.crd import PLURAL as PLURAL
from ...spec.crd import VERSION as VERSION

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "tfflink-operator"
APP_NAME = "app.kubernetes.io/name"
JOB = "tfflink.dev/job"
COMPONENT = "tfflink.dev/component"
ATTEMPT = "tfflink.dev/attempt"
JOB_UID = "tfflink.dev/job-uid"  # per-attempt objects and pods: which TFFlinkJob (a name can be reused)


def attempt_of(labels: Mapping[str, str]) -> int:
    """The attempt in an object's ``tfflink.dev/attempt`` label; -1 when missing or not a number."""
    try:
        return int(labels.get(ATTEMPT, "-1"))
    except ValueError:
        return -1


JOBMANAGER, TASKMANAGER, SUBMITTER = "jobmanager", "taskmanager", "submitter"
CLUSTER_COMPONENTS = (JOBMANAGER, TASKMANAGER, SUBMITTER)
TENSORBOARD = "tensorboard"  # per job, outside CLUSTER_COMPONENTS: no attempt, no pod templates

FLINK_RPC_PORT, FLINK_BLOB_PORT, FLINK_REST_PORT, FLINK_TM_RPC_PORT = 6123, 6124, 8081, 6122
TENSORBOARD_PORT = 6006
RENDEZVOUS_KEY = "am-address"


def common_labels(job: str) -> dict[str, str]:
    """Labels on every object the operator creates for ``job``."""
    return {APP_NAME: "tfflink", MANAGED_BY: MANAGED_BY_VALUE, JOB: job}


def cluster_labels(job: str, uid: str, component: str, attempt: int) -> dict[str, str]:
    """Labels of a per-attempt object (and of its pods). ``uid`` is the TFFlinkJob's: pods are
    owned by ReplicaSets and Jobs, so this label is how they are told apart from the pods of a
    deleted job of the same name that are still terminating."""
    return {**common_labels(job), COMPONENT: component, ATTEMPT: str(attempt), JOB_UID: uid}


def tensorboard_labels(job: str, uid: str) -> dict[str, str]:
    """Labels of the job's TensorBoard Deployment, Service and pod: per job, so no attempt."""
    return {**common_labels(job), COMPONENT: TENSORBOARD, JOB_UID: uid}


def config_map(job: str) -> str:
    return f"{job}-config"


def rendezvous(job: str) -> str:
    return f"{job}-rendezvous"


def service_account(job: str) -> str:
    return f"{job}-flink"


def role(job: str) -> str:
    return f"{job}-rendezvous"


def network_policy(job: str) -> str:
    return f"{job}-network"


def jobmanager_service(job: str) -> str:
    return f"{job}-jobmanager"


def tensorboard(job: str) -> str:
    """The TensorBoard Deployment, its Service and its NetworkPolicy."""
    return f"{job}-tensorboard"


def deployment(job: str, component: str, attempt: int) -> str:
    return f"{job}-{component}-{attempt}"


def submitter(job: str, attempt: int) -> str:
    return f"{job}-submit-{attempt}"


def token_secret(job: str, attempt: int) -> str:
    return f"{job}-token-{attempt}"


def selector(job: str, *, keep_attempt: int | None = None) -> str:
    """Label selector of the job's per-attempt objects, optionally all but one attempt."""
    sel = f"{JOB}={job},{ATTEMPT}"
    return sel if keep_attempt is None else f"{sel},{ATTEMPT}!={keep_attempt}"
