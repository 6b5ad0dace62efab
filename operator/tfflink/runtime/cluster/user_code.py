"""Importing the user's code in a TF node process: the entry function, the batch feature step."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast


def load_function(entry_path: str | None, module: str | None, function: str) -> Callable[..., Any]:
    """Import the user's entry (a file path or a module) and return its function."""
    if entry_path:
        path = Path(entry_path)
        sys.path.insert(0, str(path.parent))  # the entry's sibling modules import as usual
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(str(module))
    fn = getattr(mod, function, None)
    if not callable(fn):
        raise AttributeError(f"{function!r} is not a function of {entry_path or module}")
    return cast(Callable[..., Any], fn)
