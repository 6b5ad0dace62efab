"""The control-plane tier's harness, shared by test_controlplane.py and test_controlplane_cli.py
(their fixtures ``cluster``, ``helm_install`` and ``k`` are in conftest.py): the tier's view of
one namespace (``Cluster``, through kubectl as a user would; the emulator tier's Cluster in
tests/emulator/emu_cluster.py plays the controllers this tier has for real) and the operator
replicas run as local processes (``Operators``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from controlplane import ControlPlane, Proc, kubeconfig
from flink_standin import FlinkStandIn
from tools import ROOT

from tests.support.net import free_port, http_get
from tests.support.waiting import wait_for
from tfflink.backends.kubernetes import names as n

NS = "e2e"
RELEASE, OP_NS = "tfflink", "tfflink-system"
# The chart under test; TFFLINK_E2E_CHART points at a modified copy (to try a change).
CHART = Path(os.environ.get("TFFLINK_E2E_CHART") or ROOT / "charts" / "tfflink-operator")


class Cluster:
    def __init__(self, cp: ControlPlane, flink: FlinkStandIn, op_log: Path, ops: Operators) -> None:
        self.cp, self.flink, self.op_log, self.ops = cp, flink, op_log, ops

    def kubectl(self, *args: str, **kw: Any) -> str:
        return self.cp.kubectl(*args, **kw)

    def get(self, kind: str, selector: str = "", ns: str = NS) -> list[dict[str, Any]]:
        args = ["-n", ns, "get", kind, "-o", "json"] + (["-l", selector] if selector else [])
        return list(json.loads(self.kubectl(*args))["items"])

    def job(self, name: str) -> dict[str, Any] | None:
        out = self.kubectl("-n", NS, "get", "tfflinkjob", name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def status(self, name: str) -> dict[str, Any]:
        return (self.job(name) or {}).get("status") or {}

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        seen: list[str] = []

        def reached() -> dict[str, Any] | None:
            self.cp.check_alive()
            st = self.status(name)
            if not seen or seen[-1] != st.get("phase"):
                seen.append(st.get("phase", "-"))
            return st if st.get("phase") == phase else None

        return wait_for(reached, lambda: f"{name} phase {phase}; phases seen: {seen}", timeout)

    def owned(self, job: str, component: str | None = None, kinds: str = "pods") -> list[dict[str, Any]]:
        sel = f"{n.JOB}={job}" + (f",{n.COMPONENT}={component}" if component else "")
        return self.get(kinds, sel)

    def bring_up(self, job: str, attempt: int, timeout: float = 90) -> dict[str, Any]:
        """kwok runs the attempt's pods and completes its submitter; then Flink reports RUNNING."""
        svc = n.jobmanager_service(job)
        self.flink.forget(NS, svc)

        def pods_running() -> bool:
            pods = [
                p
                for p in self.owned(job)
                if p["metadata"]["labels"].get(n.ATTEMPT) == str(attempt)
                and p["metadata"]["labels"].get(n.COMPONENT) != n.SUBMITTER
            ]
            return len(pods) >= 2 and all(p["status"].get("phase") == "Running" for p in pods)

        wait_for(pods_running, f"{job} attempt {attempt} pods Running (kwok)", timeout)
        wait_for(
            lambda: any(
                j["metadata"]["name"] == n.submitter(job, attempt) and j.get("status", {}).get("succeeded")
                for j in self.owned(job, kinds="jobs")
            ),
            f"submitter {n.submitter(job, attempt)} succeeded (kwok + job controller)",
            timeout,
        )
        self.flink.submit(NS, svc, "RUNNING")
        return self.wait_phase(job, "Running", timeout)

    def apply_example(self, name: str, path: str = "examples/linear/job.yaml", **spec: Any) -> None:
        doc = yaml.safe_load((ROOT / path).read_text())
        doc["metadata"]["name"] = name
        # kwok runs no TF: no checkpoint to keep (a pod-local one would be refused, rightly).
        doc["spec"]["checkpointDir"] = f"s3://tfflink-e2e/{name}"
        doc["spec"].update(spec)
        f = self.cp.dir / f"{name}.yaml"
        f.write_text(yaml.safe_dump(doc))
        self.kubectl("-n", NS, "apply", "-f", str(f))


LEASE = f"{RELEASE}-tfflink-operator"  # the chart's Lease name (and its Role's resourceNames)


class Operators:
    """Operator processes (replicas) with the chart ServiceAccount's token, so the chart's RBAC,
    electing a leader on the chart's Lease with short timings."""

    def __init__(self, cp: ControlPlane, flink: FlinkStandIn) -> None:
        self.cp, self.flink, self.procs = cp, flink, dict[str, Proc]()
        sa = f"{RELEASE}-tfflink-operator"
        token = cp.kubectl("-n", OP_NS, "create", "token", sa, "--duration=2h").strip()
        self.kubeconfig = kubeconfig(cp.dir / "operator.kubeconfig", cp.server, token, namespace=NS)

    def start(self, identity: str) -> Proc:
        health = free_port()
        cmd = [
            sys.executable,
            "-m",
            "tfflink.operator",
            "--namespace",
            NS,
            f"--liveness=http://127.0.0.1:{health}/healthz",
            f"--metrics-port={free_port()}",
            f"--flink-url-template={self.flink.url_template}",
            "--poll-seconds=1",
            "--log-format=plain",
            "--verbose",
            "--leader-elect",
            f"--leader-elect-resource-namespace={OP_NS}",
            f"--leader-elect-resource-name={LEASE}",
            f"--leader-elect-identity={identity}",
            "--leader-elect-lease-duration=8",
            "--leader-elect-renew-deadline=6",
            "--leader-elect-retry-period=1",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(self.kubeconfig)
        op = self.procs[identity] = Proc(f"operator-{identity}", cmd, self.cp.dir / f"operator-{identity}.log", env=env)

        def healthy() -> bool:  # a follower answers too (it waits for the Lease)
            if not op.alive():
                raise AssertionError(f"operator {identity} exited:\n{op.tail()}")
            try:
                return http_get(f"http://127.0.0.1:{health}/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, f"operator {identity}'s /healthz", 60)
        return op

    def lease(self) -> dict[str, Any]:
        out = self.cp.kubectl("-n", OP_NS, "get", "lease", LEASE, "-o", "json", "--ignore-not-found")
        return dict(json.loads(out)["spec"]) if out.strip() else {}

    def stop(self) -> None:
        for op in self.procs.values():
            op.stop()
