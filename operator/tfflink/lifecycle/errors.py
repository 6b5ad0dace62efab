"""Failures that no restart can fix, recognisable after they crossed Flink as text.

An exception raised inside a Flink Python operator or a TF node reaches the supervisors (the
AM, ``tfflink run``, the operator) only as text: Flink's root exception, a node's last error
line. So the permanent failure of a job run, :class:`FatalJobError`, carries a marker in its
message, and the restart policy (:meth:`~tfflink.lifecycle.policy.RestartPolicy.decide`) fails
such a run at once instead of spending ``maxRestarts`` on it. Other failures that cross Flink
as text are restarted: only the mark says "permanent" there. A process that knows its own
failure (the operator's submitter) writes it as a :func:`failure_record` instead.
"""

from __future__ import annotations

import json
import re

from ..errors import PermanentFailure, TfflinkError

FATAL_MARK = "[fatal] "


class FatalJobError(PermanentFailure):
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


def not_retried(text: str) -> str:
    """The reason a run failed at once on a fatal failure ``text``: its telling line, unmarked."""
    return strip_fatal(error_line(text)) + " (not retried)"


def failure_record(e: TfflinkError) -> str:
    """A failed process's result for whoever reads it as text (the submitter's termination
    message): its error on one line and whether the same run may succeed when tried again."""
    return json.dumps({"error": "; ".join(str(e).splitlines())[:500], "retryable": e.retryable})


def read_failure_record(text: str) -> tuple[str, bool] | None:
    """(error, retryable) from :func:`failure_record`'s text; None for any other text."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("error"), str):
        return None
    return record["error"], record.get("retryable") is not False
