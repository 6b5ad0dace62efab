"""``tfflink submit --kubernetes`` and ``tfflink status`` against the real control plane.

Uses the tier's module fixtures from conftest.py (this module gets its own control plane, chart
and operator process): the code ConfigMap and the TFFlinkJob are created through the real API
server, the operator mounts the ConfigMap into the pods, the garbage collector deletes it with
the job, RBAC refusals come back as one line, and a refused apply leaves nothing behind.
(kwok runs no containers, so ``tfflink logs`` and ``tfflink ui`` are checked for their one-line
errors here; their pure parts are unit-tested in tests/unit/test_cli_kube.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from controlplane import kubeconfig
from cp_harness import NS, Cluster
from tools import ROOT

from tests.support.cli import sigint_default
from tests.support.net import free_port
from tests.support.waiting import wait_for
from tfflink.backends.kubernetes import manifests
from tfflink.backends.kubernetes import names as n

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(120)]


def cli_env(kc: Path) -> dict[str, str]:
    env = {key: v for key, v in os.environ.items() if not key.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(kc)
    return env


def tfflink(kc: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it: KUBECONFIG points at the tier's kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "tfflink", *args], cwd=ROOT, env=cli_env(kc), capture_output=True, text=True, timeout=60
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("tfflink: warning:")]
    assert len(lines) == 1 and lines[0].startswith("tfflink: error: "), r.stderr
    return lines[0]


def config_map(k: Cluster, name: str) -> dict | None:
    out = k.kubectl("-n", NS, "get", "configmap", name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def copy_job(tmp: Path, name: str, **spec: object) -> Path:
    """examples/linear under another name (and spec changes) in a directory of its own."""
    tmp.mkdir()
    shutil.copy(ROOT / "examples/linear/train.py", tmp / "train.py")
    doc = yaml.safe_load((ROOT / "examples/linear/job.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(spec)
    (tmp / "job.yaml").write_text(yaml.safe_dump(doc))
    return tmp / "job.yaml"


def test_submit_delivers_the_code_and_applies_the_job(k: Cluster) -> None:
    kc = k.cp.kubeconfig
    r = tfflink(kc, "submit", "--kubernetes", "examples/linear/job.yaml", "-n", NS)
    assert r.returncode == 0, r.stderr
    assert (
        "configmap/linear-code created" in r.stdout
        and f"tfflinkjob.tfflink.dev/linear created in namespace {NS}" in r.stdout
    )
    assert f"tfflink status linear -n {NS}" in r.stdout and f"tfflink logs linear -n {NS} -f" in r.stdout
    assert "the operator will refuse this job: spec.checkpointDir" in r.stderr  # said up front

    cm = config_map(k, "linear-code")
    assert cm is not None
    assert {"train.py", "job.yaml"} <= set(cm["data"])
    assert cm["data"]["train.py"] == (ROOT / "examples/linear/train.py").read_text()
    job = k.job("linear")
    assert job is not None and job["spec"]["kubernetes"]["codeConfigMap"] == "linear-code"
    assert job["spec"]["entry"]["file"] == "train.py"
    assert cm["metadata"]["ownerReferences"] == [
        {"apiVersion": "tfflink.dev/v1alpha1", "kind": "TFFlinkJob", "name": "linear", "uid": job["metadata"]["uid"]}
    ]
    assert cm["metadata"]["labels"][n.JOB] == "linear"

    # the operator's verdict, through `tfflink status` (text and json)
    phase = wait_for(lambda: k.status("linear").get("phase"), "linear has a phase")
    r = tfflink(kc, "status", "linear", "-n", NS)
    assert r.returncode == 0, r.stderr
    assert f"Phase:         {phase}" in r.stdout and "Code:          configmap/linear-code" in r.stdout, r.stdout
    r = tfflink(kc, "status", "linear", "-n", NS, "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"]["phase"] == phase

    # again: the ConfigMap is replaced, the job configured, the owner kept
    r = tfflink(kc, "submit", "--kubernetes", "examples/linear/job.yaml", "-n", NS)
    assert r.returncode == 0, r.stderr
    assert "configmap/linear-code replaced" in r.stdout and "tfflinkjob.tfflink.dev/linear configured" in r.stdout
    cm2 = config_map(k, "linear-code")
    assert cm2 is not None and cm2["metadata"]["ownerReferences"] == cm["metadata"]["ownerReferences"]

    assert "not found in namespace" in one_line_error(tfflink(kc, "status", "nope", "-n", NS))
    if phase == "Failed":  # the operator refused the example's pod-local checkpointDir: no cluster
        assert "has no TaskManager pods" in one_line_error(tfflink(kc, "logs", "linear", "-n", NS))
        assert "has no JobManager Service linear-jobmanager" in one_line_error(tfflink(kc, "ui", "linear", "-n", NS))


def test_code_is_mounted_in_the_pods_and_collected_with_the_job(k: Cluster, tmp_path: Path) -> None:
    job_file = copy_job(tmp_path / "mounted", "mounted", failover={"maxRestarts": 0})
    r = tfflink(k.cp.kubeconfig, "submit", "--kubernetes", str(job_file), "-n", NS)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    k.wait_phase("mounted", "Deploying")
    deps = wait_for(lambda: k.owned("mounted", n.TASKMANAGER, kinds="deployments"), "the TaskManager Deployment")
    pod = deps[0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[manifests.CODE_VOLUME]["configMap"]["name"] == "mounted-code", volumes
    mounts = pod["containers"][0]["volumeMounts"]
    assert any(m["name"] == manifests.CODE_VOLUME and m["mountPath"] == "/opt/tfflink/job" for m in mounts), mounts

    # kwok runs no containers (no kubelet serves logs or port-forwards): still one line each, quickly
    wait_for(
        lambda: [p for p in k.owned("mounted", n.TASKMANAGER) if p["status"].get("phase") == "Running"],
        "a Running TaskManager pod (kwok)",
    )
    kc = k.cp.kubeconfig
    assert one_line_error(tfflink(kc, "logs", "mounted", "-n", NS)).startswith("tfflink: error: Kubernetes API: ")
    line = one_line_error(tfflink(kc, "ui", "mounted", "-n", NS, "--port", str(free_port())))
    assert line.startswith("tfflink: error: kubectl port-forward ended (1): "), line
    # -f keeps trying the pod (saying why once) until Ctrl-C, which ends it quietly
    follow = subprocess.Popen(
        [sys.executable, "-m", "tfflink", "logs", "mounted", "-n", NS, "-f"],
        cwd=ROOT,
        env=cli_env(kc),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,  # noqa: PLW1509 - restores SIGINT in the child only
    )
    # Ctrl-C once it follows (its first warning; a loaded machine may take seconds to get there:
    # a Ctrl-C during start-up is an interrupted command, 130) and has retried the pod twice more.
    lines: list[str] = []
    warned = threading.Event()

    def read_stderr() -> None:
        assert follow.stderr is not None
        for line in follow.stderr:
            lines.append(line)
            if line.startswith("tfflink: warning: pod mounted-taskmanager-1-"):
                warned.set()

    with follow:  # closes its pipes (a leaked one is a ResourceWarning, an error here)
        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        if not warned.wait(60):
            follow.kill()
        assert warned.is_set(), "".join(lines)
        time.sleep(5)  # the follow retries every 2 s: it must not say the same thing again
        follow.send_signal(signal.SIGINT)
        follow.wait(15)
        reader.join(5)
        assert follow.stdout is not None
        out = follow.stdout.read()
    err = "".join(lines)
    assert follow.returncode == 0 and out == "" and "Traceback" not in err, err
    assert err.count("tfflink: warning: pod mounted-taskmanager-1-") == 1, err

    k.kubectl("-n", NS, "delete", "tfflinkjob", "mounted", "--wait=true", "--timeout=60s")
    wait_for(lambda: config_map(k, "mounted-code") is None, "the garbage collector deletes mounted-code", 60)


def test_too_big_a_directory_is_refused_with_nothing_created(k: Cluster, tmp_path: Path) -> None:
    job_file = copy_job(tmp_path / "big", "big")
    (job_file.parent / "rows.csv").write_text("0.123456789,0.987654321\n" * 50_000)  # 1.2 MiB
    line = one_line_error(tfflink(k.cp.kubeconfig, "submit", "--kubernetes", str(job_file), "-n", NS))
    assert "over the 1.0 MiB one ConfigMap can hold" in line and "rows.csv (1.1 MiB)" in line, line
    assert config_map(k, "big-code") is None and k.job("big") is None


def test_rbac_refusals_are_one_line_and_leave_nothing_behind(k: Cluster, tmp_path: Path) -> None:
    """A user who may write ConfigMaps but not TFFlinkJobs: the ConfigMap made first is deleted."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "cm-only", "namespace": NS},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update", "patch", "delete"]},
            {"apiGroups": ["tfflink.dev"], "resources": ["tfflinkjobs"], "verbs": ["get"]},
        ],
    }
    k.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    k.kubectl("-n", NS, "create", "serviceaccount", "cm-only")
    k.kubectl("-n", NS, "create", "rolebinding", "cm-only", "--role=cm-only", f"--serviceaccount={NS}:cm-only")
    token = k.kubectl("-n", NS, "create", "token", "cm-only").strip()
    kc = kubeconfig(tmp_path / "cm-only.kubeconfig", k.cp.server, token, namespace=NS)

    job_file = copy_job(tmp_path / "denied", "denied", failover={"maxRestarts": 0})
    line = one_line_error(tfflink(kc, "submit", "--kubernetes", str(job_file)))  # namespace from the context
    assert 'tfflinkjobs.tfflink.dev "denied" is forbidden' in line and "HTTP 403" in line, line
    assert config_map(k, "denied-code") is None and k.job("denied") is None

    line = one_line_error(tfflink(kc, "status", "linear", "-n", "default"))
    assert "is forbidden" in line and "HTTP 403" in line, line
