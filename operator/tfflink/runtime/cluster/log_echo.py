"""TF node log lines echoed to the container's own stdout, so ``kubectl logs`` shows them.

A Flink Python worker's stdout is a pipe nobody drains (a print there blocks once it fills),
so the node lines go to the AM first. On Kubernetes the operator also sets ``TFFLINK_LOG_STDOUT``
to the container's stdout (``/proc/1/fd/1``, the pipe the runtime drains). Writes never block:
a line that does not fit in the pipe right now is dropped here (the AM still has it).
"""

from __future__ import annotations

import os
import re
import threading

ENV = "TFFLINK_LOG_STDOUT"
MAX_LINE_BYTES = 4000  # below PIPE_BUF: each line is written whole, never interleaved

MAX_LINE_CHARS = 4000  # a node log line as the AM keeps it and the CLI prints it

# C0 controls but tab, DEL, C1 controls (0x9b is a CSI on some terminals), and Unicode's
# bidirectional overrides: whatever could move a terminal's cursor or disguise text.
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` safe to print on a terminal: controls escaped (``\\x1b``), cut at ``limit`` chars."""
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} chars cut]"
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


_lock = threading.Lock()
_fd: int | None = None
_opened = False


def _open() -> int | None:
    global _fd, _opened
    with _lock:
        if not _opened:
            _opened = True
            path = os.environ.get(ENV)
            if path:
                try:
                    _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
                except OSError:
                    _fd = None
    return _fd


def echo(line: str) -> None:
    """Write one line to the container's stdout when configured; never raises, never blocks."""
    fd = _open()
    if fd is None:
        return
    data = printable(line).encode(errors="replace")[:MAX_LINE_BYTES] + b"\n"
    try:
        os.write(fd, data)
    except OSError:
        pass


_NODE_PREFIX = re.compile(r"^(\[[a-z]+-\d+\])(?: |$)")  # "[worker-1] ..." (NodeProcess' prefix)
# TF's C++ INFO lines: through absl (not governed by TF_CPP_MIN_LOG_LEVEL) or TF's own format,
# and absl's notice that it logs to stderr before being initialised.
_CPP_INFO = re.compile(
    r"I\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
)
_PY_DEPRECATION = re.compile(r".*:\d+: (?:Pending)?DeprecationWarning: ")  # then the source line, indented
_TF_DEPRECATION = re.compile(r"WARNING:tensorflow:.* deprecated")  # then "Instructions for updating:" + 1 line


class NodeNoise:
    """Tells TF's C++ INFO logs and deprecation notices apart in node lines (``[worker-0] ...``).

    ``tfflink run`` leaves them out unless ``-v``; everything else passes, the user's prints and
    errors included. Multi-line notices are followed per node (their lines interleave).
    """

    def __init__(self) -> None:
        self._after: dict[str, str] = {}  # node -> the kind of notice its previous line started

    def keep(self, line: str) -> bool:
        m = _NODE_PREFIX.match(line)
        if m is None:
            return True
        node, text = m.group(1), line[m.end() :]
        after = self._after.pop(node, "")
        if after == "tf" and text == "Instructions for updating:":
            self._after[node] = "instructions"
            return False
        if after == "instructions" or (after == "py" and text.startswith("  ")) or (after == "tf" and not text):
            return False
        if _TF_DEPRECATION.match(text):
            self._after[node] = "tf"
            return False
        if _PY_DEPRECATION.match(text):
            self._after[node] = "py"
            return False
        return _CPP_INFO.match(text) is None
