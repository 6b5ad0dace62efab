"""Shared fixtures: job files written into temporary directories; what a test registered with
``close_after_test`` closed after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import close_registered


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
