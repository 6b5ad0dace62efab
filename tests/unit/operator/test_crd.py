"""The generated CRD: fresh, structural, explained, and rejecting bad TFFlinkJobs.

Bad specs are checked against the generated openAPIV3Schema offline (jsonschema with OpenAPI
v3.0 semantics, after API-server-style defaulting) and its CEL rules (cel-python); each one is
also rejected by the pydantic models, so the API server and `tfflink validate` agree.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from op_fixtures import job_body

from tfflink.spec import crd
from tfflink.spec.loader import SpecError, parse_job

ROOT = Path(__file__).resolve().parents[3]


def test_committed_crd_is_not_stale() -> None:
    committed = (ROOT / crd.DEFAULT_PATH).read_text()
    assert committed == crd.render(), "crds/ is stale: run `python -m tfflink.spec.crd`"


def test_crd_identity_status_subresource_and_printer_columns() -> None:
    doc = yaml.safe_load(crd.render())
    spec = doc["spec"]
    assert doc["metadata"]["name"] == "tfflinkjobs.tfflink.dev"
    assert spec["group"] == "tfflink.dev" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "TFFlinkJob" and spec["names"]["plural"] == "tfflinkjobs"
    assert spec["names"]["shortNames"] == ["tfj"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    cols = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert cols == {
        "Phase": ".status.phase",
        "Workers": ".spec.roles.worker.replicas",
        "PS": ".spec.roles.ps.replicas",
        "Restarts": ".status.restartCount",
        "Step": ".status.progress.step",
        "Steps/s": ".status.progress.stepsPerSecond",
        "Checkpoint": ".status.progress.checkpointStep",
        "Chief": ".spec.roles.chief.replicas",
        "Evaluator": ".spec.roles.evaluator.replicas",
        "Age": ".metadata.creationTimestamp",
    }


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for key, sub in (node.get("properties") or {}).items():
        out += _walk(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out += _walk(node[key], f"{path}[]")
    return out


def test_schema_is_structural_and_described() -> None:
    schema = crd.openapi_schema()
    for path, node in _walk(schema):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "const", "title", "$defs"):
            assert banned not in node, f"{path} has {banned}"
        assert node.get("additionalProperties") is not False, path
        if path.count(".") and not path.startswith((".status", ".metadata")):
            assert "type" in node, f"{path} has no type"
    spec_fields = [p for p, node in _walk(schema["properties"]["spec"], "spec") if "[]" not in p]
    undocumented = [
        p for p, node in _walk(schema["properties"]["spec"], "spec") if "[]" not in p and not node.get("description")
    ]
    assert len(spec_fields) > 40
    assert undocumented == []


def test_defaults_match_the_models() -> None:
    props = crd.openapi_schema()["properties"]["spec"]["properties"]
    assert props["flink"]["properties"]["taskManager"]["default"] == {"memory": "2g", "cpu": 0.25}
    assert props["roles"]["properties"]["ps"]["default"]["replicas"] == 0
    assert props["failover"]["properties"]["maxRestarts"]["default"] == 3
    assert props["kubernetes"]["properties"]["startupDeadlineSeconds"]["default"] == 600


def test_every_model_validator_has_a_cel_rule() -> None:
    from tfflink.spec import kubernetes, models, status

    with_validators = {
        name
        for mod in (models, kubernetes, status)
        for name, obj in vars(mod).items()
        if isinstance(obj, type)
        and getattr(obj, "__pydantic_decorators__", None)
        and obj.__pydantic_decorators__.model_validators
        and obj.__module__ == mod.__name__
    }
    assert with_validators and with_validators <= set(crd.CEL_RULES)


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = body
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return body


_DELETE = object()

BAD = {
    "missing roles": ("spec.roles", _DELETE),
    "zero workers": ("spec.roles.worker.replicas", 0),
    "negative ps": ("spec.roles.ps.replicas", -1),
    "too many workers": ("spec.roles.worker.replicas", 513),
    "two chiefs": ("spec.roles.chief.replicas", 2),
    "two evaluators": ("spec.roles.evaluator.replicas", 2),
    "workers not a number": ("spec.roles.worker.replicas", "two"),
    "unknown mode": ("spec.mode", "online"),
    "unknown failover policy": ("spec.failover.policy", "RestartOne"),
    "negative maxRestarts": ("spec.failover.maxRestarts", -1),
    "bad function name": ("spec.entry.function", "not-a-name"),
    "bad memory": ("spec.flink.taskManager.memory", "lots"),
    "zero cpu": ("spec.flink.jobManager.cpu", 0),
    "zero task slots": ("spec.flink.taskSlots", 0),
    "bad pull policy": ("spec.kubernetes.imagePullPolicy", "Sometimes"),
    "empty image": ("spec.kubernetes.image", ""),
    "short startup deadline": ("spec.kubernetes.startupDeadlineSeconds", 5),
    "bad toleration effect": ("spec.kubernetes.tolerations", [{"key": "a", "effect": "Sometimes"}]),
    "bad cleanup policy": ("spec.runPolicy.cleanupPolicy", "Never"),
    "zero active deadline": ("spec.runPolicy.activeDeadlineSeconds", 0),
    "non-string property": ("spec.properties", {"lr": 0.1}),
}
BAD_CEL = {
    "missing entry": ("spec.entry", _DELETE),
    "file and module": ("spec.entry.file", "train.py"),  # the base body has a module
    "neither file nor module": ("spec.entry", {"function": "main"}),
    "heartbeat timeout below interval": (
        "spec.failover",
        {"heartbeatIntervalSeconds": 5, "heartbeatTimeoutSeconds": 2},
    ),
    "backoff max below initial": ("spec.failover.backoff", {"initialSeconds": 10, "maxSeconds": 1}),
    "name too long": ("metadata.name", "a" * 46),
}


def test_a_good_job_passes_schema_cel_and_models() -> None:
    pytest.importorskip("celpy", reason="cel-python (dev extra) evaluates the CRD's CEL rules")
    body = job_body()
    assert crd.check_object(body) == []
    parse_job(body)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_job_rejected_by_the_schema(case: str) -> None:
    body = _set(job_body(), *BAD[case])
    problems = crd.check_object(body, cel=False)
    assert problems, f"CRD schema accepted: {case}"
    with pytest.raises(SpecError):
        parse_job(body)


@pytest.mark.parametrize("case", sorted(BAD_CEL))
def test_bad_job_rejected_by_a_cel_rule(case: str) -> None:
    pytest.importorskip("celpy", reason="cel-python (dev extra) evaluates the CRD's CEL rules")
    body = _set(job_body(), *BAD_CEL[case])
    assert crd.check_object(body, cel=False) == [], "meant to pass the plain schema"
    problems = crd.check_object(body)
    assert problems, f"CEL rules accepted: {case}"
    with pytest.raises(SpecError):
        parse_job(body)


def test_generator_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "crd.yaml"
    assert crd.main(["-o", str(out)]) == 0
    assert crd.main(["-o", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("tfj", "tfx"))
    assert crd.main(["-o", str(out), "--check"]) == 1
