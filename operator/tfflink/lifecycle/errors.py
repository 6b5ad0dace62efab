"""Failures that no restart can fix, recognisable after they crossed Flink as text.

An exception raised inside a Flink Python operator reaches the supervisor only as the text of
Flink's root exception, so a fatal error carries a marker in its message. The restart policy
fails such a job at once instead of spending ``maxRestarts`` on it.
"""

from __future__ import annotations

import re

FATAL_MARK = "[fatal] "


class FatalJobError(Exception):
    """Bad input data or configuration: restarting the cluster would fail the same way."""

    def __init__(self, message: str) -> None:
        super().__init__(FATAL_MARK + message)


_PY_ERROR = re.compile(r"^\s*(?:Caused by: )?([A-Za-z_][\w.]*(?:Error|Exception|Row|Exit)): (.+)$")


def error_line(text: str) -> str:
    """The most telling line of a failure text: the innermost Python ``Type: message`` line.

    Java frames and Flink's wrappers ("Recovery is suppressed by NoRestartBackoffTimeStrategy")
    are skipped; the module path of the exception type is dropped.
    """
    best = ""
    for line in text.splitlines():
        m = _PY_ERROR.match(line)
        if m and not m.group(1).startswith(("org.", "java.", "javax.", "py4j.")):
            best = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"
    if not best:
        best = next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())
    return best[:500]


def is_fatal(text: str) -> bool:
    """Python's FatalJobError and the JVM data plane's (jvm/dataplane FatalJobError prints the
    same mark) both carry FATAL_MARK."""
    return FATAL_MARK in text


def strip_fatal(text: str) -> str:
    return text.replace(FATAL_MARK, "")
