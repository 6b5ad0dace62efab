"""The same scenarios as the control-plane tier, in a kind cluster with real pods: helm install
the chart with the operator image, apply examples/add as a TFFlinkJob running the runtime image,
see it reach Succeeded; kill a TaskManager mid-run and see one full restart; delete it and see
every owned object collected; invalid jobs rejected by the API server's schema.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kind_support import OPERATOR_IMAGE, ROOT, RUNTIME_IMAGE, sh

NS = "tfflink-kind"


def helm_bin() -> str:
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else str(shutil.which("helm"))


def kubectl(kubeconfig: Path, *args: str, check: bool = True, stdin: str | None = None) -> str:
    return sh("kubectl", "--kubeconfig", str(kubeconfig), *args, check=check, input=stdin).stdout


def job_manifest(name: str) -> str:
    """examples/add/k8s.yaml (its PVC and the TFFlinkJob running the runtime image's copy of add.py)."""
    docs = list(yaml.safe_load_all((ROOT / "examples" / "add" / "k8s.yaml").read_text()))
    docs[-1]["metadata"] = {"name": name, "namespace": NS}
    docs[-1]["spec"]["checkpointDir"] = f"/data/{name}"
    docs[-1]["spec"].setdefault("kubernetes", {})["image"] = RUNTIME_IMAGE
    docs[-1]["spec"]["kubernetes"]["imagePullPolicy"] = "Never"
    docs[0]["metadata"]["namespace"] = NS
    return yaml.safe_dump_all(docs)


def phase(kubeconfig: Path, name: str) -> str:
    out = kubectl(kubeconfig, "-n", NS, "get", "tfflinkjob", name, "-o", "json", check=False)
    return json.loads(out).get("status", {}).get("phase", "") if out else ""


def wait_phase(kubeconfig: Path, name: str, want: set[str], timeout: float) -> str:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        p = phase(kubeconfig, name)
        if not seen or seen[-1] != p:
            seen.append(p)
        if p in want:
            return p
        time.sleep(3)
    raise AssertionError(f"{name} never reached {want}; phases seen: {seen}")


@pytest.fixture(scope="module")
def installed(kind_cluster: Path) -> Iterator[Path]:
    kubectl(kind_cluster, "create", "namespace", NS, check=False)
    repo, tag = OPERATOR_IMAGE.split(":")
    sh(
        helm_bin(),
        "--kubeconfig",
        str(kind_cluster),
        "upgrade",
        "--install",
        "tfflink",
        str(ROOT / "charts" / "tfflink-operator"),
        "--namespace",
        "tfflink-system",
        "--create-namespace",
        "--set",
        f"image.repository={repo}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=Never",
        "--wait",
        "--timeout",
        "5m",
    )
    yield kind_cluster
    sh(helm_bin(), "--kubeconfig", str(kind_cluster), "uninstall", "tfflink", "-n", "tfflink-system", check=False)


def test_job_runs_to_succeeded(installed: Path) -> None:
    kubectl(installed, "apply", "-f", "-", stdin=job_manifest("add"))
    wait_phase(installed, "add", {"Running"}, 600)
    assert wait_phase(installed, "add", {"Succeeded", "Failed"}, 1200) == "Succeeded"


def test_taskmanager_loss_restarts_the_whole_cluster(installed: Path) -> None:
    kubectl(installed, "apply", "-f", "-", stdin=job_manifest("add-failover"))
    wait_phase(installed, "add-failover", {"Running"}, 600)
    pods = kubectl(
        installed,
        "-n",
        NS,
        "get",
        "pods",
        "-l",
        "tfflink.dev/job=add-failover,tfflink.dev/component=taskmanager",
        "-o",
        "name",
    ).split()
    assert pods
    kubectl(installed, "-n", NS, "delete", pods[0], "--wait=false")
    assert wait_phase(installed, "add-failover", {"Succeeded", "Failed"}, 1500) == "Succeeded"
    status: dict[str, Any] = json.loads(
        kubectl(installed, "-n", NS, "get", "tfflinkjob", "add-failover", "-o", "json")
    )["status"]
    assert status.get("restartCount") == 1


def test_delete_collects_everything(installed: Path) -> None:
    kubectl(
        installed, "-n", NS, "delete", "tfflinkjob", "add", "add-failover", "--wait=true", "--timeout=180s", check=False
    )
    deadline = time.monotonic() + 180
    left = "?"
    while time.monotonic() < deadline:
        left = kubectl(
            installed,
            "-n",
            NS,
            "get",
            "deploy,job,pod,svc,cm,sa,role,rolebinding",
            "-l",
            "app.kubernetes.io/managed-by=tfflink-operator",
            "-o",
            "name",
        )
        if not left.strip():
            return
        time.sleep(3)
    raise AssertionError(f"left behind: {left}")


def test_invalid_job_rejected(installed: Path) -> None:
    doc = yaml.safe_load(job_manifest("bad"))
    doc["spec"]["roles"]["worker"]["replicas"] = 0
    r = sh("kubectl", "--kubeconfig", str(installed), "apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert r.returncode != 0 and "replicas" in r.stderr
