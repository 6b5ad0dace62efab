"""Imports point inward: cli -> operator | backends | runtime -> lifecycle -> spec.

Checked on the source text (ast), so a violation fails here before it becomes a cycle or
drags TensorFlow/PyFlink into the operator image.
"""

from __future__ import annotations

import ast
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
