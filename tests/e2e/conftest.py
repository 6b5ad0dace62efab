"""The e2e tier: the Helm chart, the images' requirements, and the operator against a real
Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, with
kwok simulating the node and its pods). The kind suite (``tests/e2e/kind``) needs Docker.

The control-plane fixtures (module scope: each module that asks gets its own control plane,
chart and operator): ``cluster`` (a started ControlPlane), ``helm_install`` (the chart's
install output) and ``k`` (cp_harness.Cluster with one leading operator replica).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from controlplane import ControlPlane
from cp_harness import CHART, NS, OP_NS, RELEASE, Cluster, Operators
from flink_standin import FlinkStandIn
from tools import require

from tests.support.waiting import wait_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure of a control-plane test, attach the tail of the operator's log."""
    outcome = yield
    report = outcome.get_result()
    k = item.funcargs.get("k") if hasattr(item, "funcargs") else None
    log = getattr(k, "op_log", None)
    if report.failed and isinstance(log, Path) and log.exists():
        report.sections.append(("operator log (tail)", "\n".join(log.read_text(errors="replace").splitlines()[-60:])))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    require("kubectl", "openssl")
    bins = require("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm")
    cp = ControlPlane(bins, tmp_path_factory.mktemp("controlplane"))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def helm_install(cluster: ControlPlane) -> str:
    cluster.kubectl("create", "namespace", NS)
    helm = require("helm")["helm"]
    r = subprocess.run(
        [
            str(helm),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            OP_NS,
            "--create-namespace",
            "--set",
            f"watchNamespaces={{{NS}}}",
            "--wait",
            "--timeout",
            "120s",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def k(cluster: ControlPlane, helm_install: str) -> Iterator[Cluster]:
    """One operator replica, leading (a test adds a second)."""
    flink = FlinkStandIn()
    ops = Operators(cluster, flink)
    try:
        op = ops.start("op-a")
        wait_for(lambda: ops.lease().get("holderIdentity") == "op-a", "op-a holds the Lease")
        yield Cluster(cluster, flink, op.log, ops)
    finally:
        ops.stop()
        flink.stop()
