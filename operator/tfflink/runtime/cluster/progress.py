"""Training progress as a node reports it: a step, a few named metrics, the last checkpoint.

``context.report`` (in the TF node process) writes the latest report to a file its agent
reads on each heartbeat; the agent sends it to the AM, which keeps the latest per node. Each
hop parses with :func:`parse_progress`, so one rule decides what a report may hold: a
non-negative integer step, at most ``MAX_METRICS`` finite numbers under short plain names.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_METRICS = 16  # per node: a status line, not a metrics store (TensorBoard is that)
MAX_STEP = 2**62
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]{0,63}$")


@dataclass(frozen=True)
class Progress:
    """One node's latest report."""

    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint_step: int | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "metrics": dict(self.metrics)}
        if self.checkpoint_step is not None:
            out["checkpointStep"] = self.checkpoint_step
        return out


def _step(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_STEP:  # bool, float, str are refused
        raise ValueError(f"{name}: must be an integer in [0, {MAX_STEP}]")
    return value


def _metric(name: object, value: object) -> tuple[str, float]:
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise ValueError(f"metrics: name {str(name)[:70]!r} must match {METRIC_NAME.pattern}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"metrics.{name}: must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metrics.{name}: must be finite")
    return name, number


def parse_progress(value: object) -> Progress:
    """A report from its wire form; ValueError naming the field for anything else."""
    if not isinstance(value, dict):
        raise ValueError("must be an object with step, metrics and checkpointStep")
    unknown = set(value) - {"step", "metrics", "checkpointStep"}
    if unknown:
        raise ValueError(f"unknown field {sorted(map(str, unknown))[0][:40]!r}")
    metrics = value.get("metrics") or {}
    if not isinstance(metrics, dict) or len(metrics) > MAX_METRICS:
        raise ValueError(f"metrics: must be an object of at most {MAX_METRICS} numbers")
    ckpt = value.get("checkpointStep")
    return Progress(
        step=_step(value.get("step"), "step"),
        metrics=dict(_metric(k, v) for k, v in metrics.items()),
        checkpoint_step=None if ckpt is None else _step(ckpt, "checkpointStep"),
    )


def write_progress(path: Path, progress: Progress) -> None:
    """Replace the report file in one step (the agent never reads half a report)."""
    tmp = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")  # one per reporting thread
    tmp.write_text(json.dumps(progress.to_wire()))
    os.replace(tmp, path)


class ProgressFile:
    """The agent's side: the latest report, once per change (read once a heartbeat)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: Progress | None = None

    def take(self) -> Progress | None:
        """The report if it changed since the last call, else None (also when unreadable)."""
        try:
            progress = parse_progress(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return None
        if progress == self._last:
            return None
        self._last = progress
        return progress
