"""Phases a job passes through and the states of its TF nodes.

Job phase diagram (the operator and the CLI report the same names)::

    Pending -> Deploying -> Running -> Succeeded
                   ^           |  \\
                   |           v   -> Failed
                   +------ Restarting (when restarts remain)
    any non-final phase <-> Suspended (operator only)
"""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    """Phase of a whole job."""

    PENDING = "Pending"
    DEPLOYING = "Deploying"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


class RoleState(str, Enum):
    """State of one TF node as the AM sees it."""

    PENDING = "Pending"  # not registered yet in this cluster version
    REGISTERED = "Registered"  # waiting for the other nodes
    RUNNING = "Running"  # user function started
    SUCCEEDED = "Succeeded"  # user function returned
    FAILED = "Failed"  # user function raised / process died / heartbeat lost
    STOPPED = "Stopped"  # stopped by the AM (ps after the workers finished)
