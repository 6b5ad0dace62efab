"""Entry point of a TF node process: load the user's function and call it with a TFContext.

Runs in its own process (``python -m tfflink.runtime.cluster.node_main``) because TF1 graph state and
``disable_eager_execution()`` are per process and one Flink Python worker hosts many subtasks.
A background thread touches a beat file so a hung process (not just a dead one) is noticed.
A failure is written to an error file as one line: ``ExceptionType: message``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import cast

from .context import TFContext
from .user_code import load_function

NODE_ENV = "TFFLINK_NODE"


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
