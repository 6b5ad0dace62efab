"""Helpers shared by the test suites (imported as tests.helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Protocol, TypeVar

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
    return subprocess.run(
        [*TFFLINK, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=dict(os.environ)
    )


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose environment or command line contains ``text`` (leak check)."""
    found = []
    needle = text.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            stat = (d / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                continue
            if needle in (d / "environ").read_bytes() or needle in (d / "cmdline").read_bytes():
                found.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]))
        except OSError:
            continue
    return found


def copy_example(name: str, dest: Path, **overrides: Any) -> Path:
    """Copy examples/<name> into ``dest``, set checkpointDir there and apply spec overrides."""
    import shutil

    import yaml

    shutil.copytree(REPO / "examples" / name, dest, dirs_exist_ok=True)
    path = dest / "job.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["checkpointDir"] = str(dest / "ckpt")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc["spec"].get(key), dict):
            doc["spec"][key].update(value)
        else:
            doc["spec"][key] = value
    path.write_text(yaml.safe_dump(doc))
    return path


def sigint_default() -> None:
    """``preexec_fn`` for a CLI a test interrupts: SIGINT as a terminal gives it. A runner that
    starts the suite in the background (``cmd &``) leaves SIGINT ignored, and Python then never
    turns it into KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """Status and body of a plain GET, the connection closed again (a test must not leak it)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return int(r.status), bytes(r.read())


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)
_TO_CLOSE: list[_Closable] = []


def close_after_test(thing: C) -> C:
    """``thing`` is closed once the current test ends (tests/conftest.py): an open socket or
    server left to the garbage collector is a ResourceWarning, and warnings are errors."""
    _TO_CLOSE.append(thing)
    return thing


def close_registered() -> None:
    while _TO_CLOSE:
        _TO_CLOSE.pop().close()
