"""The e2e tier: the Helm chart, the images' requirements, and the operator against a real
Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, with
kwok simulating the node and its pods). The kind suite (``tests/e2e/kind``) needs Docker.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


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
