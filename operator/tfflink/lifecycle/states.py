"""States of a job's TF nodes as the AM sees them (the job's own Phase is ``spec.status.Phase``)."""

from __future__ import annotations

from enum import Enum

from ..spec.status import Phase

__all__ = ["Phase", "RoleState"]


class RoleState(str, Enum):
    """State of one TF node as the AM sees it."""

    PENDING = "Pending"  # not registered yet in this cluster version
    REGISTERED = "Registered"  # waiting for the other nodes
    RUNNING = "Running"  # user function started
    SUCCEEDED = "Succeeded"  # user function returned
    FAILED = "Failed"  # user function raised / process died / heartbeat lost
    STOPPED = "Stopped"  # stopped by the AM (ps after the workers finished)
