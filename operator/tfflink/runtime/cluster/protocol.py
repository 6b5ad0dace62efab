"""The AM's protocol as types: what a node asks the AM and what the AM answers.

The AM server validates a request body into one of these (``from_wire``: a ValueError names
the field, answered with a 400), ``ClusterState`` takes and answers them, and the client and
node agent use them, so no side reads a dict by string keys. ``to_wire`` is the JSON object
on the wire, the same fields and values as before these types (the CLI, the operator and
tests read it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .progress import Progress, parse_progress

MAX_BODY = 64 << 10  # bytes of one request body
MAX_LOG_LINES_PER_CALL = 1000
MAX_ERROR_FIELD = 1 << 15  # characters of a finish call's error
MAX_INT = 2**31 - 1
MAX_INDEX = 100_000
ADDRESS = re.compile(r"^[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]{2,45}\]:[0-9]{1,5}$")


class Action(str, Enum):
    """What the AM tells a node to do next: go on, rejoin the new cluster version, or stop."""

    CONTINUE = "continue"
    RESTART = "restart"
    STOP = "stop"


# -- typed fields of a request body --------------------------------------------------------------


def _int(body: dict[str, Any], key: str, lo: int = 0, hi: int = MAX_INT) -> int:
    v = body.get(key)
    if type(v) is not int or not lo <= v <= hi:  # bool, float, str, null are refused
        raise ValueError(f"{key}: must be an integer in [{lo}, {hi}]")
    return v


def _str(body: dict[str, Any], key: str, limit: int, *, default: str | None = None) -> str:
    v = body.get(key, default)
    if not isinstance(v, str) or len(v) > limit:
        raise ValueError(f"{key}: must be a string of at most {limit} characters")
    return v


def _node(body: dict[str, Any]) -> tuple[str, int]:
    return _str(body, "role", 32), _int(body, "index", 0, MAX_INDEX)


def _address(body: dict[str, Any]) -> str:
    addr = _str(body, "address", 300)
    if not ADDRESS.match(addr) or not 0 < int(addr.rsplit(":", 1)[1]) < 65536:
        raise ValueError("address: must be host:port")
    return addr


def _logs(body: dict[str, Any]) -> list[str]:
    v = body.get("logs")
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_LOG_LINES_PER_CALL or not all(isinstance(x, str) for x in v):
        raise ValueError(f"logs: must be a list of at most {MAX_LOG_LINES_PER_CALL} strings")
    return v


def _progress(body: dict[str, Any]) -> Progress | None:
    v = body.get("progress")
    if v is None:
        return None
    try:
        return parse_progress(v)
    except ValueError as e:
        raise ValueError(f"progress: {e}") from None


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRequest:
    """``POST /register``: node ``role``-``index`` serves at ``address``; ``version`` None on its first call."""

    role: str
    index: int
    address: str
    version: int | None = None

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> RegisterRequest:
        role, index = _node(body)
        address = _address(body)
        version = None if body.get("version") is None else _int(body, "version")
        return cls(role, index, address, version)

    def to_wire(self) -> dict[str, Any]:
        return {"role": self.role, "index": self.index, "address": self.address, "version": self.version}


@dataclass(frozen=True)
class HeartbeatRequest:
    """``POST /heartbeat``: liveness, whether the TF process runs, new log lines, the latest progress."""

    role: str
    index: int
    version: int
    running: bool
    logs: list[str] = field(default_factory=list)
    progress: Progress | None = None

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> HeartbeatRequest:
        role, index = _node(body)
        running = body.get("running", False)
        if not isinstance(running, bool):
            raise ValueError("running: must be true or false")
        return cls(role, index, _int(body, "version"), running, _logs(body), _progress(body))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role,
            "index": self.index,
            "version": self.version,
            "running": self.running,
            "logs": list(self.logs),
        }
        if self.progress is not None:
            out["progress"] = self.progress.to_wire()
        return out


@dataclass(frozen=True)
class FinishRequest:
    """``POST /finish``: the node's user function ended with ``exit_code`` (0: success) and ``error``."""

    role: str
    index: int
    version: int
    exit_code: int
    error: str = ""

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> FinishRequest:
        role, index = _node(body)
        exit_code = _int(body, "exitCode", -(2**31), MAX_INT)
        return cls(role, index, _int(body, "version"), exit_code, _str(body, "error", MAX_ERROR_FIELD, default=""))

    def to_wire(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "index": self.index,
            "version": self.version,
            "exitCode": self.exit_code,
            "error": self.error,
        }


# -- replies -------------------------------------------------------------------------------------


def _action(body: dict[str, Any]) -> Action:
    try:
        return Action(body.get("action"))
    except ValueError:
        raise ValueError(f"action: must be one of {[a.value for a in Action]}") from None


@dataclass(frozen=True)
class Reply:
    """The AM's answer to a node: ``action`` and the current cluster ``version``."""

    action: Action
    version: int
    error: str | None = None  # why a node that is no part of the job is told to stop

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> Reply:
        error = body.get("error")
        return cls(_action(body), _int(body, "version"), None if error is None else str(error))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action.value, "version": self.version}
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class ClusterReply(Reply):
    """``GET /cluster``: with CONTINUE, whether every node registered and, once so, the TF cluster."""

    ready: bool | None = None
    cluster: dict[str, list[str]] | None = None  # role -> addresses by index (TF's ClusterSpec)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> ClusterReply:
        ready, cluster = body.get("ready"), body.get("cluster")
        if ready is not None and not isinstance(ready, bool):
            raise ValueError("ready: must be true or false")
        if cluster is not None and not (
            isinstance(cluster, dict)
            and all(isinstance(v, list) and all(isinstance(a, str) for a in v) for v in cluster.values())
        ):
            raise ValueError("cluster: must map roles to lists of addresses")
        if ready and cluster is None:
            raise ValueError("cluster: missing from a ready reply")
        return cls(_action(body), _int(body, "version"), ready=ready, cluster=cluster)

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        if self.ready is not None:
            out["ready"] = self.ready
        if self.cluster is not None:
            out["cluster"] = self.cluster
        return out
