"""Users' pod templates merged onto the pods the operator builds (flink-kubernetes-operator's
``podTemplate`` in spirit), and the checks that keep the operator's own fields its own.

Rules, applied for the base template then the component's (JobManager, TaskManager,
submitter):

- the main container is the template's container named ``main`` or after the component; its
  ``env``, ``envFrom``, ``volumeMounts`` and ``ports`` are appended to ours, its ``resources``
  set key by key over ours (``limits: {nvidia.com/gpu: 1}`` adds a GPU), and its other fields
  (securityContext, workingDir, lifecycle...) are taken as given; other containers are sidecars;
- ``volumes``, ``initContainers``, ``tolerations``, ``imagePullSecrets`` and other lists are
  appended; maps (``nodeSelector``, labels, annotations) merged, ours winning on our keys;
  anything else (affinity, securityContext, priorityClassName, schedulerName...) is the user's.

The operator owns the container's image, command and args, the service account, the restart
policy, its volumes and mount paths and the ``TFFLINK_*``/``FLINK_CONF_DIR``/``POD_IP`` env
names: a template that sets one is refused with the field's path.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ...spec.models import TFFlinkJobSpec

Obj = dict[str, Any]

MAIN = "main"
OWNED_POD_FIELDS = ("serviceAccountName", "serviceAccount", "restartPolicy", "containers[].image")
OWNED_CONTAINER_FIELDS = ("image", "command", "args")
RESERVED_ENV_PREFIX = "TFFLINK_"
RESERVED_ENV = frozenset({"FLINK_CONF_DIR", "POD_IP"})
RESERVED_LABEL_PREFIX = "tfflink.dev/"

# spec.kubernetes field -> the components it applies to
TEMPLATE_FIELDS = {
    "podTemplate": ("jobmanager", "taskmanager", "submitter"),
    "jobManagerPodTemplate": ("jobmanager",),
    "taskManagerPodTemplate": ("taskmanager",),
    "submitterPodTemplate": ("submitter",),
}


def templates_for(spec: TFFlinkJobSpec, component: str) -> list[tuple[str, Obj]]:
    """(field path, template) pairs that apply to ``component``, base first."""
    k8s = spec.kubernetes
    values = {
        "podTemplate": k8s.pod_template,
        "jobManagerPodTemplate": k8s.job_manager_pod_template,
        "taskManagerPodTemplate": k8s.task_manager_pod_template,
        "submitterPodTemplate": k8s.submitter_pod_template,
    }
    return [
        (f"spec.kubernetes.{f}", values[f] or {})
        for f, comps in TEMPLATE_FIELDS.items()
        if component in comps and values[f]
    ]


def _is_main(container: Mapping[str, Any], component: str) -> bool:
    return container.get("name") in (MAIN, component)


def problems(
    path: str, template: Any, component: str, reserved_volumes: set[str], reserved_paths: set[str]
) -> list[str]:
    """What in ``template`` the operator cannot accept, each as ``field.path: message``."""
    if not isinstance(template, Mapping):
        return [f"{path}: must be a pod template (metadata, spec)"]
    out: list[str] = [
        f"{path}.{k}: unknown field (a pod template has metadata and spec)"
        for k in template
        if k not in ("metadata", "spec")
    ]
    meta = template.get("metadata") or {}
    for kind in ("labels", "annotations"):
        for key in (meta.get(kind) or {}) if isinstance(meta, Mapping) else {}:
            if str(key).startswith(RESERVED_LABEL_PREFIX):
                out.append(f"{path}.metadata.{kind}.{key}: the tfflink.dev/ prefix is the operator's")
    spec = template.get("spec") or {}
    if not isinstance(spec, Mapping):
        return out + [f"{path}.spec: must be a pod spec"]
    for key in ("serviceAccountName", "serviceAccount", "restartPolicy", "automountServiceAccountToken"):
        if key in spec:
            out.append(f"{path}.spec.{key}: set by the operator (spec.kubernetes.serviceAccountName for the account)")
    for i, v in enumerate(spec.get("volumes") or []):
        if isinstance(v, Mapping) and v.get("name") in reserved_volumes:
            out.append(f"{path}.spec.volumes[{i}].name: {v.get('name')!r} is the operator's volume")
    for i, c in enumerate(spec.get("containers") or []):
        cpath = f"{path}.spec.containers[{i}]"
        if not isinstance(c, Mapping) or not c.get("name"):
            out.append(f"{cpath}.name: required")
            continue
        if not _is_main(c, component):
            if not c.get("image"):
                out.append(f"{cpath}.image: required for a sidecar (the main container is named 'main')")
            continue
        for key in OWNED_CONTAINER_FIELDS:
            if key in c:
                out.append(f"{cpath}.{key}: set by the operator (spec.kubernetes.image for the image)")
        for j, e in enumerate(c.get("env") or []):
            name = str(e.get("name", "")) if isinstance(e, Mapping) else ""
            if name.startswith(RESERVED_ENV_PREFIX) or name in RESERVED_ENV:
                out.append(f"{cpath}.env[{j}].name: {name} is set by the operator")
        for j, m in enumerate(c.get("volumeMounts") or []):
            if isinstance(m, Mapping) and m.get("mountPath") in reserved_paths:
                out.append(f"{cpath}.volumeMounts[{j}].mountPath: {m.get('mountPath')} is the operator's")
    return out


def _merge_container(ours: Obj, theirs: Mapping[str, Any]) -> None:
    for key, value in theirs.items():
        if key in ("name", *OWNED_CONTAINER_FIELDS):
            continue
        if key in ("env", "envFrom", "volumeMounts", "ports", "volumeDevices"):
            ours[key] = list(ours.get(key) or []) + copy.deepcopy(list(value or []))
        elif key == "resources" and isinstance(value, Mapping):
            res = ours.setdefault("resources", {})
            for part, quantities in value.items():
                if isinstance(quantities, Mapping):
                    res[part] = {**(res.get(part) or {}), **copy.deepcopy(dict(quantities))}
                else:
                    res[part] = copy.deepcopy(quantities)
        else:
            ours[key] = copy.deepcopy(value)


def merge(pod: Obj, template: Mapping[str, Any], component: str) -> Obj:
    """``pod`` (a PodTemplateSpec the operator built) with ``template`` merged in place."""
    meta, their_meta = pod.setdefault("metadata", {}), template.get("metadata") or {}
    for kind in ("labels", "annotations"):
        if their_meta.get(kind):
            meta[kind] = {**their_meta[kind], **(meta.get(kind) or {})}
    spec, theirs = pod.setdefault("spec", {}), template.get("spec") or {}
    for key, value in theirs.items():
        if key == "containers":
            for c in value or []:
                if _is_main(c, component):
                    _merge_container(spec["containers"][0], c)  # ours is always the first
                else:
                    spec["containers"].append(copy.deepcopy(c))
        elif key == "nodeSelector" and isinstance(value, Mapping):
            spec[key] = {**(spec.get(key) or {}), **value}
        elif isinstance(value, list):
            spec[key] = list(spec.get(key) or []) + copy.deepcopy(value)
        else:
            spec[key] = copy.deepcopy(value)
    return pod


def mounts(spec: TFFlinkJobSpec, component: str) -> list[tuple[Obj, Obj]]:
    """(volumeMount, volume) of the main container's mounts from the templates."""
    volumes: dict[str, Obj] = {}
    found: list[Obj] = []
    for _, t in templates_for(spec, component):
        pspec = t.get("spec") or {}
        for v in pspec.get("volumes") or []:
            if isinstance(v, Mapping) and v.get("name"):
                volumes[str(v["name"])] = dict(v)
        for c in pspec.get("containers") or []:
            if isinstance(c, Mapping) and _is_main(c, component):
                found += [dict(m) for m in c.get("volumeMounts") or [] if isinstance(m, Mapping)]
    return [(m, volumes.get(str(m.get("name", "")), {"name": str(m.get("name", ""))})) for m in found]


EPHEMERAL_VOLUMES = ("emptyDir", "configMap", "secret", "downwardAPI", "projected")


def is_uri(path: str) -> bool:
    """``gs://``, ``s3://``, ``hdfs://``...: TF's file systems, passed through untouched."""
    return "://" in path


def in_pod_path(path: str, job_dir: str) -> str:
    """Where a spec path (relative to the job file) is inside the pods."""
    return path if path.startswith("/") else f"{job_dir.rstrip('/')}/{path}"


def persistent_mount(spec: TFFlinkJobSpec, path: str) -> tuple[Obj, Obj] | None:
    """The TaskManagers' (volumeMount, volume) holding ``path`` on a volume that outlives their
    pods (a PersistentVolumeClaim, hostPath, NFS, CSI...), or None."""
    for mount, volume in mounts(spec, "taskmanager"):
        mount_path = str(mount.get("mountPath", ""))
        inside = path == mount_path or path.startswith(mount_path.rstrip("/") + "/")
        if inside and mount_path and not any(k in volume for k in EPHEMERAL_VOLUMES):
            return mount, volume
    return None


def checkpoint_problem(spec: TFFlinkJobSpec, job_dir: str) -> str | None:
    """Why ``checkpointDir`` would not survive a full restart, or None.

    A restart replaces every pod, so a checkpoint must live on a volume that outlives them
    mounted into the TaskManagers, or in an object store. Without restarts (maxRestarts 0) a
    pod-local directory is allowed.
    """
    ckpt = spec.checkpoint_dir
    if not ckpt or is_uri(ckpt) or spec.failover.max_restarts == 0:
        return None
    path = in_pod_path(ckpt, job_dir)
    if persistent_mount(spec, path):
        return None
    return (
        f"spec.checkpointDir: {path} is inside the TaskManager pod and is lost on every full restart; "
        "mount a PersistentVolumeClaim there (spec.kubernetes.podTemplate or taskManagerPodTemplate), "
        "use an object-store URI (gs://, s3://, hdfs://), or set failover.maxRestarts to 0"
    )


def tensorboard_problem(spec: TFFlinkJobSpec, job_dir: str) -> str | None:
    """Why the TensorBoard pod could not read ``tensorboard.logDir``, or None: it must be on a
    volume the TaskManagers mount (the TensorBoard pod mounts it too) or in an object store."""
    tb = spec.tensorboard
    if tb is None or is_uri(tb.log_dir):
        return None
    path = in_pod_path(tb.log_dir, job_dir)
    if persistent_mount(spec, path):
        return None
    return (
        f"spec.tensorboard.logDir: {path} is inside the TaskManager pod, where the TensorBoard pod cannot "
        "read it; mount a PersistentVolumeClaim there (spec.kubernetes.podTemplate or taskManagerPodTemplate) "
        "or use an object-store URI (gs://, s3://)"
    )
