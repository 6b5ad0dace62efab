"""Control-plane policy shared by the AM, the local supervisor and the Kubernetes operator.

Pure code: no kopf, Kubernetes, Flink or TensorFlow imports.
"""

from .errors import FatalJobError, error_line, is_fatal, strip_fatal
from .policy import Decision, DecisionKind, RestartPolicy
from .states import Phase, RoleState

__all__ = [
    "FatalJobError",
    "error_line",
    "is_fatal",
    "strip_fatal",
    "Decision",
    "DecisionKind",
    "Phase",
    "RestartPolicy",
    "RoleState",
]
