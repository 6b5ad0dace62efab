"""Fixtures of the operator's unit tests (no cluster, no network)."""

from __future__ import annotations

import pytest
from op_fixtures import job_ref

from tfflink.backends.kubernetes.manifests import JobRef


@pytest.fixture
def ref() -> JobRef:
    return job_ref()
