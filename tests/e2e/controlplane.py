"""A real Kubernetes control plane on loopback, for the e2e tier.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from their Go modules
by hack/build-tools.sh) run as child processes; kwok runs as the kubelet stand-in: it keeps
one fake Node Ready and moves scheduled pods to Running (and Job pods to Succeeded). Nothing
here is a stand-in for the API server: admission, CRD schema validation, RBAC, the Deployment,
ReplicaSet, Job and garbage-collector controllers and the scheduler are the real ones.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.net import free_port, http_get

ADMIN_TOKEN = "tfflink-e2e-admin-token"
NODE = "kwok-node-0"


def host_ip() -> str:
    """A non-loopback address of this host for --advertise-address (nothing connects to it)."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
        ).stdout
        for line in out.splitlines():
            return line.split()[3].split("/")[0]
    except OSError:
        pass
    return "127.0.0.1"


def api_get(server: str, path: str) -> tuple[int, str]:
    """(status, body) of an admin GET against an e2e API server (self-signed serving cert)."""
    ctx = ssl._create_unverified_context()
    req = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_started(what: str, ok: Callable[[], Any], proc: Proc | None, timeout: float = 90) -> Any:
    """``ok()``'s first truthy value while ``proc`` starts: an exception from ``ok`` means "not up
    yet"; fail at once with its log's tail if ``proc`` exits, and after ``timeout`` with the last
    error. (tests.support.waiting.wait_for is for a running system, where an error is a failure.)"""
    deadline = time.monotonic() + timeout
    err: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.p.returncode}) before {what}:\n{proc.tail(40)}")
        try:
            v = ok()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - not up yet
            err = e
        time.sleep(0.5)
    tail = proc.tail(40) if proc else ""
    raise RuntimeError(f"timed out ({timeout:.0f}s) waiting for {what} (last error: {err}):\n{tail}")


def controller_manager_args(kubeconfig: Path, sa_key: Path, ca: Path) -> list[str]:
    """kube-controller-manager for a one-node test cluster (this tier's and the real node's):
    one replica, no cloud, quick garbage collection of a deleted job's objects."""
    return [
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--service-account-private-key-file={sa_key}",
        f"--root-ca-file={ca}",
        "--use-service-account-credentials=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={free_port()}",
        "--concurrent-gc-syncs=5",
        "--controllers=*,-nodeipam,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle",
        "--v=1",
    ]


def scheduler_args(kubeconfig: Path) -> list[str]:
    """kube-scheduler for a one-node test cluster."""
    return [
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={free_port()}",
        "--v=1",
    ]


class Proc:
    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.cmd, self.log = name, cmd, log
        self._fh = log.open("wb")
        self.p = subprocess.Popen(cmd, stdout=self._fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def alive(self) -> bool:
        return self.p.poll() is None

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self._fh.close()


def kubeconfig(path: Path, server: str, token: str, namespace: str = "default") -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "e2e",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "u", "namespace": namespace}}],
    }
    path.write_text(json.dumps(doc))
    return path


class ControlPlane:
    """Start with :meth:`start`; ``kubeconfig`` is the admin's (system:masters)."""

    def __init__(self, bins: dict[str, Path], workdir: Path) -> None:
        self.bins, self.dir = bins, workdir
        self.procs: list[Proc] = []
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.kubeconfig = workdir / "admin.kubeconfig"

    def _start(self, name: str, *args: str) -> Proc:
        p = Proc(name, [str(self.bins[name]), *args], self.dir / f"{name}.log")
        self.procs.append(p)
        return p

    def _wait(self, what: str, ok: Callable[[], Any], proc: Proc, timeout: float = 90) -> None:
        wait_started(what, ok, proc, timeout)

    def get(self, path: str) -> tuple[int, str]:
        return api_get(self.server, path)

    def start(self) -> ControlPlane:
        d = self.dir
        # etcd
        client, peer = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._start(
            "etcd",
            f"--data-dir={d / 'etcd'}",
            "--name=e2e",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=1073741824",
        )
        self._wait("etcd health", lambda: http_get(etcd_url + "/health")[0] == 200, etcd)
        # credentials: one RSA key signs and verifies service-account tokens; a static admin token
        key = d / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        tokens = d / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},e2e-admin,e2e-admin,"system:masters"\n')
        certs = d / "certs"
        api = self._start(
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--advertise-address={host_ip()}",
            f"--cert-dir={certs}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={key}",
            f"--service-account-signing-key-file={key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            f"--token-auth-file={tokens}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--enable-priority-and-fairness=false",
            "--watch-cache=true",
            "--v=1",
        )
        self._wait("kube-apiserver /readyz", lambda: self.get("/readyz")[0] == 200, api, timeout=120)
        kubeconfig(self.kubeconfig, self.server, ADMIN_TOKEN)
        self._start("kube-controller-manager", *controller_manager_args(self.kubeconfig, key, certs / "apiserver.crt"))
        self._start("kube-scheduler", *scheduler_args(self.kubeconfig))
        self.kubectl("apply", "-f", "-", stdin=json.dumps(node_manifest(NODE)))
        # The node's heartbeat is its Lease in kube-node-lease: without one, kwok leaves the Ready
        # condition's heartbeat alone, the node controller marks the node NotReady after its
        # grace period (~50 s) and every pod on it unready, and kwok never makes them Ready again.
        kwok = self._start(
            "kwok",
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=true",
            "--node-lease-duration-seconds=40",
            "--v=INFO",
        )
        self._wait("the kwok node Ready", lambda: self.node_ready(NODE), kwok, timeout=60)
        self._wait(
            "the default ServiceAccount",
            lambda: self.kubectl("get", "sa", "default", check=False).strip() != "",
            self.procs[2],
        )
        return self

    def node_ready(self, name: str) -> bool:
        code, body = self.get(f"/api/v1/nodes/{name}")
        if code != 200:
            return False
        conds = json.loads(body).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path | None = None) -> str:
        cmd = ["kubectl", f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
        return r.stdout if r.returncode == 0 else r.stdout + r.stderr

    def check_alive(self) -> None:
        for p in self.procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} died ({p.p.returncode}):\n{p.tail()}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def node_manifest(name: str) -> dict[str, Any]:
    """The fake Node kwok keeps Ready (its documented node shape)."""
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "250"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": capacity,
            "capacity": capacity,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
        },
    }
