"""Control-plane policy shared by the AM, the local supervisor and the Kubernetes operator.

Pure code: no kopf, Kubernetes, Flink or TensorFlow imports.
"""

from .policy import Decision, DecisionKind, RestartPolicy
from .states import Phase, RoleState

__all__ = ["Decision", "DecisionKind", "Phase", "RestartPolicy", "RoleState"]
