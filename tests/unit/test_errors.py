"""Every tfflink exception says whether a retry may help, and the CLI and the restart policy act on it."""

from __future__ import annotations

import ast
import builtins
import importlib
import json
from pathlib import Path

import pytest
import yaml

import tfflink
from tests.support.jobs import job_doc
from tfflink.cli.main import main
from tfflink.errors import PermanentFailure, TemporaryFailure, TfflinkError
from tfflink.lifecycle import FatalJobError, RestartPolicy
from tfflink.lifecycle.errors import failure_record, read_failure_record

# What each class means, decided by what the code does with it (docs/failover.md lists them).
PERMANENT = {
    "SpecError",
    "CliError",
    "FatalJobError",
    "MalformedRow",
    "UnsafeWorkdir",
    "AddressConflict",
    "AMRejected",
    "BadRequest",
    "NodeStopped",
    "TFJobFailed",
    "Refused",
}
TEMPORARY = {
    "FlinkUnreachable",
    "SubmitError",
    "AMUnreachable",
    "RendezvousError",
    "BridgeError",
    "BridgeProtocolError",
    "CheckpointMissing",
}


def _all_error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in the tfflink package. Found in the source first (a class
    whose base is an exception, by name, to a fixpoint), so only their modules are imported
    (not TensorFlow's)."""
    pkg = Path(tfflink.__file__).parent
    classes: dict[str, tuple[str, list[str]]] = {}  # name -> (module, base names)
    for path in pkg.rglob("*.py"):
        module = ".".join(path.relative_to(pkg.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                classes[node.name] = (module, bases)
    errors = {
        name
        for name in dir(builtins)
        if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
    }
    found: set[str] = set()
    while True:
        more = {name for name, (_, bases) in classes.items() if set(bases) & (errors | found)} - found
        if not more:
            break
        found |= more
    return {name: getattr(importlib.import_module(classes[name][0]), name) for name in found}


def test_every_tfflink_exception_is_permanent_or_temporary() -> None:
    classes = {name: cls for name, cls in _all_error_classes().items() if not name.startswith("_")}
    assert set(classes) == PERMANENT | TEMPORARY | {"TfflinkError", "PermanentFailure", "TemporaryFailure"}
    for name in PERMANENT:
        assert issubclass(classes[name], PermanentFailure) and classes[name].retryable is False, name
    for name in TEMPORARY:
        assert issubclass(classes[name], TemporaryFailure) and classes[name].retryable is True, name


def test_the_policy_spends_no_restart_on_a_fatal_failure_text() -> None:
    """The AM (a node's error), tfflink run and the operator all ask the policy: a reason that
    crossed Flink with the fatal mark fails at once, with the budget untouched."""
    reason = (
        f"worker-0 exited 1: Traceback ...\ntfflink.runtime.flink.rows.MalformedRow: {FatalJobError('a.csv:3: bad')}"
    )
    decision = RestartPolicy(max_restarts=3).decide(restarts_done=0, reason=reason)
    assert not decision.restart
    assert decision.reason == "MalformedRow: a.csv:3: bad (not retried)"
    assert RestartPolicy(max_restarts=3).decide(restarts_done=0, reason="worker-0 exited 1: OSError: x").restart


def test_a_failure_record_keeps_the_meaning_across_text() -> None:
    from tfflink.backends.submit import SubmitError
    from tfflink.spec import SpecError

    assert read_failure_record(failure_record(SpecError("j.yaml", ["a: bad", "b: bad"]))) == (
        "j.yaml: a: bad; j.yaml: b: bad",
        False,
    )
    assert read_failure_record(failure_record(SubmitError("flink down"))) == ("flink down", True)
    for other in ("", "Traceback ...", '{"jobId": "x"}', "[1]"):
        assert read_failure_record(other) is None


def _job_dir(tmp_path: Path, entry: bool = True) -> Path:
    if entry:
        (tmp_path / "fn.py").write_text("def map_func(ctx):\n    pass\n")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(job_doc()))
    return job


def _submit(job: Path, result: Path) -> list[str]:
    return [
        "submit",
        str(job),
        "--flink-address",
        "jm:8081",
        "--rendezvous",
        "file:///tmp/x",
        "--result-file",
        str(result),
    ]


def test_cli_permanent_failure_exit_2_lines_and_a_record_saying_not_retryable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The submitter pod with a job whose entry file is missing: no new attempt can fix it."""
    job, result = _job_dir(tmp_path, entry=False), tmp_path / "termination-log"
    assert main(_submit(job, result)) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        len(err) == 1 and err[0].startswith("tfflink: invalid job: ") and "spec.entry.file: fn.py not found" in err[0]
    )
    error, retryable = read_failure_record(result.read_text()) or ("", True)
    assert "spec.entry.file: fn.py not found" in error and not retryable


def test_cli_temporary_failure_exit_1_one_line_and_a_record_saying_retryable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tfflink.backends.submit as submit_mod

    def unreachable(*_: object, **__: object) -> str:
        raise submit_mod.SubmitError("submitting to Flink at jm:8081 failed: Connection refused")

    monkeypatch.setattr(submit_mod, "submit", unreachable)
    job, result = _job_dir(tmp_path), tmp_path / "termination-log"
    assert main([*_submit(job, result), "--workdir", str(tmp_path / "w")]) == 1
    assert capsys.readouterr().err == "tfflink: error: submitting to Flink at jm:8081 failed: Connection refused\n"
    assert json.loads(result.read_text()) == {
        "error": "submitting to Flink at jm:8081 failed: Connection refused",
        "retryable": True,
    }


def test_the_base_is_not_raised_itself() -> None:
    """A class must choose its meaning: the base has none to read."""
    assert not hasattr(TfflinkError, "retryable")
