"""Imports point inward: cli -> operator | backends | runtime -> lifecycle -> spec; in the
runtime, its Flink-graph side -> its TF-cluster side -> the RuntimeConfig.

Checked on the source text (ast), so a violation fails here before it becomes a cycle or
drags TensorFlow/PyFlink into the operator image.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "operator" / "tfflink"

# package -> tfflink packages it may import (besides itself)
ALLOWED = {
    "spec": set(),
    "lifecycle": {"spec"},
    "runtime": {"spec", "lifecycle"},
    "backends": {"spec", "lifecycle", "runtime"},
    "operator": {"spec", "lifecycle", "backends"},
}
# third-party modules that must stay at the edges
ONLY_IN = {"kopf": {"operator"}, "tensorflow": {"runtime"}, "keras": {"runtime"}, "pyflink": {"runtime", "backends"}}
# runtime side -> runtime modules it may import (besides its own), and what it must never import:
# the TF node processes and the AM run the cluster side without PyFlink.
RUNTIME_SIDES = {"cluster": {"config"}, "flink": {"config", "cluster"}}
NEVER_IN = {"cluster": {"pyflink", "py4j"}, "flink": set()}


def imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in ``path``."""
    pkg_parts = path.relative_to(PKG.parent).with_suffix("").parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_inward(layer: str) -> None:
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for mod, line in imports(path):
            parts = mod.split(".")
            if parts[0] == "tfflink" and len(parts) > 1 and parts[1] in ALLOWED and parts[1] != layer:
                if parts[1] not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(PKG)}:{line} imports {mod}")
            for lib, homes in ONLY_IN.items():
                if parts[0] == lib and layer not in homes:
                    bad.append(f"{path.relative_to(PKG)}:{line} imports {lib} (only in {sorted(homes)})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("side", sorted(RUNTIME_SIDES))
def test_runtime_sides(side: str) -> None:
    assert (PKG / "runtime" / side / "__init__.py").is_file()
    bad = []
    for path in sorted((PKG / "runtime" / side).rglob("*.py")):
        for mod, line in imports(path):
            parts = mod.split(".")
            if parts[:2] == ["tfflink", "runtime"] and len(parts) > 2 and parts[2] != side:
                if parts[2] not in RUNTIME_SIDES[side]:
                    bad.append(f"{path.relative_to(PKG)}:{line} imports {mod}")
            if parts[0] in NEVER_IN[side]:
                bad.append(f"{path.relative_to(PKG)}:{line} imports {parts[0]}")
    assert not bad, "\n".join(bad)


def test_runtime_top_level_is_only_the_shared_config() -> None:
    """Every runtime module sits on one side; only what both sides read stays at the top."""
    assert sorted(p.name for p in (PKG / "runtime").glob("*.py")) == ["__init__.py", "config.py"]


def test_user_code_path_loads_neither_tensorflow_keras_nor_pyflink() -> None:
    """``tfflink.tf`` is imported by every TF node's code: it must stay light until used."""
    code = (
        "import sys, tfflink.tf as t; assert t.TFContext and t.wait_until_initialized;"
        "print(sorted({'tensorflow', 'keras', 'pyflink'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
