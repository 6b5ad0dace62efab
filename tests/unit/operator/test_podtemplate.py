"""Users' pod templates merged onto the operator's pods; the operator's own fields refused."""

from __future__ import annotations

from typing import Any

from op_fixtures import job_ref

from tfflink.backends.kubernetes import manifests as m

GPU_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"team": "search"}, "annotations": {"a": "b"}},
    "spec": {
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ckpt"}}],
        "containers": [
            {
                "name": "main",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "env": [{"name": "AWS_SECRET", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}}],
                "envFrom": [{"secretRef": {"name": "creds"}}],
                "resources": {"limits": {"nvidia.com/gpu": 1}},
            },
            {"name": "sidecar", "image": "busybox"},
        ],
        "nodeSelector": {"accelerator": "a100"},
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "priorityClassName": "high",
        "affinity": {"nodeAffinity": {"x": 1}},
        "initContainers": [{"name": "fetch", "image": "busybox"}],
    },
}


def test_task_manager_template_adds_volume_secret_gpu_and_placement() -> None:
    ref = job_ref(checkpointDir="/data/ckpt", kubernetes={"taskManagerPodTemplate": GPU_TEMPLATE})
    pod = m.taskmanager_deployment(ref, 1)["spec"]["template"]
    spec, main = pod["spec"], pod["spec"]["containers"][0]
    assert main["name"] == "taskmanager" and main["args"][1] == "flink-exec"  # ours, untouched
    assert {"name": "data", "mountPath": "/data"} in main["volumeMounts"]
    assert any(e["name"] == "AWS_SECRET" and "valueFrom" in e for e in main["env"])
    assert any(e["name"] == "FLINK_CONF_DIR" for e in main["env"])  # ours kept
    assert main["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1 and "memory" in main["resources"]["limits"]
    assert [c["name"] for c in spec["containers"]] == ["taskmanager", "sidecar"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "ckpt"}} in spec["volumes"]
    assert spec["nodeSelector"] == {"accelerator": "a100"} and spec["priorityClassName"] == "high"
    assert spec["initContainers"][0]["name"] == "fetch" and spec["affinity"] == {"nodeAffinity": {"x": 1}}
    assert pod["metadata"]["labels"]["team"] == "search" and pod["metadata"]["labels"]["tfflink.dev/job"] == "mnist"
    # Only the TaskManagers get it; the JobManager keeps its own shape.
    jm = m.jobmanager_deployment(ref, 1)["spec"]["template"]["spec"]
    assert "nodeSelector" not in jm and len(jm["containers"]) == 1
    assert m.spec_problems(ref.job.spec) == []


def test_base_template_applies_to_every_pod_then_the_component_one() -> None:
    ref = job_ref(
        kubernetes={
            "podTemplate": {"spec": {"schedulerName": "volcano"}},
            "submitterPodTemplate": {"spec": {"schedulerName": "default-scheduler"}},
        }
    )
    assert m.jobmanager_deployment(ref, 1)["spec"]["template"]["spec"]["schedulerName"] == "volcano"
    assert m.submitter_job(ref, 1)["spec"]["template"]["spec"]["schedulerName"] == "default-scheduler"


def test_operator_fields_are_refused_by_path() -> None:
    bad = {
        "metadata": {"labels": {"tfflink.dev/job": "x"}},
        "spec": {
            "serviceAccountName": "root",
            "volumes": [{"name": "tfflink-config", "emptyDir": {}}],
            "containers": [
                {
                    "name": "main",
                    "image": "evil",
                    "command": ["sh"],
                    "env": [{"name": "TFFLINK_RENDEZVOUS", "value": "x"}, {"name": "FLINK_CONF_DIR", "value": "/"}],
                    "volumeMounts": [{"name": "v", "mountPath": "/opt/tfflink/config"}],
                },
                {"name": "side"},
            ],
        },
    }
    problems = m.spec_problems(job_ref(kubernetes={"podTemplate": bad}).job.spec)
    p = "spec.kubernetes.podTemplate"
    for want in (
        f"{p}.metadata.labels.tfflink.dev/job:",
        f"{p}.spec.serviceAccountName:",
        f"{p}.spec.volumes[0].name:",
        f"{p}.spec.containers[0].image:",
        f"{p}.spec.containers[0].command:",
        f"{p}.spec.containers[0].env[0].name: TFFLINK_RENDEZVOUS",
        f"{p}.spec.containers[0].env[1].name: FLINK_CONF_DIR",
        f"{p}.spec.containers[0].volumeMounts[0].mountPath:",
        f"{p}.spec.containers[1].image: required",
    ):
        assert any(x.startswith(want) for x in problems), (want, problems)
    assert len(problems) == len(set(problems))  # the base template is reported once, not per pod


def test_a_pod_local_checkpoint_dir_is_refused_when_a_restart_needs_it() -> None:
    (problem,) = m.spec_problems(job_ref(checkpointDir="/tmp/ckpt").job.spec)
    assert problem.startswith("spec.checkpointDir: /tmp/ckpt is inside the TaskManager pod")
    # an emptyDir dies with the pod too
    tmpl = {
        "spec": {
            "volumes": [{"name": "s", "emptyDir": {}}],
            "containers": [{"name": "main", "volumeMounts": [{"name": "s", "mountPath": "/tmp"}]}],
        }
    }
    assert m.spec_problems(job_ref(checkpointDir="/tmp/ckpt", kubernetes={"taskManagerPodTemplate": tmpl}).job.spec)
    # relative paths resolve in the job directory, which is in the pod
    assert m.spec_problems(job_ref(checkpointDir="ckpt").job.spec)[0].startswith(
        "spec.checkpointDir: /opt/tfflink/job/ckpt"
    )
    # allowed: object stores, no restarts, no checkpoint, a persistent volume
    for ok in (
        {"checkpointDir": "gs://bucket/ckpt"},
        {"checkpointDir": "/tmp/c", "failover": {"maxRestarts": 0}},
        {},
        {"checkpointDir": "/data/ckpt", "kubernetes": {"taskManagerPodTemplate": GPU_TEMPLATE}},
    ):
        assert m.spec_problems(job_ref(**ok).job.spec) == [], ok


def test_runtime_paths_pass_uris_through() -> None:
    from tfflink.runtime.config import RuntimeConfig

    cfg = RuntimeConfig(job={}, rendezvous="file:///x", submission="s", base_dir="/opt/tfflink/job")
    assert cfg.resolve("gs://bucket/ckpt") == "gs://bucket/ckpt"
    assert cfg.resolve("s3://b/k") == "s3://b/k" and cfg.resolve("ckpt") == "/opt/tfflink/job/ckpt"
