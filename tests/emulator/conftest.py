"""Fixtures of the emulator tier: Kubernetes API and Flink REST stand-ins, and the operator.

The stand-ins (:mod:`kube_standin`, :class:`harness.FlinkStandIn`) run in this process over
real HTTP; the operator runs as a real process (``python -m tfflink.operator``: kopf, the
official kubernetes client) pointed at them by a kubeconfig. This tier checks the operator's
behaviour against an API *stand-in*, not a real API server (that tier is separate).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from emu_operator import OperatorProcess
from emu_standins import StandIns


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.emulator)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the tail of the operator's log: it says what the operator saw."""
    outcome = yield
    report = outcome.get_result()
    op = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(op, OperatorProcess) and op.log_path is not None:
        lines = op.log_path.read_text(errors="replace").splitlines()[-80:]
        report.sections.append(("operator log (tail)", "\n".join(lines)))


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    s = StandIns().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def kubeconfig(standins: StandIns, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return standins.kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture(scope="session")
def operator(
    standins: StandIns, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(standins, kubeconfig, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    op.stop()


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    with kubernetes.config.new_client_from_config(str(kubeconfig)) as client:
        yield client


@pytest.fixture
def ns() -> str:
    """A fresh namespace name per test (the stand-in needs no Namespace object)."""
    return f"t-{uuid.uuid4().hex[:8]}"
