"""Shared fixtures: job files written into temporary directories; what a test registered with
``close_after_test`` closed after it. Also the JIT settings of the Flink JVMs the suite starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.closing import close_registered

# Every Flink JVM a test starts on this machine (JobManager, TaskManager, the ``flink run``
# client; Flink's scripts put $JVM_ARGS on their java command lines) lives for seconds to a
# minute, so its start-up dominates: C1-only JIT and the serial collector cut the CPU of a
# local cluster's start by about a third (22.6 -> 15.3 CPU-seconds measured on 2 cores), the
# time the suite spends most on. The same Flink and the same code run, so every test checks
# the same behaviour; only the JVM's compiler tier and collector differ. Not a product default:
# a long-running job's data plane wants C2. Set JVM_ARGS yourself to override (empty: none).
os.environ.setdefault("JVM_ARGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(autouse=True)
def _close_registered() -> Iterator[None]:
    yield
    close_registered()


@pytest.fixture
def write_job(tmp_path: Path):
    """Write a job file (and its entry module) into tmp_path; returns the job path."""

    def write(doc: dict[str, Any] | str, code: str = "def map_func(context):\n    pass\n") -> Path:
        (tmp_path / "fn.py").write_text(code)
        path = tmp_path / "job.yaml"
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
        return path

    return write
