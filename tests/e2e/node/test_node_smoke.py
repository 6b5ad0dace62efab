"""Smoke tests of the real-node tier: the images run on a real kubelet, the operator runs as a
pod from its image with the chart's ServiceAccount, cluster DNS works, pods reach nothing off
this machine, and the teardown leaves nothing behind."""

from __future__ import annotations

import json

from node_support import Node
from realnode import NODE_IP, dns_query


def test_node_is_real(node_cluster: Node) -> None:
    nodes = node_cluster.get("nodes", ns=None)
    assert [n["metadata"]["name"] for n in nodes] == ["tfflink-node"]
    info = nodes[0]["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.34") and info["containerRuntimeVersion"].startswith("containerd://")
    addrs = {a["type"]: a["address"] for a in nodes[0]["status"]["addresses"]}
    assert addrs["InternalIP"] == NODE_IP


def test_runtime_image_imports_tensorflow_and_pyflink(node_cluster: Node) -> None:
    phase, logs = node_cluster.run_pod(
        "smoke-runtime",
        ["python", "-c", "import tensorflow as tf, pyflink, tfflink; print('ok', tf.__version__, tfflink.__name__)"],
        timeout=240,
    )
    assert phase == "Succeeded", logs
    assert "ok 2." in logs, logs


def test_operator_runs_as_a_pod_from_its_image(node_cluster: Node) -> None:
    ns = node_cluster.operator_namespace
    pods = node_cluster.get("pods", ns=ns, selector="app.kubernetes.io/name=tfflink-operator")
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    pod = pods[0]
    assert pod["status"]["phase"] == "Running"
    assert all(c["ready"] for c in pod["status"]["containerStatuses"]), pod["status"]
    assert pod["spec"]["serviceAccountName"] == f"{node_cluster.release}-tfflink-operator"
    assert pod["spec"]["containers"][0]["image"] == f"{node_cluster.operator_image}"
    assert pod["status"]["containerStatuses"][0]["imageID"], "ran from the imported image"
    # it talks to the API server with that ServiceAccount (kopf logs its startup)
    node_cluster.wait_for(lambda: node_cluster.operator_logs(tail=50).strip(), "the operator's log", 60)


def test_cluster_dns_from_a_pod(node_cluster: Node) -> None:
    svc_ip = node_cluster.kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").strip()
    assert dns_query(NODE_IP, "kubernetes.default.svc.cluster.local") == [svc_ip]
    code = (
        "import socket, ssl\n"
        "ip = socket.gethostbyname('kubernetes.default')\n"
        "s = socket.create_connection((ip, 443), timeout=5)\n"  # through kube-proxy to the API server
        "print('resolved', ip, 'connected')\n"
    )
    phase, logs = node_cluster.run_pod("smoke-dns", ["python", "-c", code])
    assert phase == "Succeeded", logs
    assert f"resolved {svc_ip} connected" in logs, logs


def test_pods_reach_nothing_off_this_machine(node_cluster: Node) -> None:
    # The FORWARD DROP rule is there (kube-proxy's jumps above it pass only marked or
    # established traffic, so the probe below never leaves the machine) ...
    before = node_cluster.c.drop_rule_packets()
    assert before is not None, "the FORWARD -i cni0 ! -o cni0 -j DROP rule is missing"
    # ... and a connection to an off-machine address (TEST-NET-3, reserved) fails, dropped by it.
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('203.0.113.1', 443), timeout=3)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('blocked', type(e).__name__)\n"
    )
    phase, logs = node_cluster.run_pod("smoke-egress", ["python", "-c", code])
    assert phase == "Succeeded", logs
    assert "blocked" in logs and "CONNECTED" not in logs, logs
    after = node_cluster.c.drop_rule_packets()
    assert after is not None and after > before, (before, after)


def test_hostpath_pvc(node_cluster: Node) -> None:
    host_dir = node_cluster.pvc("smoke-data")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "smoke-pvc"},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "smoke-data"}}],
            "containers": [
                {
                    "name": "main",
                    "image": node_cluster.runtime_image,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", "echo hello > /data/f && cat /data/f"],
                    "volumeMounts": [{"name": "d", "mountPath": "/data"}],
                }
            ],
        },
    }
    node_cluster.apply(pod)
    assert node_cluster.wait_pod_phase("smoke-pvc") == "Succeeded", node_cluster.logs("smoke-pvc")
    assert (host_dir / "f").read_text() == "hello\n"
    # PVCs written in YAML bind to the pool of class `standard`
    node_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "smoke-pool"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    node_cluster.wait_for(
        lambda: node_cluster.get("pvc", "smoke-pool")["status"].get("phase") == "Bound", "pool PVC Bound"
    )


def test_kubectl_logs_and_exec_work(node_cluster: Node) -> None:
    op = node_cluster.get("pods", ns=node_cluster.operator_namespace)[0]["metadata"]["name"]
    out = node_cluster.kubectl("-n", node_cluster.operator_namespace, "exec", op, "--", "python", "-c", "print(6*7)")
    assert out.strip() == "42"


def test_teardown_leaves_nothing(node_cluster: Node) -> None:
    """Runs last here: stops the cluster and checks the host (a later test restarts it)."""
    timings = node_cluster.timings
    left = node_cluster.stop()
    assert not left, left
    print(json.dumps({"start": timings, "teardown": node_cluster.all_timings[-1].get("teardown")}))
