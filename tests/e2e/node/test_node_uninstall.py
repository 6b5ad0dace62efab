"""`helm uninstall` of the operator on a real node (runs last: it removes the operator)."""

from __future__ import annotations

from node_support import Node

NS = "uninstall"


def test_helm_uninstall_leaves_no_operator_pod_and_no_stuck_tfflinkjob(node_cluster: Node) -> None:
    k = node_cluster
    k.namespace(NS)
    k.apply(
        {
            "apiVersion": "tfflink.dev/v1alpha1",
            "kind": "TFFlinkJob",
            "metadata": {"name": "orphan", "namespace": NS},
            "spec": {
                "entry": {"file": "/opt/tfflink/examples/linear/train.py"},
                "roles": {"worker": {"replicas": 1}},
                "properties": {"steps": "100000", "step_delay": "0.05"},
            },
        }
    )
    # the operator has taken the job over (its finalizer is on it, the cluster is being deployed)
    k.wait_for(
        lambda: (k.get("tfflinkjob", "orphan", NS) or {}).get("metadata", {}).get("finalizers"),
        "the operator's finalizer on the job",
        60,
    )
    k.wait_for(lambda: k.get("pods", ns=NS, selector="tfflink.dev/job=orphan"), "the job's pods", 120)
    k.c.helm("uninstall", k.release, "--namespace", k.operator_namespace, "--wait", "--timeout", "120s")
    k.wait_for(
        lambda: not k.get("pods", ns=k.operator_namespace, selector="app.kubernetes.io/name=tfflink-operator"),
        "no operator pod",
        90,
    )
    assert not (k.get("tfflinkjob", "orphan", NS) or {}).get("metadata", {}).get("finalizers"), "finalizer released"
    # With no operator, deleting the job still completes, and garbage collection takes its cluster.
    k.kubectl("-n", NS, "delete", "tfflinkjob", "orphan", "--timeout=60s")
    k.wait_for(
        lambda: (
            not k.kubectl(
                "-n", NS, "get", "deployments,pods,configmaps,services", "-l", "tfflink.dev/job=orphan", "-o", "name"
            ).strip()
        ),
        "the job's objects collected",
        120,
    )
