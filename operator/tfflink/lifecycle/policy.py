"""The full-restart failover policy: restart everything, with backoff, up to a limit.

One decision function serves both failure levels (a TF node inside a healthy Flink job, and
a Flink process or pod), so the AM, the local supervisor and the operator cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from .errors import is_fatal, not_retried

if TYPE_CHECKING:
    from ..spec.models import FailoverSpec


class DecisionKind(str, Enum):
    RESTART = "Restart"
    FAIL = "Fail"


@dataclass(frozen=True)
class Decision:
    """What to do about a failure: restart after ``delay_seconds``, or fail the job."""

    kind: DecisionKind
    reason: str
    delay_seconds: float = 0.0

    @property
    def restart(self) -> bool:
        return self.kind is DecisionKind.RESTART


@dataclass(frozen=True)
class RestartPolicy:
    """FullRestart: ``max_restarts`` attempts, delay ``initial * multiplier**n`` capped at ``maximum``."""

    max_restarts: int = 3
    initial_seconds: float = 1.0
    max_seconds: float = 30.0
    multiplier: float = 2.0

    @classmethod
    def from_spec(cls, failover: FailoverSpec) -> RestartPolicy:
        """Build from a ``FailoverSpec`` (imported for typing only: the policy imports no spec models)."""
        b = failover.backoff
        return cls(
            max_restarts=failover.max_restarts,
            initial_seconds=b.initial_seconds,
            max_seconds=b.max_seconds,
            multiplier=b.multiplier,
        )

    def backoff(self, restarts_done: int) -> float:
        """Delay before restart number ``restarts_done + 1`` (capped; never a float overflow)."""
        try:
            delay = self.initial_seconds * self.multiplier ** max(0, restarts_done)
        except OverflowError:  # e.g. multiplier 10 at restart 309: long past the cap
            return self.max_seconds
        return min(self.max_seconds, delay)

    def decide(self, *, restarts_done: int, reason: str) -> Decision:
        """Restart while the budget lasts; afterwards fail with the last reason. A fatal
        failure (``reason`` carries FATAL_MARK) fails at once: no restart can fix it."""
        if is_fatal(reason):
            return Decision(DecisionKind.FAIL, not_retried(reason))
        if restarts_done >= self.max_restarts:
            return Decision(
                DecisionKind.FAIL,
                f"{reason} (gave up after {restarts_done} restart(s), maxRestarts={self.max_restarts})",
            )
        return Decision(DecisionKind.RESTART, reason, self.backoff(restarts_done))
