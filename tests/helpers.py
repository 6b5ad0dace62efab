"""Helpers shared by the test suites (imported as tests.helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TFFLINK = [sys.executable, "-m", "tfflink"]


def job_doc(**spec: Any) -> dict[str, Any]:
    """A valid TFFlinkJob document; keyword arguments replace spec fields."""
    base: dict[str, Any] = {
        "entry": {"file": "fn.py", "function": "map_func"},
        "roles": {"worker": {"replicas": 1}, "ps": {"replicas": 0}},
    }
    base.update(spec)
    return {"apiVersion": "tfflink.dev/v1alpha1", "kind": "TFFlinkJob", "metadata": {"name": "t"}, "spec": base}


def tfflink(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would."""
    return subprocess.run([*TFFLINK, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=dict(os.environ))
