"""Entry point of a TF node process: load the user's function and call it with a TFContext.

Runs in its own process (``python -m tfflink.runtime.cluster.node_main``) because TF1 graph state and
``disable_eager_execution()`` are per process and one Flink Python worker hosts many subtasks.
A background thread touches a beat file so a hung process (not just a dead one) is noticed.
A failure is written to an error file as one line: ``ExceptionType: message``.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from .context import TFContext

NODE_ENV = "TFFLINK_NODE"


def load_function(entry_path: str | None, module: str | None, function: str) -> Callable[[TFContext], Any]:
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


def _beat(path: Path, interval: float) -> None:
    while True:
        try:
            path.touch()
        except OSError:
            pass
        time.sleep(interval)


def main() -> int:
    node = json.loads(os.environ[NODE_ENV])
    beat = Path(node["beat_file"])
    threading.Thread(target=_beat, args=(beat, node["beat_interval"]), daemon=True).start()
    try:
        fn = load_function(node.get("entry_path"), node.get("entry_module"), node["function"])
        context = TFContext(node)
        fn(context)
        context.close_input()  # stream mode: the operator stops feeding and waiting
    except SystemExit as e:
        if e.code in (None, 0):
            return 0
        Path(node["error_file"]).write_text(f"SystemExit: {e.code}")
        return e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001  (anything the user's code raises fails the node)
        traceback.print_exc()
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        Path(node["error_file"]).write_text(f"{type(e).__name__}: {first}" if first else type(e).__name__)
        return 1
    return 0


if __name__ == "__main__":
    cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # TF's gRPC threads can keep a normal exit waiting forever
