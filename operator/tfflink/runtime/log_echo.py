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
