"""Constants and helpers of the kind suite (see conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TAG = os.environ.get("TFFLINK_IMAGE_TAG", "0.1.0")
OPERATOR_IMAGE = f"tfflink/operator:{TAG}"
RUNTIME_IMAGE = f"tfflink/runtime:{TAG}"


def missing_reason() -> str | None:
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"kind e2e needs {tool} on PATH (no Docker engine on this machine; run `make e2e-kind` where Docker and kind exist)"
    r = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if r.returncode != 0:
        return "kind e2e needs a running Docker engine: `docker info` failed"
    if shutil.which("helm") is None and not (ROOT / ".tools" / "bin" / "helm").exists():
        return "kind e2e needs helm (hack/build-tools.sh helm)"
    return None


def sh(*cmd: str, timeout: float = 600, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check, **kw)
