"""TFFlinkJobs on a real node, as a user runs them: `kubectl apply -f` of the examples' Kubernetes
manifests, real JobManager/TaskManager pods from the runtime image, the operator (a pod from its
image, installed by helm) supervising them, checkpoints and models on a PersistentVolumeClaim.

Every test asserts what a user sees: `kubectl get tfj`, the status and its Events, `kubectl logs`
of the TaskManager, the files the job wrote to its volume.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_support import Node

ROOT = Path(__file__).resolve().parents[3]
NS = "jobs"
JOB_TIMEOUT = 420  # one job on a 2-CPU node: ~1.5 min; cold pods and restarts take longer


@pytest.fixture
def k(node_cluster: Node) -> Iterator[Node]:
    """The cluster; after each test its TFFlinkJobs are deleted (a failed test must not keep
    a session cluster holding the node's CPUs)."""
    node_cluster.namespace(NS)
    # Every pod of every job here must pass Pod Security "restricted" (or the job would fail).
    node_cluster.kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted", "--overwrite")
    before = {j["metadata"]["name"] for j in node_cluster.get("tfflinkjobs", ns=NS)}
    yield node_cluster
    for job in node_cluster.get("tfflinkjobs", ns=NS):
        name = job["metadata"]["name"]
        if name not in before:  # the claim (and what jobs wrote there) stays for the next tests
            node_cluster.kubectl(
                "-n", NS, "delete", "tfflinkjob", name, "--ignore-not-found", "--timeout=120s", check=False
            )


def manifest(example: str, **spec: Any) -> list[dict[str, Any]]:
    """The example's k8s.yaml (PVC + TFFlinkJob), the job's spec updated with ``spec``."""
    docs = list(yaml.safe_load_all((ROOT / "examples" / example / "k8s.yaml").read_text()))
    job = docs[-1]
    for key, value in spec.items():
        if key == "name":
            job["metadata"]["name"] = value
        elif isinstance(value, dict) and isinstance(job["spec"].get(key), dict):
            job["spec"][key] = {**job["spec"][key], **value}
        else:
            job["spec"][key] = value
    return docs


def tfj(k: Node, name: str) -> dict[str, Any]:
    return k.get("tfflinkjob", name, NS) or {}


def wait_phase(k: Node, name: str, phase: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    seen: list[str] = []

    def reached() -> dict[str, Any] | None:
        st = tfj(k, name).get("status") or {}
        if not seen or seen[-1] != st.get("phase"):
            seen.append(str(st.get("phase")))
        if st.get("phase") in ("Failed", "Succeeded") and st.get("phase") != phase:
            raise AssertionError(
                f"{name} ended {st.get('phase')} (wanted {phase}): {st.get('message')}\n{diagnose(k, name)}"
            )
        return st if st.get("phase") == phase else None

    return k.wait_for(reached, lambda: f"{name} {phase} (phases seen {seen})\n{diagnose(k, name)}", timeout, interval=2)


def diagnose(k: Node, name: str) -> str:
    pods = k.kubectl("-n", NS, "get", "pods", "-o", "wide", check=False)
    tms = tm_pods(k, name)
    tm_log = k.logs(tms[-1], NS, tail=60) if tms else ""
    return (
        f"{pods}\n--- events ---\n{k.events(NS)[-3000:]}\n--- TaskManager log ---\n{tm_log[-4000:]}\n"
        f"--- operator ---\n{k.operator_logs(tail=40)[-4000:]}"
    )


def tm_pods(k: Node, name: str, attempt: int | None = None) -> list[str]:
    sel = f"tfflink.dev/job={name},tfflink.dev/component=taskmanager"
    if attempt is not None:
        sel += f",tfflink.dev/attempt={attempt}"
    return [p["metadata"]["name"] for p in k.get("pods", ns=NS, selector=sel)]


def claim_dir(k: Node, claim: str = "tfflink-data") -> Path:
    """Where the PersistentVolumeClaim's data lives on this host (a hostPath PV), once bound."""
    pvc = k.wait_for(
        lambda: (c := k.get("pvc", claim, NS)) and c["spec"].get("volumeName") and c, f"PVC {claim} bound", 60
    )
    pv = k.get("pv", pvc["spec"]["volumeName"], None)
    return Path(pv["spec"]["hostPath"]["path"])


def events_of(k: Node, name: str) -> list[dict[str, Any]]:
    out = k.kubectl("-n", NS, "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return list(json.loads(out)["items"])


def delete_job(k: Node, name: str) -> None:
    k.kubectl("-n", NS, "delete", "tfflinkjob", name, "--ignore-not-found", "--timeout=120s")


def printer_columns(k: Node, name: str) -> dict[str, str]:
    out = k.kubectl("-n", NS, "get", "tfj", name).splitlines()
    return dict(zip(out[0].split(), out[1].split(), strict=False))


def code_config_map(k: Node, name: str, files: dict[str, str]) -> None:
    k.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": files})


# --------------------------------------------------------------------------------------------


def test_linear_trains_in_real_pods_and_its_model_predicts(k: Node) -> None:
    """kubectl apply -f examples/linear/k8s.yaml -> Running with per-role counts -> Succeeded;
    the TF node lines are in `kubectl logs` of the TaskManager; the SavedModel on the claim
    predicts."""
    k.apply(manifest("linear"), ns=NS)
    st = wait_phase(k, "linear", "Running")
    assert st["roles"]["worker"]["desired"] == 2 and st["roles"]["ps"]["desired"] == 1
    cols = printer_columns(k, "linear")
    assert cols["PHASE"] == "Running" and cols["WORKERS"] == "2" and cols["PS"] == "1", cols
    (tm,) = tm_pods(k, "linear")
    k.wait_for(lambda: "[worker-0] " in k.logs(tm, NS), "[worker-0] lines in kubectl logs of the TaskManager", 240)
    k.wait_for(
        lambda: (
            (tfj(k, "linear").get("status") or {}).get("roles", {}).get("worker", {}).get("running", 0) >= 1
            or tfj(k, "linear")["status"]["phase"] == "Succeeded"
        ),
        "the AM's per-role counts in the status",
        120,
    )
    pods = {
        p["metadata"]["labels"]["tfflink.dev/component"]
        for p in k.get("pods", ns=NS, selector="tfflink.dev/job=linear")
    }
    assert {"jobmanager", "taskmanager"} <= pods
    pol = k.get("networkpolicy", "linear-network", NS)
    assert pol["spec"]["podSelector"] == {"matchLabels": {"tfflink.dev/job": "linear"}}, pol
    st = wait_phase(k, "linear", "Succeeded")
    assert st["restartCount"] == 0 and st["flinkJobId"]
    data = claim_dir(k) / "linear"
    metrics = json.loads((data / "metrics.json").read_text())
    assert metrics["end_step"] >= 400 and metrics["end_loss"] < metrics["start_loss"] / 10, metrics
    # The exported SavedModel, read back from the volume in a fresh process, predicts.
    check = (
        "import sys, numpy as np, tensorflow as tf\n"
        "sys.path.insert(0, 'examples/linear'); import train\n"
        "m = tf.saved_model.load(sys.argv[1]); x, y = train.shard(10, 7, rows=256)\n"
        "p = m.signatures['serving_default'](x=tf.constant(x))['prediction'].numpy()\n"
        "mse = float(np.mean((p - y[:, 0]) ** 2)); print('mse', mse); assert mse < 0.05, mse\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", check, str(data / "saved_model")], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_saved_model_inference_on_the_node(k: Node) -> None:
    """examples/inference/k8s.yaml scores the image's rows.csv with the model linear exported."""
    k.apply(manifest("inference"), ns=NS)
    wait_phase(k, "linear-predict", "Succeeded")
    out = claim_dir(k) / "predictions"
    rows = [json.loads(line) for f in sorted(out.glob("part-*")) for line in f.read_text().splitlines() if line]
    expected = len((ROOT / "examples" / "inference" / "rows.csv").read_text().splitlines()) - 1
    assert len(rows) == expected and {"id", "prediction"} <= set(rows[0]), rows[:2]
    assert len({r["id"] for r in rows}) == expected


def test_stream_training_on_the_node(k: Node) -> None:
    """examples/stream_train/k8s.yaml: two CSV sources joined in Flink (the JVM data plane where
    the image carries its jars) feed 2 workers + 1 ps; every joined id reaches one worker, exact."""
    k.apply(manifest("stream_train"), ns=NS)
    st = wait_phase(k, "stream-train", "Succeeded")
    assert st["restartCount"] == 0
    reports = [json.loads((claim_dir(k) / "stream-train" / f"worker-{i}.json").read_text()) for i in (0, 1)]
    seen = [i for r in reports for i in r["ids"]]
    assert sorted(seen) == [2**60 + n for n in range(4000)]
    # The data plane's accumulators, read by the operator from Flink's REST API: each row sent once.
    assert st.get("rows", {}).get("sent") == 4000 and st["rows"]["late"] == 0, st.get("rows")


def test_the_seeds_add_example_on_the_node(k: Node) -> None:
    """examples/add/k8s.yaml: the talk's TF1 code, 3 workers and 2 ps."""
    k.apply(manifest("add"), ns=NS)
    st = wait_phase(k, "add", "Succeeded")
    assert st["roles"]["worker"]["desired"] == 3 and st["roles"]["ps"]["desired"] == 2


RESTART_STEPS = 2000


def test_a_deleted_taskmanager_pod_restarts_the_cluster_once_and_training_resumes(k: Node) -> None:
    """Delete the TaskManager pod mid-training: one full restart, restartCount 1, the new cluster
    starts from the checkpoint on the claim (global step past 0), Succeeded."""
    name = "linear-restart"
    k.apply(
        manifest(
            "linear",
            name=name,
            checkpointDir=f"/data/{name}",
            # ~50 s of training: the pod is deleted just past step 100, and the operator replaces
            # the cluster as soon as the pod is being deleted, so the rest is trained after the
            # restart (which is all the test waits for): 1900 steps of margin, not 3900.
            properties={"steps": str(RESTART_STEPS), "step_delay": "0.05"},
            runPolicy={"cleanupPolicy": "Keep"},
        ),
        ns=NS,
    )
    ckpt = claim_dir(k) / name

    def saved_step() -> int:
        text = (ckpt / "checkpoint").read_text() if (ckpt / "checkpoint").exists() else ""
        m = re.search(r'model_checkpoint_path: "[^"]*model\.ckpt-(\d+)"', text)
        return int(m.group(1)) if m else 0

    k.wait_for(
        lambda: saved_step() >= 100,
        lambda: f"a checkpoint past step 100 (now {saved_step()})\n{diagnose(k, name)}",
        300,
    )
    (tm,) = tm_pods(k, name, attempt=1)
    k.kubectl("-n", NS, "delete", "pod", tm, "--wait=false")
    st = wait_phase(k, name, "Succeeded", timeout=600)
    assert st["restartCount"] == 1 and st["attempt"] == 2, st
    assert any(e["reason"] == "PodDeleted" for e in events_of(k, name)), [e["reason"] for e in events_of(k, name)]
    (tm2,) = tm_pods(k, name, attempt=2)
    starts = [int(m.group(1)) for m in re.finditer(r"\[worker-0\] start: global step (\d+)", k.logs(tm2, NS))]
    assert starts and starts[0] >= 100, f"the restarted cluster began at {starts}"
    metrics = json.loads((ckpt / "metrics.json").read_text())
    assert RESTART_STEPS <= metrics["end_step"] <= RESTART_STEPS + 20 and metrics["start_step"] == 0, metrics
    delete_job(k, name)


FAILING = """\
def map_func(context):
    print("about to fail", flush=True)
    raise ValueError("learning rate 42 is too large")
"""


def test_user_code_that_raises_fails_after_exactly_max_restarts_with_its_error(k: Node) -> None:
    """The entry comes from a ConfigMap the job references (spec.kubernetes.codeConfigMap); it
    raises: the job is Failed after exactly maxRestarts restarts, and the Python error line is in
    the status and in an Event."""
    code_config_map(k, "failing-code", {"fail.py": FAILING})
    job = {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": "failing", "namespace": NS},
        "spec": {
            "entry": {"file": "fail.py"},
            "roles": {"worker": {"replicas": 1}},
            "failover": {"maxRestarts": 2, "backoff": {"initialSeconds": 1}},
            "kubernetes": {"codeConfigMap": "failing-code"},
        },
    }
    k.apply(job)
    st = wait_phase(k, "failing", "Failed")
    assert st["restartCount"] == 2, st
    assert "ValueError: learning rate 42 is too large" in st["message"], st["message"]
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and "learning rate 42" in failed["message"]
    k.wait_for(
        lambda: any(
            "learning rate 42 is too large" in e.get("message", "") and e["type"] == "Warning"
            for e in events_of(k, "failing")
        ),
        "a Warning Event with the error line",
        30,
    )
    delete_job(k, "failing")


STREAM_CONSUMER = """\
def map_func(context):
    for batch in context.get_dataset(batch_size=4):
        pass
"""
BAD_CSV = "id,x\n1,0.5\n2,0.25,9\n3,1.5\n"


def test_a_malformed_row_fails_the_job_at_once_not_retried(k: Node) -> None:
    code_config_map(k, "malformed-code", {"consume.py": STREAM_CONSUMER, "rows.csv": BAD_CSV})
    job = {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": "malformed", "namespace": NS},
        "spec": {
            "mode": "stream",
            "entry": {"file": "consume.py"},
            "roles": {"worker": {"replicas": 1}},
            "failover": {"maxRestarts": 3},
            "input": {
                "sources": [
                    {
                        "name": "rows",
                        "csv": {"paths": ["rows.csv"], "header": True},
                        "columns": [{"name": "id", "type": "int64"}, {"name": "x"}],
                    }
                ],
                "onError": "fail",
            },
            "kubernetes": {"codeConfigMap": "malformed-code"},
        },
    }
    k.apply(job)
    st = wait_phase(k, "malformed", "Failed")
    assert st["restartCount"] == 0 and st["reason"] == "NotRetryable", st
    assert "MalformedRow" in st["message"] and "rows.csv:3" in st["message"] and "(not retried)" in st["message"], st
    delete_job(k, "malformed")


def test_kubectl_delete_removes_every_owned_object_and_pod(k: Node) -> None:
    k.apply(
        manifest(
            "linear",
            name="linear-delete",
            checkpointDir="/data/linear-delete",
            properties={"steps": "100000", "step_delay": "0.05"},
        ),
        ns=NS,
    )
    wait_phase(k, "linear-delete", "Running")
    k.kubectl("-n", NS, "delete", "tfflinkjob", "linear-delete", "--timeout=120s")
    kinds = "deployments,replicasets,pods,jobs,configmaps,serviceaccounts,services,roles,rolebindings,networkpolicies"
    k.wait_for(
        lambda: not k.kubectl("-n", NS, "get", kinds, "-l", "tfflink.dev/job=linear-delete", "-o", "name").strip(),
        lambda: "every owned object gone:\n" + k.kubectl("-n", NS, "get", kinds, "-l", "tfflink.dev/job=linear-delete"),
        120,
    )
    assert tfj(k, "linear-delete") == {}


def test_an_invalid_job_is_refused_by_kubectl_apply_with_the_fields_message(k: Node) -> None:
    doc = manifest("linear", name="invalid")[-1]
    doc["metadata"]["namespace"] = NS
    doc["spec"]["roles"]["worker"]["replicas"] = 0
    doc["spec"]["failover"]["heartbeatTimeoutSeconds"] = 0.5
    out = k.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert "spec.roles.worker.replicas" in out and "should be greater than or equal to 1" in out, out
    assert tfj(k, "invalid") == {}


def test_a_pod_local_checkpoint_dir_fails_at_once_with_the_field(k: Node) -> None:
    """A checkpointDir inside the pod would be lost on a restart: Failed at once, not after the
    startup deadline, naming spec.checkpointDir."""
    job = {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": "local-ckpt", "namespace": NS},
        "spec": {
            "entry": {"file": "/opt/tfflink/examples/linear/train.py"},
            "roles": {"worker": {"replicas": 1}},
            "checkpointDir": "/tmp/ckpt",
        },
    }
    k.apply(job)
    st = wait_phase(k, "local-ckpt", "Failed", timeout=60)
    assert st["reason"] == "InvalidSpec" and st["message"].startswith("spec.checkpointDir: /tmp/ckpt"), st
    assert not k.get("pods", ns=NS, selector="tfflink.dev/job=local-ckpt")
    delete_job(k, "local-ckpt")


def test_code_delivered_by_tfflink_submit_kubernetes_with_status_and_logs(k: Node, tmp_path: Path) -> None:
    """A user's own directory (job.yaml + train.py, not in the image) shipped by
    `tfflink submit --kubernetes`; `tfflink status` and `tfflink logs --role worker --index 0`
    read the job on the cluster as `tfflink run` shows it locally."""
    (tmp_path / "train.py").write_text((ROOT / "examples" / "linear" / "train.py").read_text())
    pvc, job = manifest("linear", name="shipped", checkpointDir="/data/shipped", runPolicy={"cleanupPolicy": "Keep"})
    k.apply(pvc, ns=NS)  # the claim its checkpoints go to (the user's own, not shipped)
    job["spec"]["entry"]["file"] = "train.py"  # relative: resolved in the shipped directory
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    env = {"KUBECONFIG": str(k.kubeconfig), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "tfflink"]
    r = subprocess.run(
        [*cli, "submit", "--kubernetes", str(tmp_path / "job.yaml"), "-n", NS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    cm = k.get("configmap", "shipped-code", NS)
    assert "train.py" in cm["data"] and cm["metadata"]["ownerReferences"][0]["name"] == "shipped"
    wait_phase(k, "shipped", "Succeeded")
    r = subprocess.run([*cli, "status", "shipped", "-n", NS], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "Succeeded" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(
        [*cli, "logs", "shipped", "-n", NS, "--role", "worker", "--index", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines and all(ln.startswith("[worker-0] ") for ln in lines), (
        r.stdout[-2000:] + r.stderr
    )
    assert any("exported SavedModel" in ln for ln in lines), lines[-5:]
    delete_job(k, "shipped")
    k.wait_for(lambda: k.get("configmap", "shipped-code", NS) is None, "the code ConfigMap collected with its job", 60)


def test_ps_strategy_succeeds_and_its_tensorboard_serves_the_runs_scalars(k: Node) -> None:
    """examples/ps_strategy/k8s.yaml: chief + 2 workers + ps + evaluator (ParameterServerStrategy)
    Succeeded; the job's TensorBoard (a Deployment + Service it owns, the claim mounted read-only)
    serves the loss the chief and the evaluator wrote, read through the API server's service
    proxy, after the session cluster is torn down; it goes with the job."""
    name, run = "ps-strategy", f"ps-strategy-{uuid.uuid4().hex[:8]}"  # a fresh logDir: this run's scalars
    k.apply(
        manifest(
            "ps_strategy",
            checkpointDir=f"/data/{run}",
            tensorboard={"logDir": f"/data/{run}/logs"},
            properties={"round_delay": "1"},
        ),
        ns=NS,
    )
    st = wait_phase(k, name, "Running")
    assert st["roles"]["chief"]["desired"] == 1 and st["roles"]["evaluator"]["desired"] == 1, st["roles"]
    assert st["tensorboardUrl"] == f"http://{name}-tensorboard.{NS}.svc:6006", st
    uid = tfj(k, name)["metadata"]["uid"]
    for kind in ("deployment", "service"):
        obj = k.get(kind, f"{name}-tensorboard", NS)
        assert [r["uid"] for r in obj["metadata"]["ownerReferences"]] == [uid], (kind, obj["metadata"])
    st = wait_phase(k, name, "Succeeded")
    assert st["restartCount"] == 0, st
    metrics = json.loads((claim_dir(k) / run / "metrics.json").read_text())
    assert metrics["end_step"] == 300 and metrics["end_loss"] < 0.05 * metrics["start_loss"], metrics
    k.wait_for(lambda: not tm_pods(k, name), "the session cluster torn down (cleanupPolicy Delete)", 120)

    proxy = f"/api/v1/namespaces/{NS}/services/{name}-tensorboard:6006/proxy/data/plugin/scalars"

    def tags() -> dict[str, Any] | None:
        try:
            data = json.loads(k.kubectl("get", "--raw", f"{proxy}/tags", check=False))
        except ValueError:
            return None
        return data if "loss" in data.get("train", {}) and "eval_loss" in data.get("eval", {}) else None

    k.wait_for(
        tags,
        lambda: (
            f"TensorBoard's scalar tags: {k.kubectl('get', '--raw', f'{proxy}/tags', check=False)}\n{diagnose(k, name)}"
        ),
        180,
    )
    loss = json.loads(k.kubectl("get", "--raw", f"{proxy}/scalars?run=train&tag=loss"))
    steps, values = [s for _, s, _ in loss], [v for _, _, v in loss]
    assert steps[-1] == 300 and values[-1] == pytest.approx(metrics["end_loss"], rel=1e-4), loss
    delete_job(k, name)
    k.wait_for(
        lambda: (
            not k.get("pods", ns=NS, selector=f"tfflink.dev/job={name}")
            and k.get("service", f"{name}-tensorboard", NS) is None
        ),
        "TensorBoard gone with its job",
        120,
    )
