"""RuntimeConfig parses its job once per process, and only its fields travel into Flink."""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle
import pytest

from tfflink.api import make_config
from tfflink.runtime import config

JOB = Path(__file__).resolve().parents[2] / "examples" / "linear" / "job.yaml"


def test_the_job_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(JOB, rendezvous="file:///x")
    calls: list[object] = []
    parse = config.parse_job
    monkeypatch.setattr(config, "parse_job", lambda job: calls.append(job) or parse(job))
    assert cfg.spec is cfg.spec and cfg.resource.spec is cfg.spec
    assert len(calls) == 1


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_pickled_config_carries_its_fields_not_the_parsed_job(dumps: object) -> None:
    cfg = make_config(JOB, rendezvous="file:///x")
    assert cfg.spec.roles.worker.replicas > 0  # parsed here
    back = pickle.loads(dumps(cfg))  # type: ignore[operator]
    assert back == cfg and back.token == cfg.token
    assert "resource" not in back.__dict__, "parsed again on the other side, not shipped"
    assert back.spec == cfg.spec
