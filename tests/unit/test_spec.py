"""Loading job files: every mistake is reported by its field path with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.cli import tfflink
from tests.support.jobs import job_doc
from tfflink.spec import SpecError, load_job, parse_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_valid_job_defaults() -> None:
    job = parse_job(job_doc())
    assert job.spec.mode.value == "batch"
    assert job.spec.entry.function == "map_func"
    assert job.spec.roles.ps.replicas == 0
    assert job.spec.failover.max_restarts == 3
    assert job.spec.slots_needed() == 2


def test_chief_and_evaluator_each_get_a_slot_and_their_place_in_the_roles() -> None:
    job = parse_job(
        job_doc(
            roles={
                "worker": {"replicas": 2},
                "ps": {"replicas": 1},
                "chief": {"replicas": 1},
                "evaluator": {"replicas": 1},
            }
        )
    )
    assert job.spec.roles.sizes() == {"chief": 1, "worker": 2, "ps": 1, "evaluator": 1}
    assert job.spec.slots_needed() == 6  # the AM's slot too
    assert parse_job(job_doc()).spec.roles.sizes() == {"chief": 0, "worker": 1, "ps": 0, "evaluator": 0}


BAD_JOBS = [
    ("worker replicas 0", job_doc(roles={"worker": {"replicas": 0}}), "spec.roles.worker.replicas: must be >= 1"),
    (
        "negative ps",
        job_doc(roles={"worker": {"replicas": 1}, "ps": {"replicas": -2}}),
        "spec.roles.ps.replicas: must be >= 0",
    ),
    (
        "two chiefs",
        job_doc(roles={"worker": {"replicas": 1}, "chief": {"replicas": 2}}),
        "spec.roles.chief.replicas: must be <= 1",
    ),
    ("tensorboard without logDir", job_doc(tensorboard={}), "spec.tensorboard.logDir: required field is missing"),
    ("unknown mode", job_doc(mode="online"), "spec.mode: must be one of"),
    (
        "no entry",
        {**job_doc(), "spec": {"roles": {"worker": {"replicas": 1}}}},
        "spec.entry: required field is missing",
    ),
    (
        "file and module",
        job_doc(entry={"file": "a.py", "module": "b"}),
        "spec.entry: set exactly one of 'file' or 'module'",
    ),
    ("bad function name", job_doc(entry={"file": "a.py", "function": "not valid"}), "spec.entry.function: must match"),
    ("unknown field", job_doc(replicas=3), "spec.replicas: unknown field"),
    (
        "typo in roles",
        job_doc(roles={"worker": {"replicas": 1}, "pss": {"replicas": 1}}),
        "spec.roles.pss: unknown field",
    ),
    (
        "string replicas",
        job_doc(roles={"worker": {"replicas": "many"}}),
        "spec.roles.worker.replicas: input should be a valid integer",
    ),
    ("bad memory", job_doc(flink={"taskManager": {"memory": "lots"}}), "spec.flink.taskManager.memory: must match"),
    (
        "timeout below interval",
        job_doc(failover={"heartbeatIntervalSeconds": 5, "heartbeatTimeoutSeconds": 2}),
        "spec.failover.heartbeatTimeoutSeconds: must be greater than heartbeatIntervalSeconds",
    ),
    ("negative restarts", job_doc(failover={"maxRestarts": -1}), "spec.failover.maxRestarts: must be >= 0"),
    ("unknown policy", job_doc(failover={"policy": "RestartOne"}), "spec.failover.policy: must be one of"),
    ("wrong apiVersion", {**job_doc(), "apiVersion": "tfflink.dev/v2"}, "apiVersion: must be one of"),
    ("wrong kind", {**job_doc(), "kind": "TFJob"}, "kind: must be one of"),
    ("bad name", {**job_doc(), "metadata": {"name": "My_Job"}}, "metadata.name: must match"),
    (
        "non-string property",
        job_doc(properties={"steps": [1, 2]}),
        "spec.properties.steps: input should be a valid string",
    ),
]


@pytest.mark.parametrize(("case", "doc", "message"), BAD_JOBS, ids=[c[0] for c in BAD_JOBS])
def test_bad_job_names_the_field(case: str, doc: dict, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_job(doc)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_all_problems_reported_at_once() -> None:
    doc = job_doc(mode="x", roles={"worker": {"replicas": 0}})
    with pytest.raises(SpecError) as err:
        parse_job(doc)
    assert len(err.value.problems) == 2


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("apiVersion: tfflink.dev/v1alpha1\nspec:\n  roles: [unclosed\n")
    with pytest.raises(SpecError) as err:
        load_job(p)
    assert "invalid YAML" in str(err.value) and "line" in str(err.value)


def test_cli_validate_exit_codes(write_job) -> None:
    ok = tfflink("validate", str(write_job(job_doc())))
    assert ok.returncode == 0, ok.stderr
    assert "valid TFFlinkJob 't'" in ok.stdout
    bad = tfflink("validate", str(write_job(job_doc(roles={"worker": {"replicas": 0}}))))
    assert bad.returncode == 2
    assert "spec.roles.worker.replicas: must be >= 1" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_missing_job_file(tmp_path: Path) -> None:
    r = tfflink("validate", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "cannot read job file" in r.stderr


@pytest.mark.parametrize(
    ("entry", "code", "message"),
    [
        ({"file": "missing.py"}, "", "spec.entry.file: missing.py not found"),
        (
            {"file": "fn.py", "function": "train"},
            "def map_func(c):\n    pass\n",
            "spec.entry.function: 'train' is not defined",
        ),
        ({"module": "no_such_module_xyz"}, "", "spec.entry.module: module 'no_such_module_xyz' not found"),
        ({"file": "fn.py"}, "def map_func(:\n", "syntax error"),
    ],
)
def test_bad_entry_reported_before_flink_starts(
    write_job, tmp_path: Path, entry: dict, code: str, message: str
) -> None:
    job = write_job(job_doc(entry=entry), code=code)
    r = tfflink("run", str(job), "--workdir", str(tmp_path / "wd"))
    assert r.returncode == 2
    assert message in r.stderr
    assert not (tmp_path / "wd").exists(), "nothing may be created for an invalid job"


@pytest.mark.parametrize("role", ["chief", "ps", "evaluator"])
def test_inference_mode_refuses_roles_beside_the_workers(role: str) -> None:
    doc = yaml.safe_load((EXAMPLES / "inference" / "job.yaml").read_text())
    doc["spec"]["roles"][role] = {"replicas": 1}
    with pytest.raises(SpecError) as err:
        parse_job(doc)
    assert any(f"spec.roles.{role}.replicas: must be 0 in inference mode" in p for p in err.value.problems)
