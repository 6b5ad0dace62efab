"""How a run of the Flink job ended, decided once for both backends.

``tfflink run`` and the operator see the same things (Flink's job state, its root exception,
the AM's phase) and must draw the same conclusion: succeeded; failed for good because no
restart can fix it (bad rows, bad model config); failed for good because the AM already spent
the restart budget on in-place TF restarts; or failed in a way a fresh cluster may fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .errors import error_line, is_fatal, not_retried

FLINK_FAILED = frozenset({"FAILED", "CANCELED"})  # terminal: the root exception is recorded
FLINK_FAILING = frozenset({"FAILING", "CANCELLING", "SUSPENDED"})  # on the way there
FLINK_DONE = "FINISHED"
AM_GAVE_UP_MARK = "TFFlinkJob failed: "  # the AM's exception message (runtime.am.TFJobFailed)
_RESTARTS = re.compile(r"gave up after (\d+) restart")


class EndKind(str, Enum):
    SUCCEEDED = "Succeeded"
    NOT_RETRYABLE = "NotRetryable"  # bad data or configuration: every rerun fails the same way
    GAVE_UP = "GaveUp"  # the AM restarted the TF cluster until the budget ran out
    RETRYABLE = "Retryable"  # a process, pod or Flink task died: a fresh cluster may succeed


@dataclass(frozen=True)
class Outcome:
    kind: EndKind
    reason: str = ""  # one line, fit for a terminal, a status message and an Event
    restarts: int | None = None  # restarts the AM counted in all, when it gave up

    @property
    def retryable(self) -> bool:
        return self.kind is EndKind.RETRYABLE


def classify(
    flink_state: str,
    *,
    root_exception: str | None = None,
    am_phase: str | None = None,
    am_message: str = "",
    am_restarts: int | None = None,
) -> Outcome | None:
    """The outcome of a Flink job in ``flink_state``; None while it has not ended."""
    if flink_state == FLINK_DONE:
        return Outcome(EndKind.SUCCEEDED)
    if flink_state not in FLINK_FAILED:
        return None
    root = root_exception or ""
    for text in (root, am_message):
        if is_fatal(text):
            return Outcome(EndKind.NOT_RETRYABLE, not_retried(text))
    if am_phase == "Failed" and am_message:
        return Outcome(EndKind.GAVE_UP, am_message, _restarts(am_message, am_restarts))
    if AM_GAVE_UP_MARK in root:
        line = next(ln for ln in reversed(root.splitlines()) if AM_GAVE_UP_MARK in ln)
        reason = line.split(AM_GAVE_UP_MARK, 1)[1].strip()[:500]
        return Outcome(EndKind.GAVE_UP, reason, _restarts(line, am_restarts))
    return Outcome(EndKind.RETRYABLE, error_line(root) if root else f"Flink job {flink_state}")


def _restarts(text: str, fallback: int | None) -> int | None:
    m = _RESTARTS.search(text)
    return int(m.group(1)) if m else fallback
