"""The real-node tier: a one-node Kubernetes cluster with a real kubelet and containerd on this
machine (realnode.py), the chart installed with helm, the operator running as a pod from its
image, and pods from the runtime image.

Fixtures
--------
``node_cluster`` (a :class:`Node`): the cluster, started once for the session on first use and
torn down after the last test of this package (or at the session's end). Helpers:

* ``kubectl(*args, stdin=None, check=True)`` -> stdout; ``apply(yaml_or_dict_or_list, ns=None)``;
  ``get(kind, name=None, ns=..., selector=...)`` -> dict (or the items list);
* ``wait_for(fn, what, timeout=60)`` -> fn's first truthy value (checks the cluster is alive);
* ``wait_pod_phase(name, ns, phases)``, ``run_pod(name, command, ns=..., image=RUNTIME_IMAGE)``
  -> (phase, logs); ``logs(pod, ns, container=None)``; ``events(ns)``; ``describe(kind, ns)``;
* ``namespace(name)`` creates a namespace (deleted at teardown with everything else);
* ``pvc(name, ns, size)`` -> Path: a PVC bound to a fresh hostPath PV, the PV's dir on this host;
  PVCs written in YAML with ``storageClassName: standard`` (the default class) bind to a pool of
  pre-created hostPath PVs (10Gi, RWO+RWX);
* ``helm_upgrade(*sets)`` re-runs ``helm upgrade --install`` with more ``--set``s;
* ``kubeconfig`` (Path), ``server``, ``runtime_image`` / ``operator_image`` (the names pods
  use; imagePullPolicy IfNotPresent or Never), ``operator_namespace``, ``release``,
  ``timings`` (seconds per start step), ``logs_dir`` (the components' logs).

Tests here are marked ``node`` and ``e2e``; they are skipped (one line) only where this machine
cannot run a node at all (not root, no namespaces, no cgroups). A failed build or start fails.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from node_support import Node
from realnode import cannot_run_reason

HERE = Path(__file__).parent
_SESSION: dict[str, Node] = {}


def _is_node_item(item: pytest.Item | None) -> bool:
    return item is not None and HERE in Path(str(item.fspath)).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = cannot_run_reason()
    timeout = int(os.environ.get("TFFLINK_NODE_TIMEOUT", "2400"))  # a cold image build happens in setup
    # The teardown check runs after every other node test (it stops the cluster).
    last = [i for i in items if _is_node_item(i) and i.name == "test_teardown_leaves_nothing"]
    for i in last:
        items.remove(i)
    end = max((j for j, i in enumerate(items) if _is_node_item(i)), default=len(items) - 1)
    items[end + 1 : end + 1] = last
    for item in items:
        if _is_node_item(item):
            item.add_marker(pytest.mark.node)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(timeout))
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Stop the cluster as soon as the tier's last test is done (not at the session's end), so it
    never runs alongside the kwok control-plane tier or the rest of the suite; after the test's
    own fixtures are finalized (they may still clean up on the cluster)."""
    try:
        return (yield)
    finally:
        node = _SESSION.get("node")
        if node is not None and _is_node_item(item) and not _is_node_item(nextitem):
            node.stop_and_check()


@pytest.fixture(scope="session")
def _node_session() -> Iterator[Node]:
    node = Node()
    _SESSION["node"] = node
    try:
        yield node
    finally:
        _SESSION.pop("node", None)
        node.stop_and_check()


@pytest.fixture
def node_cluster(_node_session: Node) -> Node:
    """The running cluster (started on first use; restarted if a test stopped it)."""
    _node_session.ensure_up()
    return _node_session


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed node test, attach the operator pod's log and the recent events."""
    outcome = yield
    report = outcome.get_result()
    node = _SESSION.get("node")
    if report.failed and _is_node_item(item) and node is not None and node.up:
        try:
            report.sections.append(("operator pod log (tail)", node.operator_logs(tail=80)))
            report.sections.append(("events (tail)", node.events(all_namespaces=True)[-4000:]))
        except Exception as e:  # noqa: BLE001 - the report must not fail
            report.sections.append(("node diagnostics", f"could not collect: {e}"))
