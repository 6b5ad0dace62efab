"""The kind suite: the operator and runtime images in a kind cluster, the chart installed with
them, and a real job running to Succeeded. Needs docker (a running engine) and kind on PATH;
otherwise every test here is skipped with that reason.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kind_support import OPERATOR_IMAGE, ROOT, RUNTIME_IMAGE, TAG, missing_reason, sh


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = missing_reason()
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.kind)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kind cluster (or the one named by TFFLINK_KIND_CLUSTER) with both images loaded."""
    name = os.environ.get("TFFLINK_KIND_CLUSTER") or f"tfflink-e2e-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    created = False
    if name not in sh("kind", "get", "clusters").stdout.split():
        sh("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), "--wait", "120s", timeout=900)
        created = True
    else:
        kubeconfig.write_text(sh("kind", "get", "kubeconfig", "--name", name).stdout)
    if os.environ.get("TFFLINK_SKIP_IMAGE_BUILD") != "1":
        sh("make", "-C", str(ROOT), "images", f"IMAGE_TAG={TAG}", timeout=3600)
    for image in (OPERATOR_IMAGE, RUNTIME_IMAGE):
        sh("kind", "load", "docker-image", image, "--name", name, timeout=900)
    yield kubeconfig
    if created and os.environ.get("TFFLINK_KEEP_KIND") != "1":
        sh("kind", "delete", "cluster", "--name", name, check=False)
