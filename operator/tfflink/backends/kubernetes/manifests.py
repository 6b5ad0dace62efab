"""Pure builders of the objects that make up one TFFlinkJob's Flink session cluster.

Each builder returns a plain dict ready for the API server. The order of
:func:`cluster_objects` matters: the TaskManager Deployment comes last, so its presence means
the attempt's objects were all created (the operator's crash-safety check relies on it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from ...spec.models import Resources, TFFlinkJob
from . import names as n

Obj = dict[str, Any]

FLINK_HOME = "/opt/flink"
CONF_DIR = "/opt/tfflink/conf"
JOB_DIR = "/opt/tfflink/job"
JOB_FILE = "job.yaml"

LOG4J = """\
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""


@dataclass(frozen=True)
class JobRef:
    """A stored TFFlinkJob: its identity (for owner references) and its validated spec."""

    name: str
    namespace: str
    uid: str
    job: TFFlinkJob


def owner_reference(ref: JobRef) -> Obj:
    """Makes the TFFlinkJob the controller of an object: deleting it garbage-collects the object."""
    return {
        "apiVersion": f"{n.GROUP}/{n.VERSION}",
        "kind": "TFFlinkJob",
        "name": ref.name,
        "uid": ref.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(ref: JobRef, name: str, labels: dict[str, str]) -> Obj:
    return {
        "name": name,
        "namespace": ref.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(ref)],
    }


def task_managers(ref: JobRef) -> tuple[int, int]:
    """(TaskManagers, slots each): enough slots for the AM, every ps and every worker."""
    spec = ref.job.spec
    needed = spec.slots_needed()
    per_tm = spec.flink.task_slots or needed
    return math.ceil(needed / per_tm), per_tm


_UNITS = {"": ("", ""), "k": ("k", "Ki"), "m": ("m", "Mi"), "g": ("g", "Gi"),
          "Ki": ("k", "Ki"), "Mi": ("m", "Mi"), "Gi": ("g", "Gi")}  # fmt: skip


def _memory(value: str, flavour: int) -> str:
    m = re.fullmatch(r"([0-9]+)(k|m|g|Ki|Mi|Gi)?", value)
    if m is None:  # the spec's pattern makes this unreachable
        raise ValueError(f"bad memory size {value!r}")
    number, unit = m.group(1), m.group(2) or ""
    return number + _UNITS[unit][flavour]


def flink_memory(value: str) -> str:
    """Spec memory ("2Gi", "1600m") in Flink's units (binary k/m/g): "2g", "1600m"."""
    return _memory(value, 0)


def k8s_memory(value: str) -> str:
    """Spec memory in Kubernetes quantities: "1600m" is 1600 MiB, not 1.6 bytes."""
    return _memory(value, 1)


def resources(res: Resources) -> Obj:
    """Container resources: requests = limits, so Flink's process size is what it gets."""
    q = {"cpu": f"{res.cpu:g}", "memory": k8s_memory(res.memory)}
    return {"requests": dict(q), "limits": dict(q)}


def flink_config(ref: JobRef) -> dict[str, str]:
    """Flink's config.yaml: addresses, ports, slots, memory; then the user's keys win."""
    spec = ref.job.spec
    _, slots = task_managers(ref)
    svc = n.jobmanager_service(ref.name)
    conf = {
        "jobmanager.rpc.address": svc,
        "jobmanager.rpc.port": str(n.FLINK_RPC_PORT),
        "jobmanager.bind-host": "0.0.0.0",
        "rest.address": svc,
        "rest.port": str(n.FLINK_REST_PORT),
        "rest.bind-address": "0.0.0.0",
        "blob.server.port": str(n.FLINK_BLOB_PORT),
        "taskmanager.bind-host": "0.0.0.0",
        "taskmanager.rpc.port": str(n.FLINK_TM_RPC_PORT),
        "taskmanager.numberOfTaskSlots": str(slots),
        "jobmanager.memory.process.size": flink_memory(spec.flink.job_manager.memory),
        "taskmanager.memory.process.size": flink_memory(spec.flink.task_manager.memory),
        "parallelism.default": "1",
        # Failures go to the operator, which restarts the whole cluster (full restart).
        "restart-strategy.type": "none",
    }
    conf.update(spec.flink.configuration)
    return conf


def job_document(ref: JobRef) -> str:
    """The TFFlinkJob as the submitter reads it (JSON is YAML)."""
    doc = {
        "apiVersion": ref.job.api_version,
        "kind": ref.job.kind,
        "metadata": {"name": ref.name, "namespace": ref.namespace},
        "spec": ref.job.spec.model_dump(by_alias=True, mode="json", exclude_none=True),
    }
    return json.dumps(doc, indent=2, sort_keys=True)


def config_map(ref: JobRef) -> Obj:
    """Flink's configuration directory and the job file."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(ref, n.config_map(ref.name), n.common_labels(ref.name)),
        "data": {
            "config.yaml": yaml.safe_dump(flink_config(ref), sort_keys=True),
            "log4j-console.properties": LOG4J,
            JOB_FILE: job_document(ref),
        },
    }


def rendezvous_config_map(ref: JobRef) -> Obj:
    """Where the AM publishes its address (``configmap://ns/name``); starts empty."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(ref, n.rendezvous(ref.name), n.common_labels(ref.name)),
        "data": {},
    }


def rendezvous_uri(ref: JobRef) -> str:
    return f"configmap://{ref.namespace}/{n.rendezvous(ref.name)}"


def pod_service_account(ref: JobRef) -> str:
    """The ServiceAccount the Flink pods run as (the user's, or the one the operator creates)."""
    return ref.job.spec.kubernetes.service_account_name or n.service_account(ref.name)


def service_account(ref: JobRef) -> Obj | None:
    """The Flink pods' own ServiceAccount, unless the spec names an existing one."""
    if ref.job.spec.kubernetes.service_account_name:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(ref, n.service_account(ref.name), n.common_labels(ref.name)),
    }


def role(ref: JobRef) -> Obj:
    """Least privilege: read and write the job's rendezvous ConfigMap, nothing else."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(ref, n.role(ref.name), n.common_labels(ref.name)),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [n.rendezvous(ref.name)],
                "verbs": ["get", "patch", "update"],
            }
        ],
    }


def role_binding(ref: JobRef) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(ref, n.role(ref.name), n.common_labels(ref.name)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": n.role(ref.name)},
        "subjects": [{"kind": "ServiceAccount", "name": pod_service_account(ref), "namespace": ref.namespace}],
    }


def jobmanager_service(ref: JobRef) -> Obj:
    """Stable address of whichever attempt's JobManager is up (RPC, blob, REST/UI)."""
    selector = {n.JOB: ref.name, n.COMPONENT: n.JOBMANAGER}
    ports = [("rpc", n.FLINK_RPC_PORT), ("blob", n.FLINK_BLOB_PORT), ("rest", n.FLINK_REST_PORT)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(ref, n.jobmanager_service(ref.name), n.common_labels(ref.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": p, "port": port, "targetPort": port, "protocol": "TCP"} for p, port in ports],
        },
    }


def _pod_spec(ref: JobRef, container: Obj, *, with_token: bool) -> Obj:
    k8s = ref.job.spec.kubernetes
    spec: Obj = {
        "serviceAccountName": pod_service_account(ref),
        "automountServiceAccountToken": with_token,
        "containers": [container],
        "volumes": [{"name": "tfflink-config", "configMap": {"name": n.config_map(ref.name)}}],
    }
    if k8s.node_selector:
        spec["nodeSelector"] = dict(k8s.node_selector)
    if k8s.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in k8s.tolerations]
    if k8s.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in k8s.image_pull_secrets]
    return spec


def _container(ref: JobRef, name: str, args: list[str], res: Resources | None) -> Obj:
    k8s = ref.job.spec.kubernetes
    env = [
        {"name": "FLINK_CONF_DIR", "value": CONF_DIR},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "TFFLINK_JOB", "value": ref.name},
        {"name": "TFFLINK_RENDEZVOUS", "value": rendezvous_uri(ref)},
    ] + [{"name": e.name, "value": e.value} for e in k8s.env]
    c: Obj = {
        "name": name,
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "args": args,
        "env": env,
        "volumeMounts": [
            {"name": "tfflink-config", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "tfflink-config", "mountPath": JOB_DIR, "readOnly": True},
        ],
    }
    if res is not None:
        c["resources"] = resources(res)
    return c


def _template(ref: JobRef, labels: dict[str, str], pod_spec: Obj) -> Obj:
    k8s = ref.job.spec.kubernetes
    meta: Obj = {"labels": {**k8s.pod_labels, **labels}}
    if k8s.pod_annotations:
        meta["annotations"] = dict(k8s.pod_annotations)
    return {"metadata": meta, "spec": pod_spec}


def _deployment(ref: JobRef, component: str, attempt: int, replicas: int, container: Obj) -> Obj:
    labels = n.cluster_labels(ref.name, component, attempt)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(ref, n.deployment(ref.name, component, attempt), labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            "template": _template(ref, labels, _pod_spec(ref, container, with_token=True)),
        },
    }


def _tcp_probe(port: int, period: int) -> Obj:
    return {"tcpSocket": {"port": port}, "periodSeconds": period, "failureThreshold": 3}


def jobmanager_deployment(ref: JobRef, attempt: int) -> Obj:
    """One JobManager (session mode); ready when its REST port answers."""
    c = _container(
        ref, n.JOBMANAGER, [f"{FLINK_HOME}/bin/jobmanager.sh", "start-foreground"],
        ref.job.spec.flink.job_manager,
    )  # fmt: skip
    c["ports"] = [
        {"name": "rpc", "containerPort": n.FLINK_RPC_PORT},
        {"name": "blob", "containerPort": n.FLINK_BLOB_PORT},
        {"name": "rest", "containerPort": n.FLINK_REST_PORT},
    ]
    c["readinessProbe"] = _tcp_probe(n.FLINK_REST_PORT, 5)
    c["livenessProbe"] = {**_tcp_probe(n.FLINK_RPC_PORT, 10), "initialDelaySeconds": 30}
    return _deployment(ref, n.JOBMANAGER, attempt, 1, c)


def taskmanager_deployment(ref: JobRef, attempt: int) -> Obj:
    """The TaskManagers: together they hold one slot per TF node plus one for the AM."""
    count, _ = task_managers(ref)
    c = _container(
        ref, n.TASKMANAGER,
        [f"{FLINK_HOME}/bin/taskmanager.sh", "start-foreground", "-Dtaskmanager.host=$(POD_IP)"],
        ref.job.spec.flink.task_manager,
    )  # fmt: skip
    c["ports"] = [{"name": "rpc", "containerPort": n.FLINK_TM_RPC_PORT}]
    c["readinessProbe"] = _tcp_probe(n.FLINK_TM_RPC_PORT, 5)
    return _deployment(ref, n.TASKMANAGER, attempt, count, c)


def submitter_job(ref: JobRef, attempt: int) -> Obj:
    """Runs ``tfflink submit`` once against this attempt's JobManager; failures are the operator's."""
    labels = n.cluster_labels(ref.name, n.SUBMITTER, attempt)
    args = [
        "tfflink", "submit", f"{JOB_DIR}/{JOB_FILE}",
        "--flink-address", f"{n.jobmanager_service(ref.name)}:{n.FLINK_REST_PORT}",
        "--rendezvous", rendezvous_uri(ref),
    ]  # fmt: skip
    container = _container(ref, n.SUBMITTER, args, None)
    container["resources"] = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    pod_spec = _pod_spec(ref, container, with_token=False)
    pod_spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(ref, n.submitter(ref.name, attempt), labels),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": ref.job.spec.kubernetes.startup_deadline_seconds,
            "template": _template(ref, labels, pod_spec),
        },
    }


def job_objects(ref: JobRef) -> list[Obj]:
    """Objects that live as long as the TFFlinkJob (created once, kept across restarts)."""
    sa = service_account(ref)
    objs = [config_map(ref), rendezvous_config_map(ref)]
    objs += [sa] if sa else []
    return objs + [role(ref), role_binding(ref), jobmanager_service(ref)]


def cluster_objects(ref: JobRef, attempt: int) -> list[Obj]:
    """One attempt's session cluster, TaskManagers last (their presence marks completion)."""
    return [jobmanager_deployment(ref, attempt), taskmanager_deployment(ref, attempt)]
