"""Pure builders of the objects that make up one TFFlinkJob's Flink session cluster.

Each builder returns a plain dict ready for the API server. The order of
:func:`cluster_objects` matters: the TaskManager Deployment comes last, so its presence means
the attempt's objects were all created (the operator's crash-safety check relies on it).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ...runtime.cluster.log_echo import ENV as LOG_STDOUT_ENV
from ...runtime.config import new_token as new_token
from ...spec.models import Mode, Resources, TFFlinkJob, TFFlinkJobSpec
from ...spec.quantity import flink_memory, mib
from . import names as n
from . import podtemplate

Obj = dict[str, Any]

FLINK_HOME = "/opt/flink"
CONFIG_DIR = "/opt/tfflink/config"  # the job's ConfigMap: Flink overrides, log4j, job.yaml
CONF_DIR = "/opt/tfflink/conf"  # FLINK_CONF_DIR: the image's Flink defaults + the overrides
JOB_DIR = "/opt/tfflink/job"  # the job's code (spec.kubernetes.codeConfigMap); relative paths
JOB_FILE = "job.yaml"
TOKEN_DIR = "/opt/tfflink/token"  # the submitter's: the attempt's token Secret
TOKEN_KEY = "token"
CONFIG_VOLUME, CONF_VOLUME, CODE_VOLUME = "tfflink-config", "tfflink-flink-conf", "tfflink-code"
TOKEN_VOLUME = "tfflink-token"
WORK_DIR = "/opt/tfflink/work"  # the image's working directory; HOME too (~/.keras, ~/.java)
# The root filesystem is read-only: these are the places Flink (blobs, io.tmp.dirs, PyFlink's
# python archives and gateway log), TF (/tmp) and the user's code (cwd, HOME) write, each an
# emptyDir of its own.
SCRATCH = {"tfflink-tmp": "/tmp", "tfflink-log": f"{FLINK_HOME}/log", "tfflink-work": WORK_DIR}
RESERVED_VOLUMES = {CONFIG_VOLUME, CONF_VOLUME, CODE_VOLUME, TOKEN_VOLUME, *SCRATCH}
RESERVED_PATHS = {CONFIG_DIR, CONF_DIR, JOB_DIR, TOKEN_DIR, *SCRATCH.values()}
UID = 9999  # the runtime image's flink user
# Pod Security "restricted": the image's non-root user, no privilege escalation, no capabilities.
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
TERMINATION_LOG = "/dev/termination-log"

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
    return ref.job.spec.task_manager_shape()


def resources(res: Resources, nodes: Sequence[tuple[float, str]] = ()) -> Obj:
    """Requests for Flink's process plus the TF node processes it hosts; memory limited to that.

    The TF nodes are children of the TaskManager outside Flink's memory budget, so they are
    added here; no CPU limit (a throttled TF node misses heartbeats), only a request.
    """
    cpu = res.cpu + sum(c for c, _ in nodes)
    memory = mib(res.memory) + sum(mib(m) for _, m in nodes)
    return {"requests": {"cpu": f"{round(cpu, 3):g}", "memory": f"{memory}Mi"}, "limits": {"memory": f"{memory}Mi"}}


def node_resources(spec: TFFlinkJobSpec) -> list[tuple[float, str]]:
    """(cpu, memory) of the TF nodes one TaskManager may host: the biggest ``slots`` of them.

    Flink, not the operator, places the nodes in slots, so every TaskManager is sized for the
    worst case. The AM's slot runs no TF process; inference mode runs none at all.
    """
    if spec.mode is Mode.INFERENCE:
        return []
    _, slots = spec.task_manager_shape()
    nodes = [(r.resources.cpu, r.resources.memory) for r in spec.roles.specs().values() for _ in range(r.replicas)]
    return sorted(nodes, key=lambda n: (mib(n[1]), n[0]), reverse=True)[:slots]


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
    """Our Flink keys (merged over the image's defaults at pod start), log4j and the job file."""
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


OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "tfflink-operator"}  # the chart's operator pods


def network_policy(ref: JobRef) -> Obj:
    """Only the job's own pods reach its Flink and TF ports; the operator reaches REST and the AM.

    TF's gRPC servers and Flink's RPC have no authentication of their own: this is their
    boundary. Egress stays open (object stores, HDFS). Needs a CNI that enforces policies.
    """
    own = {"podSelector": {"matchLabels": {n.JOB: ref.name}}}
    ui_from: list[dict[str, Any]] = (
        [{"namespaceSelector": {}}] if ref.job.spec.kubernetes.ingress else []
    )  # the ingress controller
    operator = {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(ref, n.network_policy(ref.name), n.common_labels(ref.name)),
        "spec": {
            "podSelector": {"matchLabels": {n.JOB: ref.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [own]},
                # Flink REST on the JobManager; the AM's /status on a TaskManager (a free port).
                {"from": [operator, *ui_from], "ports": [{"protocol": "TCP", "port": n.FLINK_REST_PORT}]},
                {"from": [operator], "ports": [{"protocol": "TCP", "port": 1024, "endPort": 65535}]},
            ],
        },
    }


def ingress(ref: JobRef) -> Obj | None:
    """The Flink web UI behind an Ingress, when the spec asks for one."""
    ing = ref.job.spec.kubernetes.ingress
    if ing is None:
        return None
    meta = _meta(ref, n.jobmanager_service(ref.name), n.common_labels(ref.name))
    if ing.annotations:
        meta["annotations"] = dict(ing.annotations)
    backend = {"service": {"name": n.jobmanager_service(ref.name), "port": {"number": n.FLINK_REST_PORT}}}
    spec: Obj = {
        "rules": [{"host": ing.host, "http": {"paths": [{"path": ing.path, "pathType": "Prefix", "backend": backend}]}}]
    }
    if ing.class_name:
        spec["ingressClassName"] = ing.class_name
    if ing.tls_secret_name:
        spec["tls"] = [{"hosts": [ing.host], "secretName": ing.tls_secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def _pod_spec(ref: JobRef, container: Obj, *, with_token: bool) -> Obj:
    k8s = ref.job.spec.kubernetes
    volumes: list[Obj] = [
        {"name": CONFIG_VOLUME, "configMap": {"name": n.config_map(ref.name)}},
        {"name": CONF_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}},
        *({"name": name, "emptyDir": {}} for name in SCRATCH),
    ]
    if k8s.code_config_map:
        volumes.append({"name": CODE_VOLUME, "configMap": {"name": k8s.code_config_map}})
    spec: Obj = {
        "serviceAccountName": pod_service_account(ref),
        "automountServiceAccountToken": with_token,
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [container],
        "volumes": volumes,
    }
    return spec | _placement(ref)


def _placement(ref: JobRef) -> Obj:
    """Where the job's pods may run and pull from: spec.kubernetes' selectors and secrets."""
    k8s = ref.job.spec.kubernetes
    spec: Obj = {}
    if k8s.node_selector:
        spec["nodeSelector"] = dict(k8s.node_selector)
    if k8s.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in k8s.tolerations]
    if k8s.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in k8s.image_pull_secrets]
    return spec


def _container(ref: JobRef, name: str, command: list[str], res: Obj | None) -> Obj:
    """A Flink pod's main container; ``command`` runs after the Flink config dir is written."""
    k8s = ref.job.spec.kubernetes
    env = [
        {"name": "FLINK_CONF_DIR", "value": CONF_DIR},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "TFFLINK_JOB", "value": ref.name},
        {"name": "TFFLINK_RENDEZVOUS", "value": rendezvous_uri(ref)},
        {"name": "HOME", "value": WORK_DIR},
    ] + [{"name": e.name, "value": e.value} for e in k8s.env]
    mounts = [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": CONF_VOLUME, "mountPath": CONF_DIR},
        *({"name": name, "mountPath": path} for name, path in SCRATCH.items()),
    ]
    if k8s.code_config_map:
        mounts.append({"name": CODE_VOLUME, "mountPath": JOB_DIR, "readOnly": True})
    c: Obj = {
        "name": name,
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "args": ["tfflink", "flink-exec", "--config-dir", CONFIG_DIR, "--", *command],
        "env": env,
        "volumeMounts": mounts,
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
    }
    if res is not None:
        c["resources"] = res
    return c


def _template(ref: JobRef, labels: dict[str, str], pod_spec: Obj, component: str) -> Obj:
    """The pod template of ``component``: ours, then the user's templates merged in."""
    k8s = ref.job.spec.kubernetes
    meta: Obj = {"labels": {**k8s.pod_labels, **labels}}
    if k8s.pod_annotations:
        meta["annotations"] = dict(k8s.pod_annotations)
    pod = {"metadata": meta, "spec": pod_spec}
    for _, template in podtemplate.templates_for(ref.job.spec, component):
        podtemplate.merge(pod, template, component)
    return pod


def spec_problems(spec: TFFlinkJobSpec) -> list[str]:
    """What the operator refuses in a spec the CRD schema accepted (templates, storage)."""
    out: list[str] = []
    for component in n.CLUSTER_COMPONENTS:
        for path, template in podtemplate.templates_for(spec, component):
            out += podtemplate.problems(path, template, component, RESERVED_VOLUMES, RESERVED_PATHS)
    out = list(dict.fromkeys(out))  # the base template is checked once per component
    found = (podtemplate.checkpoint_problem(spec, JOB_DIR), podtemplate.tensorboard_problem(spec, JOB_DIR))
    return out + [p for p in found if p]


def _deployment(ref: JobRef, component: str, attempt: int, replicas: int, container: Obj) -> Obj:
    labels = n.cluster_labels(ref.name, ref.uid, component, attempt)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(ref, n.deployment(ref.name, component, attempt), labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            # Only the TaskManagers talk to the API server (the AM's and nodes' rendezvous).
            "template": _template(
                ref, labels, _pod_spec(ref, container, with_token=component == n.TASKMANAGER), component
            ),
        },
    }


def _tcp_probe(port: int, period: int) -> Obj:
    return {"tcpSocket": {"port": port}, "periodSeconds": period, "failureThreshold": 3}


def jobmanager_deployment(ref: JobRef, attempt: int) -> Obj:
    """One JobManager (session mode); ready when its REST port answers."""
    c = _container(
        ref,
        n.JOBMANAGER,
        [f"{FLINK_HOME}/bin/jobmanager.sh", "start-foreground"],
        resources(ref.job.spec.flink.job_manager),
    )
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
    spec = ref.job.spec
    count, _ = task_managers(ref)
    c = _container(
        ref,
        n.TASKMANAGER,
        [f"{FLINK_HOME}/bin/taskmanager.sh", "start-foreground", "-Dtaskmanager.host=$(POD_IP)"],
        resources(spec.flink.task_manager, node_resources(spec)),
    )
    c["env"].append({"name": LOG_STDOUT_ENV, "value": "/proc/1/fd/1"})  # node lines -> kubectl logs
    c["ports"] = [{"name": "rpc", "containerPort": n.FLINK_TM_RPC_PORT}]
    c["readinessProbe"] = _tcp_probe(n.FLINK_TM_RPC_PORT, 5)
    return _deployment(ref, n.TASKMANAGER, attempt, count, c)


def token_secret(ref: JobRef, attempt: int, token: str) -> Obj:
    """The attempt's AM token (``new_token()``): every call to the AM must carry it.

    Only the submitter mounts it; the token reaches the AM and the TF nodes inside the Flink
    job it submits. Per attempt, so a token seen by an old attempt's pods opens nothing new;
    deleted with the attempt (and garbage-collected with the job).
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(
            ref, n.token_secret(ref.name, attempt), n.cluster_labels(ref.name, ref.uid, n.SUBMITTER, attempt)
        ),
        "stringData": {TOKEN_KEY: token},
    }


def submitter_job(ref: JobRef, attempt: int, restarts_done: int = 0) -> Obj:
    """Runs ``tfflink submit`` once against this attempt's JobManager; failures are the operator's.

    ``restarts_done`` is the budget already spent, so the AM of this attempt only restarts the
    TF cluster as often as the job has left. The Flink job id goes to the termination message.
    """
    labels = n.cluster_labels(ref.name, ref.uid, n.SUBMITTER, attempt)
    command = [
        "tfflink",
        "submit",
        f"{CONFIG_DIR}/{JOB_FILE}",
        "--base-dir",
        JOB_DIR,
        "--flink-address",
        f"{n.jobmanager_service(ref.name)}:{n.FLINK_REST_PORT}",
        "--rendezvous",
        rendezvous_uri(ref),
        "--restarts-done",
        str(restarts_done),
        "--workdir",
        "/tmp/tfflink-submit",
        "--result-file",
        TERMINATION_LOG,
        "--token-file",
        f"{TOKEN_DIR}/{TOKEN_KEY}",
    ]
    res = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    container = _container(ref, n.SUBMITTER, command, res)
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"  # a failure's last lines
    container["volumeMounts"].append({"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True})
    pod_spec = _pod_spec(ref, container, with_token=False)
    next(v for v in pod_spec["volumes"] if v["name"] == "tfflink-tmp")["emptyDir"]["sizeLimit"] = "256Mi"
    secret = {"secretName": n.token_secret(ref.name, attempt), "defaultMode": 0o440}  # group: fsGroup
    pod_spec["volumes"].append({"name": TOKEN_VOLUME, "secret": secret})
    pod_spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(ref, n.submitter(ref.name, attempt), labels),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": ref.job.spec.kubernetes.startup_deadline_seconds,
            "template": _template(ref, labels, pod_spec, n.SUBMITTER),
        },
    }


def tensorboard_log_dir(ref: JobRef) -> str | None:
    """``spec.tensorboard.logDir`` as the TF nodes see it (an object-store URI as given)."""
    tb = ref.job.spec.tensorboard
    if tb is None:
        return None
    return tb.log_dir if podtemplate.is_uri(tb.log_dir) else podtemplate.in_pod_path(tb.log_dir, JOB_DIR)


def tensorboard_url(ref: JobRef) -> str | None:
    """The in-cluster address of the job's TensorBoard, None without spec.tensorboard."""
    if ref.job.spec.tensorboard is None:
        return None
    return f"http://{n.tensorboard(ref.name)}.{ref.namespace}.svc:{n.TENSORBOARD_PORT}"


def tensorboard_deployment(ref: JobRef) -> Obj | None:
    """TensorBoard over the job's logDir, per job (kept across restarts and after the job ends).

    It mounts, read-only, the TaskManagers' volume that holds the logDir (spec_problems refuses
    a logDir on no such volume); a ReadWriteOnce claim ties it to their node.
    """
    log_dir = tensorboard_log_dir(ref)
    if log_dir is None or ref.job.spec.tensorboard is None:
        return None
    labels = n.tensorboard_labels(ref.name, ref.uid)
    port = n.TENSORBOARD_PORT
    volumes: list[Obj] = [{"name": "tfflink-tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts: list[Obj] = [{"name": "tfflink-tmp", "mountPath": "/tmp"}]
    shared = None if podtemplate.is_uri(log_dir) else podtemplate.persistent_mount(ref.job.spec, log_dir)
    if shared:
        mount, volume = shared
        mounts.append({**mount, "readOnly": True})
        volumes.append(copy.deepcopy(volume))
    k8s = ref.job.spec.kubernetes
    args = ["tensorboard", "--logdir", log_dir, "--host", "0.0.0.0", "--port", str(port), "--reload_interval", "5"]
    container: Obj = {
        "name": n.TENSORBOARD,
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "args": args,
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/data/logdir", "port": port}, "periodSeconds": 5},
        "resources": resources(ref.job.spec.tensorboard.resources),
        "volumeMounts": mounts,
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
    }
    pod_spec: Obj = {
        "serviceAccountName": pod_service_account(ref),
        "automountServiceAccountToken": False,
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [container],
        "volumes": volumes,
    } | _placement(ref)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(ref, n.tensorboard(ref.name), labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},  # one pod on a ReadWriteOnce claim at a time
            "template": {"metadata": {"labels": {**k8s.pod_labels, **labels}}, "spec": pod_spec},
        },
    }


def tensorboard_service(ref: JobRef) -> Obj | None:
    """``kubectl port-forward svc/<job>-tensorboard 6006`` reaches it; so do the namespace's pods."""
    if ref.job.spec.tensorboard is None:
        return None
    port = n.TENSORBOARD_PORT
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(ref, n.tensorboard(ref.name), n.tensorboard_labels(ref.name, ref.uid)),
        "spec": {
            "type": "ClusterIP",
            "selector": {n.JOB: ref.name, n.COMPONENT: n.TENSORBOARD},
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def tensorboard_network_policy(ref: JobRef) -> Obj | None:
    """TensorBoard's port open to every pod of the namespace (the job's policy admits only the
    job's own pods); it serves summaries read-only, nothing the TF servers would expose."""
    if ref.job.spec.tensorboard is None:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(ref, n.tensorboard(ref.name), n.tensorboard_labels(ref.name, ref.uid)),
        "spec": {
            "podSelector": {"matchLabels": {n.JOB: ref.name, n.COMPONENT: n.TENSORBOARD}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": n.TENSORBOARD_PORT}]}],
        },
    }


def job_objects(ref: JobRef) -> list[Obj]:
    """Objects that live as long as the TFFlinkJob (created once, kept across restarts)."""
    sa = service_account(ref)
    objs = [config_map(ref), rendezvous_config_map(ref)]
    objs += [sa] if sa else []
    objs += [role(ref), role_binding(ref), jobmanager_service(ref), network_policy(ref)]
    ing = ingress(ref)
    return objs + ([ing] if ing else [])


def tensorboard_objects(ref: JobRef) -> list[Obj]:
    """The job's TensorBoard, made to follow ``spec.tensorboard`` at each deploy (none without it)."""
    found = (tensorboard_service(ref), tensorboard_network_policy(ref), tensorboard_deployment(ref))
    return [o for o in found if o]


def cluster_objects(ref: JobRef, attempt: int) -> list[Obj]:
    """One attempt's session cluster, TaskManagers last (their presence marks completion)."""
    return [jobmanager_deployment(ref, attempt), taskmanager_deployment(ref, attempt)]
