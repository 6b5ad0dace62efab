"""``python -m tfflink.operator.drain``: stop the operator cleanly before ``helm uninstall``.

The chart runs this as a pre-delete hook. Helm deletes the operator's Deployment and its RBAC in
the same instant, so an operator stopped by the uninstall itself could no longer release its
finalizer from the TFFlinkJobs (they would hang in Terminating when deleted later). Scaling the
Deployment to zero first lets the operator stop while its permissions still exist.
"""

from __future__ import annotations

import argparse
import sys
import time

import kubernetes

from ..backends.kubernetes.api import load_client


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tfflink.operator.drain", description=__doc__.splitlines()[0])
    p.add_argument("--namespace", required=True, help="the operator's namespace")
    p.add_argument("--deployment", required=True, help="the operator's Deployment")
    p.add_argument("--selector", required=True, help="label selector of the operator's pods")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the pods to stop")
    args = p.parse_args(argv)
    client = load_client()
    apps, core = kubernetes.client.AppsV1Api(client), kubernetes.client.CoreV1Api(client)
    try:
        apps.patch_namespaced_deployment_scale(args.deployment, args.namespace, {"spec": {"replicas": 0}})
    except kubernetes.client.ApiException as e:
        print(f"drain: cannot scale {args.namespace}/{args.deployment} to 0: {e.reason}", file=sys.stderr)
        return 0  # never block the uninstall
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(args.namespace, label_selector=args.selector).items
        if not pods:
            print("drain: the operator has stopped (its TFFlinkJobs' finalizers are released)")
            return 0
        time.sleep(1)
    print(f"drain: the operator did not stop within {args.timeout:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
