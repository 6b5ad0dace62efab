"""A real one-node Kubernetes cluster on this machine, for the real-node e2e tier.

What runs (all as child processes of the test session, nothing installed as a service):

* containerd (Debian's package) with its own config; its state dir and socket in a scratch dir,
  its root (the image store) kept between runs under ``STATE_ROOT/containerd`` so the images
  (hack/node-images.sh) are imported only when their inputs changed;
* the CNI bridge ``cni0`` on ``NODE_IP/24`` (host-local IPAM), ``ipMasq: false`` and a
  ``FORWARD -i cni0 ! -o cni0 -j DROP`` rule: pods reach each other and this host, nothing off it;
* etcd, kube-apiserver (bound and advertised on the bridge address), kube-controller-manager,
  kube-scheduler, kubelet (cgroupfs, cgroup v1), kube-proxy (iptables mode) and CoreDNS (a host
  process on NODE_IP:53 serving cluster.local);
* the tfflink-operator chart installed with helm, the operator running as a pod from its image.

Teardown (:meth:`NodeCluster.stop`, idempotent, also from atexit and on SIGTERM) deletes the
pods first so kubelet and CNI tear their sandboxes down, stops every process by pid, removes
what is left of containers, mounts, cgroups, iptables chains, the bridge, and restores the
sysctls it recorded. A run killed before its teardown is cleaned up by the next start (the
sysctls to restore and the pids are kept in ``STATE_ROOT/last-run.json``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from controlplane import (
    ADMIN_TOKEN,
    Proc,
    api_get,
    controller_manager_args,
    kubeconfig,
    scheduler_args,
    wait_started,
)
from tools import ROOT

from tests.support.net import free_port, http_get

BRIDGE = "cni0"
SUBNET = os.environ.get("TFFLINK_NODE_SUBNET", "10.213.77")  # /24, picked to clash with nothing usual
NODE_IP = f"{SUBNET}.1"
POD_CIDR = f"{SUBNET}.0/24"
SERVICE_CIDR = os.environ.get("TFFLINK_NODE_SERVICE_CIDR", "10.213.78.0/24")
NODE_NAME = "tfflink-node"
CLUSTER_DOMAIN = "cluster.local"
STATE_ROOT = Path(os.environ.get("TFFLINK_NODE_STATE", "/var/lib/tfflink-e2e-node"))
LOCK = Path("/run/lock/tfflink-e2e-node.lock")
IMAGE_TAG = os.environ.get("IMAGE_TAG", "0.1.0")
RUNTIME_IMAGE = f"tfflink/runtime:{IMAGE_TAG}"
OPERATOR_IMAGE = f"tfflink/operator:{IMAGE_TAG}"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
RELEASE, OP_NS = "tfflink", "tfflink-system"
CHART = Path(os.environ.get("TFFLINK_E2E_CHART") or ROOT / "charts" / "tfflink-operator")
STORAGE_CLASS = "standard"
POOL_PVS = 6  # pre-created hostPath PVs of class `standard` for PVCs that tests write in YAML

# Host settings kubelet / kube-proxy / CNI change; recorded before, restored after.
SYSCTLS = [
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
]
CGROUP_ROOT = Path("/sys/fs/cgroup")
DROP_RULE = ["FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"]
# Host paths the components write outside our dirs (kubelet's pod logs, the shims' sockets, libcni's
# cache): removed at teardown when they did not exist before the start; if they did (another
# runtime on the host), only the entries that appeared are removed.
HOST_PATHS = [Path("/var/log/pods"), Path("/var/log/containers"), Path("/run/containerd"), Path("/var/lib/cni")]
HACK = ROOT / "hack"


def log(msg: str) -> None:
    print(f"[realnode {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(
    *cmd: str, check: bool = True, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    out = {}
    for k in SYSCTLS:
        with contextlib.suppress(OSError):
            out[k] = sysctl_path(k).read_text().strip()
    return out


def write_sysctls(values: dict[str, str]) -> None:
    for k, v in values.items():
        with contextlib.suppress(OSError):
            if sysctl_path(k).read_text().strip() != v:
                sysctl_path(k).write_text(v)


def cannot_run_reason() -> str | None:
    """Why this machine cannot run a real node (one line), or None."""
    if os.geteuid() != 0:
        return "the real-node tier needs root (containerd, kubelet, iptables, a bridge)"
    if not Path("/proc/self/ns/user").exists() or not Path("/proc/self/ns/net").exists():
        return "no user/network namespaces on this kernel"
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        return "no cgroup hierarchy mounted at /sys/fs/cgroup"
    return None


def dns_query(server: str, name: str, port: int = 53, timeout: float = 2) -> list[str]:
    """A records for name from server (a minimal UDP DNS client; no dig on this machine)."""
    qid = random.randint(0, 0xFFFF)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, port))
        data = s.recv(4096)
    an = struct.unpack(">H", data[6:8])[0]
    i = 12
    while data[i]:
        i += data[i] + 1
    i += 5
    out = []
    for _ in range(an):
        if data[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while data[i]:
                i += data[i] + 1
            i += 1
        typ, _cls, _ttl, ln = struct.unpack(">HHIH", data[i : i + 10])
        i += 10
        if typ == 1 and ln == 4:
            out.append(".".join(str(b) for b in data[i : i + 4]))
        i += ln
    return out


class NodeCluster:
    """A one-node cluster. ``start()`` brings it up (and installs the chart unless told not to);
    ``stop()`` tears it down; ``leftovers()`` lists what of it is still on the host."""

    def __init__(self, bins: dict[str, Path], helm: Path | None = None) -> None:
        self.bins, self.helm_bin = bins, helm
        self.dir = STATE_ROOT / "run"  # scratch: removed on teardown
        self.containerd_root = STATE_ROOT / "containerd"  # kept: the imported images
        self.sock = self.dir / "containerd" / "containerd.sock"
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.logs = self.dir / "logs"
        self.procs: dict[str, Proc] = {}
        self.sysctls_before: dict[str, str] = {}
        self.api_port = 0
        self.server = ""
        self.started = False
        self.timings: dict[str, float] = {}
        self._lock_fh: Any = None
        self._pv_seq = 0
        self.host_paths_before: dict[str, list[str] | None] = {}
        self._old_sigterm: Any = None

    # ------------------------------------------------------------------ helpers
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", *args]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}{r.stdout[-2000:]}")
        return r.stdout if r.returncode == 0 else r.stdout + r.stderr

    def get(self, path: str) -> tuple[int, str]:
        return api_get(self.server, path)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        return sh("ctr", "-a", str(self.sock), "-n", "k8s.io", *args, check=check, timeout=timeout).stdout

    def _start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Proc:
        p = Proc(name, cmd, self.logs / f"{name}.log", env=env)
        self.procs[name] = p
        self._save_state()
        return p

    def _wait(self, what: str, ok: Callable[[], Any], proc: Proc | None, timeout: float = 90) -> Any:
        return wait_started(what, ok, proc, timeout)

    def check_alive(self) -> None:
        for p in self.procs.values():
            if not p.alive():
                raise RuntimeError(f"{p.name} died ({p.p.returncode}):\n{p.tail(40)}")

    def _step(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 1)
        log(f"{name}: {self.timings[name]} s")

    # ------------------------------------------------------------------ state file
    def _save_state(self) -> None:
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        state = {
            "sysctls": self.sysctls_before,
            "pids": {n: p.p.pid for n, p in self.procs.items()},
            "host_paths": self.host_paths_before,
        }
        (STATE_ROOT / "last-run.json").write_text(json.dumps(state))

    def _lock(self, wait: float = float(os.environ.get("TFFLINK_NODE_LOCK_WAIT", "1200"))) -> None:
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fh = LOCK.open("w")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another real-node cluster holds {LOCK} (waited {wait:.0f}s)") from None
                time.sleep(2)

    def _unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # ------------------------------------------------------------------ start
    def start(self, install_chart: bool = True, helm_set: Iterable[str] = ()) -> NodeCluster:
        t_all = time.monotonic()
        self._lock()
        self._step("waiting for the node lock (another run of this tier)", t_all)
        try:
            self._cleanup_stale()
            self.started = True
            atexit.register(self.stop)
            self._trap_sigterm()
            self._start_all()
            if install_chart:
                t0 = time.monotonic()
                self.helm_install(helm_set)
                self._step("helm install + operator Ready", t0)
        except BaseException:
            with contextlib.suppress(Exception):
                self._dump_logs()
            self.stop()
            raise
        self._step("cluster start total", t_all)
        return self

    def _trap_sigterm(self) -> None:
        """SIGTERM becomes KeyboardInterrupt, so pytest runs the fixture teardown (atexit is the last resort)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._old_sigterm = signal.signal(signal.SIGTERM, on_term)

    def _start_all(self) -> None:
        d = self.dir
        for sub in ("logs", "containerd", "cni/net.d", "cni/ipam", "kubelet", "pv", "etcd"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.containerd_root.mkdir(parents=True, exist_ok=True)
        self.sysctls_before = read_sysctls()
        self.host_paths_before = {str(p): host_entries(p) for p in HOST_PATHS}
        self._save_state()

        t0 = time.monotonic()
        r = sh(str(HACK / "node-packages.sh"), check=False, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"hack/node-packages.sh failed:\n{r.stderr[-3000:]}")
        r = sh(str(HACK / "node-images.sh"), "build", check=False, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"hack/node-images.sh build failed:\n{r.stderr[-4000:]}")
        self._step("images build (cached when inputs unchanged)", t0)

        # network: the bridge first (the API server and kubelet bind to its address)
        t0 = time.monotonic()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        write_sysctls(
            {
                "net.bridge.bridge-nf-call-iptables": "1",
                "net.bridge.bridge-nf-call-ip6tables": "1",
                "net.ipv4.ip_forward": "1",
            }
        )
        sh("iptables", "-I", *DROP_RULE)
        self._write_cni()

        # containerd
        cfg = d / "containerd" / "config.toml"
        cfg.write_text(self._containerd_config())
        ctd = self._start("containerd", ["containerd", "--config", str(cfg), "--log-level", "warn"])
        self._wait(
            "containerd's socket",
            lambda: sh("ctr", "-a", str(self.sock), "version", check=False).returncode == 0,
            ctd,
            60,
        )
        self._remove_all_containers()  # of a run that was killed (same image store)
        self._step("bridge + containerd", t0)
        t0 = time.monotonic()
        r = sh(str(HACK / "node-images.sh"), "import", str(self.sock), check=False, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"hack/node-images.sh import failed:\n{r.stderr[-4000:]}")
        self._step("images import (skipped when unchanged)", t0)

        # control plane on the bridge address
        t0 = time.monotonic()
        client, peer = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._start(
            "etcd",
            [
                str(self.bins["etcd"]),
                f"--data-dir={d / 'etcd'}",
                "--name=node",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=node=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=1073741824",
            ],
        )
        self._wait("etcd health", lambda: http_get(etcd_url + "/health")[0] == 200, etcd)
        key = d / "sa.key"
        sh("openssl", "genrsa", "-out", str(key), "2048")
        tokens = d / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},e2e-admin,e2e-admin,"system:masters"\n')
        certs = d / "certs"
        self.api_port = free_port()
        self.server = f"https://{NODE_IP}:{self.api_port}"
        api = self._start(
            "kube-apiserver",
            [
                str(self.bins["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={NODE_IP}",
                f"--secure-port={self.api_port}",
                f"--advertise-address={NODE_IP}",
                f"--cert-dir={certs}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                f"--token-auth-file={tokens}",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
        )
        self._wait("kube-apiserver /readyz", lambda: self.get("/readyz")[0] == 200, api, timeout=120)
        kubeconfig(self.kubeconfig, self.server, ADMIN_TOKEN)
        kc = f"--kubeconfig={self.kubeconfig}"
        cm = controller_manager_args(self.kubeconfig, key, certs / "apiserver.crt")
        self._start("kube-controller-manager", [str(self.bins["kube-controller-manager"]), *cm])
        self._start("kube-scheduler", [str(self.bins["kube-scheduler"]), *scheduler_args(self.kubeconfig)])
        self._step("control plane", t0)

        # the node
        t0 = time.monotonic()
        (d / "resolv.conf").write_text("")  # pods get clusterDNS only, none of the host's resolvers
        kcfg = d / "kubelet" / "config.yaml"
        kcfg.write_text(json.dumps(self._kubelet_config()))
        kubelet = self._start(
            "kubelet",
            [
                str(self.bins["kubelet"]),
                f"--config={kcfg}",
                kc,
                f"--root-dir={d / 'kubelet' / 'root'}",
                f"--cert-dir={d / 'kubelet' / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )
        pcfg = d / "kube-proxy.yaml"
        pcfg.write_text(json.dumps(self._proxy_config()))
        self._start("kube-proxy", [str(self.bins["kube-proxy"]), f"--config={pcfg}", "--v=1"])
        self._wait("node Ready", lambda: self.node_ready(), kubelet, timeout=120)
        self._step("kubelet + kube-proxy (node Ready)", t0)

        # DNS
        t0 = time.monotonic()
        health, ready = free_port(), free_port()
        corefile = d / "Corefile"
        corefile.write_text(
            f".:53 {{\n  bind {NODE_IP}\n  errors\n  health 127.0.0.1:{health}\n  ready 127.0.0.1:{ready}\n"
            f"  kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n    kubeconfig {self.kubeconfig} e2e\n"
            f"    pods insecure\n    fallthrough in-addr.arpa ip6.arpa\n  }}\n  cache 5\n  loadbalance\n}}\n"
        )
        dns = self._start("coredns", [str(self.bins["coredns"]), "-conf", str(corefile)])
        self._wait(
            "CoreDNS ready",
            lambda: http_get(f"http://127.0.0.1:{ready}/ready")[0] == 200,
            dns,
            60,
        )
        want = self.kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").strip()
        self._wait(
            f"kubernetes.default -> {want} from CoreDNS",
            lambda: dns_query(NODE_IP, f"kubernetes.default.svc.{CLUSTER_DOMAIN}") == [want],
            dns,
            60,
        )
        # kube-proxy has written its rules by now: put the DROP rule first in FORWARD again (kube-proxy prepends its own)
        self._reassert_drop_rule()
        self._step("DNS", t0)
        self._wait(
            "the default ServiceAccount",
            lambda: self.kubectl("get", "sa", "default", check=False).startswith("NAME"),
            None,
            60,
        )
        self._storage()

    def node_ready(self) -> bool:
        code, body = self.get(f"/api/v1/nodes/{NODE_NAME}")
        if code != 200:
            return False
        conds = json.loads(body).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def _reassert_drop_rule(self) -> None:
        while sh("iptables", "-D", *DROP_RULE, check=False).returncode == 0:
            pass
        sh("iptables", "-I", *DROP_RULE)

    def drop_rule_packets(self) -> int | None:
        """Packets counted by the FORWARD DROP rule, or None when it is missing.

        kube-proxy re-inserts its own jumps at the top of FORWARD on every sync; they accept only
        marked or established traffic, so a new connection off the machine still meets the DROP.
        """
        out = sh("iptables", "-L", "FORWARD", "-v", "-n", "-x", "--line-numbers").stdout.splitlines()
        for line in out[2:]:
            f = line.split()
            if f[3] == "DROP" and f[6] == BRIDGE and f[7] == f"!{BRIDGE}":
                return int(f[1])
        return None

    # ------------------------------------------------------------------ configs
    def _write_cni(self) -> None:
        conf = {
            "cniVersion": "0.4.0",
            "name": "tfflink-e2e",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.dir / "cni" / "ipam"),
                        "ranges": [[{"subnet": POD_CIDR, "rangeStart": f"{SUBNET}.10", "gateway": NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.dir / "cni" / "net.d" / "10-tfflink-e2e.conflist").write_text(json.dumps(conf))

    def _containerd_config(self) -> str:
        d = self.dir / "containerd"
        return f"""version = 2
root = "{self.containerd_root}"
state = "{d / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{d / "containerd.sock.ttrpc"}"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.dir / "cni" / "net.d"}"
"""

    def _kubelet_config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "address": NODE_IP,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            # kubectl logs/exec: the API server calls the kubelet without client credentials; the kubelet
            # listens on the bridge address only.
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDNS": [NODE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(self.dir / "resolv.conf"),
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.inodesFree": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "maxPods": 60,
            "registerNode": True,
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "syncFrequency": "10s",
            "fileCheckFrequency": "60s",
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
            "logging": {"format": "text"},
        }

    def _proxy_config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "nodePortAddresses": [f"{NODE_IP}/32"],
            "iptables": {"localhostNodePorts": False, "syncPeriod": "10s", "minSyncPeriod": "0s"},
            # kube-proxy cannot change the conntrack sysctls here: leave them alone
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
                "udpTimeout": "0s",
                "udpStreamTimeout": "0s",
            },
        }

    # ------------------------------------------------------------------ chart, storage
    def helm(self, *args: str, timeout: float = 300) -> str:
        if self.helm_bin is None:
            raise RuntimeError("helm is not built")
        r = subprocess.run(
            [str(self.helm_bin), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"helm {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}\n{self.describe_pods(OP_NS)}"
            )
        return r.stdout

    def helm_install(self, helm_set: Iterable[str] = ()) -> str:
        sets = ["--set", "image.pullPolicy=Never", "--set", f"image.tag={IMAGE_TAG}"]
        for s in helm_set:
            sets += ["--set", s]
        out = self.helm(
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "--namespace",
            OP_NS,
            "--create-namespace",
            *sets,
            "--wait",
            "--timeout",
            "180s",
            timeout=240,
        )
        self.operator_install_notes = out
        return out

    def describe_pods(self, ns: str) -> str:
        return self.kubectl("-n", ns, "describe", "pods", check=False)[-6000:]

    def _storage(self) -> None:
        """StorageClass `standard` (no provisioner) with a pool of hostPath PVs for PVCs written in YAML."""
        sc = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        }
        docs: list[dict[str, Any]] = [sc]
        for i in range(POOL_PVS):
            docs.append(self._pv_doc(f"pool-pv-{i}", "10Gi"))
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def _pv_doc(self, name: str, size: str, claim: tuple[str, str] | None = None) -> dict[str, Any]:
        path = self.dir / "pv" / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # the runtime image runs as uid 9999, the operator as 10001
        spec: dict[str, Any] = {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": str(path), "type": "Directory"},
        }
        if claim:
            spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"tfflink.dev/e2e": "node"}},
            "spec": spec,
        }

    def pvc(self, name: str, namespace: str = "default", size: str = "1Gi", wait: bool = True) -> Path:
        """A PVC `name` bound to a fresh hostPath PV of its own; returns the PV's directory on this host."""
        self._pv_seq += 1
        pv_name = f"pv-{namespace}-{name}-{self._pv_seq}"[:63]
        pv = self._pv_doc(pv_name, size, claim=(namespace, name))
        pvc = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": STORAGE_CLASS,
                "volumeName": pv_name,
                "resources": {"requests": {"storage": size}},
            },
        }
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pv, pvc]}))
        if wait:
            self._wait(
                f"PVC {namespace}/{name} Bound",
                lambda: self.kubectl("-n", namespace, "get", "pvc", name, "-o", "jsonpath={.status.phase}") == "Bound",
                None,
                60,
            )
        return self.dir / "pv" / pv_name

    # ------------------------------------------------------------------ logs
    def _dump_logs(self) -> None:
        for p in self.procs.values():
            log(f"--- {p.name} (tail) ---\n{p.tail(15)}")

    # ------------------------------------------------------------------ teardown
    def stop(self) -> None:
        """Tear down (idempotent). Safe to call for a cluster that never started."""
        if not self.started:
            self._unlock()
            return
        t0 = time.monotonic()
        self.started = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        errors: list[str] = []

        def step(what: str, fn: Callable[[], Any]) -> None:
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - go on with the rest of the teardown
                errors.append(f"{what}: {e}")

        kubelet = self.procs.get("kubelet")
        if kubelet and kubelet.alive() and self.procs.get("kube-apiserver") and self.procs["kube-apiserver"].alive():
            step("delete pods", self._delete_pods)
        for name in ("coredns", "kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"):
            if name in self.procs:
                step(f"stop {name}", self.procs[name].stop)
        if "containerd" in self.procs and self.procs["containerd"].alive():
            step("remove containers", self._remove_all_containers)
        for name in ("containerd", "kube-apiserver", "etcd"):
            if name in self.procs:
                step(f"stop {name}", self.procs[name].stop)
        step("kill leftovers", self._kill_leftover_processes)
        step("host cleanup", self._host_cleanup)
        if self.sysctls_before:
            step("restore sysctls", lambda: write_sysctls(self.sysctls_before))
        if self.host_paths_before:
            step("host paths", lambda: self._clean_host_paths(self.host_paths_before))
        left = self.leftovers()
        if not left:
            step("remove scratch dir", lambda: self._remove_scratch())
            with contextlib.suppress(OSError):
                (STATE_ROOT / "last-run.json").unlink()
        self.procs = {}
        if self._old_sigterm is not None:
            with contextlib.suppress(Exception):
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        self.timings["teardown"] = round(time.monotonic() - t0, 1)
        log(
            f"teardown: {self.timings['teardown']} s"
            + (f"; errors: {errors}" if errors else "")
            + (f"; left: {left}" if left else "")
        )
        self._unlock()

    def _delete_pods(self) -> None:
        # Nothing may recreate them: stop the controllers and the operator's Deployment first.
        for name in ("kube-controller-manager", "kube-scheduler"):
            if name in self.procs:
                self.procs[name].stop()
        self.kubectl(
            "delete", "pods", "--all-namespaces", "--all", "--grace-period=3", "--wait=false", check=False, timeout=60
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = self.kubectl("get", "pods", "-A", "-o", "name", check=False, timeout=20).strip()
            if not out and "RUNNING" not in self.ctr("tasks", "ls", check=False):
                return
            time.sleep(1)
        self.kubectl(
            "delete", "pods", "--all-namespaces", "--all", "--grace-period=0", "--force", check=False, timeout=60
        )

    def _remove_all_containers(self) -> None:
        for cid in self.ctr("tasks", "ls", "-q", check=False).split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
        time.sleep(0.5)
        for cid in self.ctr("tasks", "ls", "-q", check=False).split():
            self.ctr("tasks", "delete", "-f", cid, check=False)
        for cid in self.ctr("containers", "ls", "-q", check=False).split():
            self.ctr("containers", "delete", cid, check=False)

    def _our_pids(self) -> list[int]:
        """Processes of this tier: shims of our containerd, anything in the kubepods cgroups."""
        pids: set[int] = set()
        sock = str(self.sock)
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if sock in cmd or str(self.dir / "containerd") in cmd:
                    pids.add(int(p.name))
        for hier in ("pids", "memory", "cpu"):
            base = CGROUP_ROOT / hier / "kubepods"
            if base.is_dir():
                for f in base.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        pids.update(int(x) for x in f.read_text().split())
        pids.discard(os.getpid())
        return sorted(pids)

    def _kill_leftover_processes(self) -> None:
        for _ in range(5):
            pids = self._our_pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def _mounts_under(self, prefixes: Iterable[Path]) -> list[str]:
        out = []
        pre = [str(p) + "/" for p in prefixes]
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if any(mp.startswith(x) or mp + "/" == x for x in pre):
                out.append(mp)
        return out

    def _host_cleanup(self) -> None:
        # mounts of our containerd and kubelet (rootfs overlays, shm, netns, pod volumes)
        for _ in range(3):
            mps = self._mounts_under([self.dir, self.containerd_root])
            if not mps:
                break
            for mp in sorted(mps, key=len, reverse=True):
                sh("umount", "-l", mp, check=False)
        # iptables: kube-proxy's own cleanup, then a sweep of KUBE-/CNI- chains, then our DROP rule
        if "kube-proxy" in self.bins:
            sh(str(self.bins["kube-proxy"]), "--cleanup", "--v=0", check=False, timeout=60)
        for tool in ("iptables", "ip6tables"):
            sweep_chains(tool)
        while sh("iptables", "-D", *DROP_RULE, check=False).returncode == 0:
            pass
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            sh("ip", "link", "del", BRIDGE, check=False)
        # cgroups kubelet made (cgroup v1: one tree per hierarchy), deepest first
        for hier in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
            base = hier / "kubepods"
            if base.is_dir():
                for sub in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        sub.rmdir()
                with contextlib.suppress(OSError):
                    base.rmdir()

    def _clean_host_paths(self, before: dict[str, list[str] | None]) -> None:
        for path, entries in before.items():
            p = Path(path)
            if not p.exists():
                continue
            for mp in sorted(self._mounts_under([p]), key=len, reverse=True):
                sh("umount", "-l", mp, check=False)
            if entries is None:
                sh("rm", "-rf", "--one-file-system", str(p), check=False)
            else:
                for e in host_entries(p) or []:
                    if e not in entries:
                        sh("rm", "-rf", "--one-file-system", str(p / e), check=False)

    def _remove_scratch(self) -> None:
        if self._mounts_under([self.dir]):
            raise RuntimeError(f"mounts left under {self.dir}; not removing it")
        sh("rm", "-rf", "--one-file-system", str(self.dir), check=False, timeout=300)

    def leftovers(self) -> list[str]:
        """What of this tier is still on the host (empty after a clean teardown)."""
        left = []
        alive = [n for n, p in self.procs.items() if p.alive()]
        if alive:
            left.append(f"processes: {alive}")
        pids = self._our_pids()
        if pids:
            left.append(f"pids in kubepods/our shims: {pids}")
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            left.append(f"bridge {BRIDGE}")
        if self.sysctls_before:
            now = read_sysctls()
            diff = {k: (v, now.get(k)) for k, v in self.sysctls_before.items() if now.get(k) != v}
            if diff:
                left.append(f"sysctls (before, now): {diff}")
        mps = self._mounts_under([self.dir, self.containerd_root])
        if mps:
            left.append(f"mounts: {mps[:5]}")
        for tool in ("iptables", "ip6tables"):
            chains = kube_chains(tool)
            if chains:
                left.append(f"{tool} chains: {chains[:8]}")
        if sh("iptables", "-C", *DROP_RULE, check=False).returncode == 0:
            left.append("the FORWARD DROP rule")
        for path, entries in self.host_paths_before.items():
            now = host_entries(Path(path))
            if now is not None and (entries is None or set(now) - set(entries)):
                left.append(f"{path}: {sorted(set(now) - set(entries or []))[:5]}")
        cg = (
            [str(h / "kubepods") for h in CGROUP_ROOT.iterdir() if (h / "kubepods").is_dir()]
            if CGROUP_ROOT.is_dir()
            else []
        )
        if cg:
            left.append(f"cgroups: {cg}")
        return left

    def _cleanup_stale(self) -> None:
        """A previous run killed before its teardown: restore what it recorded, sweep the rest."""
        state_file = STATE_ROOT / "last-run.json"
        stale = state_file.exists() or Path(f"/sys/class/net/{BRIDGE}").exists() or self.dir.exists()
        if not stale:
            return
        log("cleaning up after a previous run that did not tear down")
        state = {}
        with contextlib.suppress(Exception):
            state = json.loads(state_file.read_text())
        for name, pid in (state.get("pids") or {}).items():
            with contextlib.suppress(OSError):
                exe = os.readlink(f"/proc/{pid}/exe")
                if Path(exe).name.startswith(name.split("-")[0]) or name in exe:
                    os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
        self._kill_leftover_processes()
        self._host_cleanup()
        if state.get("sysctls"):
            write_sysctls(state["sysctls"])
        if state.get("host_paths"):
            self._clean_host_paths(state["host_paths"])
        self._remove_scratch()
        with contextlib.suppress(OSError):
            state_file.unlink()


def host_entries(p: Path) -> list[str] | None:
    """The names in directory p, or None when it does not exist."""
    try:
        return sorted(x.name for x in p.iterdir())
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return []


def _chains(tool: str, table: str) -> list[str]:
    r = sh(f"{tool}-save", "-t", table, check=False)
    return [
        ln[1:].split()[0] for ln in r.stdout.splitlines() if ln.startswith(":") and ln[1:].startswith(("KUBE-", "CNI-"))
    ]


def kube_chains(tool: str) -> list[str]:
    return [f"{t}/{c}" for t in ("filter", "nat", "mangle") for c in _chains(tool, t)]


def sweep_chains(tool: str) -> None:
    """Remove every KUBE-* / CNI-* chain and the rules that jump to them (kube-proxy --cleanup's leftovers)."""
    for table in ("filter", "nat", "mangle"):
        chains = _chains(tool, table)
        if not chains:
            continue
        rules = sh(f"{tool}-save", "-t", table, check=False).stdout.splitlines()
        for ln in rules:
            if ln.startswith("-A ") and any(f"-j {c}" in ln or f"--jump {c}" in ln for c in chains):
                chain = ln.split()[1]
                if chain not in chains:
                    sh(tool, "-t", table, "-D", *_split_rule(ln[3:]), check=False)
        for c in chains:
            sh(tool, "-t", table, "-F", c, check=False)
        for c in chains:
            sh(tool, "-t", table, "-X", c, check=False)


def _split_rule(rule: str) -> list[str]:
    import shlex

    return shlex.split(rule)


def node_binaries() -> dict[str, Path]:
    from tools import tool

    names = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "coredns",
        "helm",
    ]
    found = {n: tool(n) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        r = sh(str(HACK / "build-tools.sh"), "k8s", "etcd", "node", "helm", check=False, timeout=3600)
        found = {n: tool(n) for n in names}
        missing = [n for n, p in found.items() if p is None]
        if missing:
            raise RuntimeError(f"{missing} not built by hack/build-tools.sh:\n{r.stderr[-3000:]}")
    return {n: p for n, p in found.items() if p is not None}
