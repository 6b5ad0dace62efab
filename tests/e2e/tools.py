"""Where the e2e tests find helm, kwok, etcd and the Kubernetes control-plane binaries.

``hack/build-tools.sh`` builds them from their Go modules at pinned versions into
``$TFFLINK_TOOLS_DIR/bin`` (default ``<repo>/.tools/bin``); ``make e2e`` / ``make test`` run it
first. A test that needs a binary that is not there skips and says how to get it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TFFLINK_TOOLS_DIR", ROOT / ".tools"))
BIN = TOOLS_DIR / "bin"
BUILD = ROOT / "hack" / "build-tools.sh"
TARGET = {
    "helm": "helm",
    "hadolint": "hadolint",
    "kwok": "kwok",
    "etcd": "etcd",
    "kube-apiserver": "k8s",
    "kube-controller-manager": "k8s",
    "kube-scheduler": "k8s",
}


def tool(name: str) -> Path | None:
    """The built binary, or one on PATH (etcd from a package, helm installed by hand)."""
    p = BIN / name
    if p.exists() and os.access(p, os.X_OK):
        return p
    found = shutil.which(name)
    return Path(found) if found else None


def require(*names: str) -> dict[str, Path]:
    """The named binaries, building missing ones when TFFLINK_E2E_BUILD=1; else skip with the reason."""
    missing = [n for n in names if tool(n) is None]
    system = [n for n in missing if n not in TARGET]
    if system:
        pytest.skip(f"{', '.join(system)} not on PATH (a system package: apt-get install {' '.join(system)})")
    if missing and os.environ.get("TFFLINK_E2E_BUILD") == "1":
        targets = sorted({TARGET[n] for n in missing})
        subprocess.run([str(BUILD), *targets], check=False)
        missing = [n for n in names if tool(n) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not built: run `hack/build-tools.sh {' '.join(sorted({TARGET[n] for n in missing}))}` "
            f"(or `make tools`); the binaries go to {BIN}"
        )
    return {n: tool(n) for n in names}
