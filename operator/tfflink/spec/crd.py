"""Generate the TFFlinkJob CustomResourceDefinition from the pydantic models.

``python -m tfflink.spec.crd`` writes ``crds/tfflinkjobs.tfflink.dev.yaml``; a unit test fails
when the committed file differs from what the models generate, so the API server validates
exactly what the CLI and the operator validate. Cross-field rules (pydantic model validators)
become CEL rules (``x-kubernetes-validations``) listed in :data:`CEL_RULES`.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from .models import API_VERSION, KIND, TFFlinkJob
from .status import TFFlinkJobStatus

GROUP, VERSION = API_VERSION.split("/")
PLURAL, SINGULAR, SHORT_NAMES = "tfflinkjobs", "tfflinkjob", ["tfj"]
CRD_NAME = f"{PLURAL}.{GROUP}"
ROOT = Path(__file__).resolve().parents[3]  # the repository (sources live in operator/)
DEFAULT_PATH = ROOT / "crds" / f"{CRD_NAME}.yaml"
CHART_PATH = ROOT / "charts" / "tfflink-operator" / "crds" / f"{CRD_NAME}.yaml"  # kept identical

# Per model (by class name): rules a single-field schema cannot express. Each mirrors a
# pydantic model validator; tests evaluate them against good and bad specs.
CEL_RULES: dict[str, list[dict[str, str]]] = {
    "Entry": [
        {
            "rule": "(has(self.file) && size(self.file) > 0) != (has(self.module) && size(self.module) > 0)",
            "message": "set exactly one of 'file' or 'module'",
        }
    ],
    "FailoverSpec": [
        {
            "rule": "self.heartbeatTimeoutSeconds > self.heartbeatIntervalSeconds",
            "message": "heartbeatTimeoutSeconds must be greater than heartbeatIntervalSeconds",
        },
        {
            "rule": "self.backoff.maxSeconds >= self.backoff.initialSeconds",
            "message": "backoff.maxSeconds must be >= backoff.initialSeconds",
        },
    ],
    "SourceSpec": [
        {"rule": "has(self.csv) != has(self.generated)", "message": "set exactly one of 'csv' or 'generated'"}
    ],
    "InputSpec": [
        {
            "rule": "size(self.sources) < 2 || has(self.join)",
            "message": "join: required field is missing (two sources must be joined)",
        },
        {
            "rule": "!has(self.join) || self.sources.all(s, s.columns.exists(c, c.name == self.join.key))",
            "message": "join.key must be a column of every source",
        },
    ],
    "TFFlinkJobSpec": [
        {
            "rule": "self.mode != 'inference' || (has(self.savedModel) && has(self.input) && has(self.output))",
            "message": "mode inference needs savedModel, input and output",
        },
        {
            "rule": "self.mode != 'inference' || !has(self.roles.chief) || self.roles.chief.replicas == 0",
            "message": "roles.chief.replicas must be 0 in inference mode",
        },
        {
            "rule": "self.mode != 'inference' || !has(self.roles.ps) || self.roles.ps.replicas == 0",
            "message": "roles.ps.replicas must be 0 in inference mode",
        },
        {
            "rule": "self.mode != 'inference' || !has(self.roles.evaluator) || self.roles.evaluator.replicas == 0",
            "message": "roles.evaluator.replicas must be 0 in inference mode",
        },
        {
            "rule": "self.mode != 'stream' || has(self.input)",
            "message": "input: required field is missing (mode: stream)",
        },
        {
            "rule": "self.mode == 'inference' || has(self.entry)",
            "message": "entry: required field is missing (mode: batch or stream)",
        },
    ],
    "TFFlinkJob": [
        {
            "rule": "size(self.metadata.name) <= 45",
            "message": "metadata.name must be at most 45 characters (owned objects' names add suffixes)",
        }
    ],
}

PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Workers", "type": "integer", "jsonPath": ".spec.roles.worker.replicas"},
    {"name": "PS", "type": "integer", "jsonPath": ".spec.roles.ps.replicas"},
    {"name": "Restarts", "type": "integer", "jsonPath": ".status.restartCount"},
    {"name": "Step", "type": "integer", "jsonPath": ".status.progress.step"},
    {"name": "Steps/s", "type": "number", "jsonPath": ".status.progress.stepsPerSecond"},
    {"name": "Checkpoint", "type": "integer", "jsonPath": ".status.progress.checkpointStep", "priority": 1},
    {"name": "Chief", "type": "integer", "jsonPath": ".spec.roles.chief.replicas", "priority": 1},
    {"name": "Evaluator", "type": "integer", "jsonPath": ".spec.roles.evaluator.replicas", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


class _WithFactoryDefaults(GenerateJsonSchema):
    """Also emit defaults made by default_factory, so the API server fills them in."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = cast(Callable[[], Any], factory)()  # not default_factory_takes_data: no argument
            if isinstance(value, BaseModel):
                value = value.model_dump(by_alias=True, mode="json", exclude_none=True)
            inner = self.generate_inner(schema["schema"])
            return {**inner, "default": value}
        return super().default_schema(schema)


def _openapi(node: Any, defs: dict[str, Any]) -> Any:
    """Turn pydantic's JSON Schema into a structural OpenAPI v3 schema (recursively)."""
    if isinstance(node, list):
        return [_openapi(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {options}")
        if node.get("default", 0) is None:
            del node["default"]  # optional: absent means None
        return _openapi({**options[0], **node}, defs)
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        target = dict(defs[name])
        rules = CEL_RULES.get(name)
        if rules:
            target["x-kubernetes-validations"] = rules
        node = {**target, **node}  # the field's own description/default win
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(key), (int, float)) and not isinstance(node[key], bool):
            node[key.replace("exclusiveM", "m")] = node[key]
            node[key] = True
    node.pop("title", None)
    if node.get("additionalProperties") is False or node.get("x-kubernetes-preserve-unknown-fields"):
        node.pop("additionalProperties", None)  # structural schemas prune unknown fields instead
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {k: _openapi(v, defs) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _openapi(value, defs)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults)
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _openapi(raw, defs)
    return schema


def openapi_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the CRD's only version."""
    schema = _model_schema(TFFlinkJob)
    props = schema["properties"]
    props["apiVersion"] = {"type": "string", "description": "tfflink.dev/v1alpha1"}
    props["kind"] = {"type": "string", "description": "TFFlinkJob"}
    props["metadata"] = {"type": "object"}
    status = _model_schema(TFFlinkJobStatus)
    status["x-kubernetes-preserve-unknown-fields"] = True  # kopf keeps its own notes here
    props["status"] = status
    schema["required"] = ["spec"]
    schema["x-kubernetes-validations"] = CEL_RULES["TFFlinkJob"]
    return schema


def crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["tfflink"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render() -> str:
    """The CRD as the YAML text committed under crds/."""
    header = "# Generated by `python -m tfflink.spec.crd` from operator/tfflink/spec; do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=100)


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill in defaults the way the API server does for a structural schema (a copy)."""
    if isinstance(value, dict):
        out = dict(value)
        for key, sub in (schema.get("properties") or {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            out = {
                k: apply_defaults(extra, v) if k not in (schema.get("properties") or {}) else v for k, v in out.items()
            }
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def _cel_errors(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    import celpy  # cel-python: a dev dependency, only needed to check specs offline
    from celpy.adapter import json_to_cel

    errors: list[str] = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations") or []:
        prog = env.program(env.compile(rule["rule"]))
        if not prog.evaluate({"self": json_to_cel(value)}):
            errors.append(f"{path or '<root>'}: {rule['message']}")
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                errors += _cel_errors(sub, value[key], f"{path}.{key}" if path else key)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _cel_errors(schema["items"], item, f"{path}[{i}]")
    return errors


def check_object(obj: dict[str, Any], *, cel: bool = True) -> list[str]:
    """Problems the API server would report for ``obj`` (defaulting, schema, then CEL rules).

    Offline and without a cluster: jsonschema (Draft 4 semantics, as OpenAPI v3.0) checks the
    structural schema and cel-python evaluates the ``x-kubernetes-validations`` rules.
    """
    import jsonschema

    schema = openapi_schema()
    value = apply_defaults(schema, obj)
    validator = jsonschema.Draft4Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if not errors and cel:
        errors = _cel_errors(schema, value, "")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the CRD file."""
    parser = argparse.ArgumentParser(prog="python -m tfflink.spec.crd", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        action="append",
        help="where to write the CRD (repeatable; default: crds/ and the Helm chart's crds/)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    outputs = args.output or [DEFAULT_PATH, CHART_PATH]
    text = render()
    if args.check:
        stale = [p for p in outputs if (p.read_text() if p.exists() else "") != text]
        for p in stale:
            print(f"{p} is stale: run python -m tfflink.spec.crd", file=sys.stderr)
        return 1 if stale else 0
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
