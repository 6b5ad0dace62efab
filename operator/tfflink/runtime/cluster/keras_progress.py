"""A Keras callback that reports ``model.fit``'s progress through ``context.report``.

Imported only by user code that trains with Keras (it imports Keras at once); the rest of
tfflink never imports Keras.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from .context import TFContext
from .progress import MAX_METRICS, METRIC_NAME


class ProgressCallback(keras.callbacks.Callback):
    """``model.fit(..., callbacks=[ProgressCallback(context)])``: the optimizer's step and the
    batch's logs (loss, metrics) go to the AM at most every ``every_seconds``, and at the end of
    each epoch and of training."""

    def __init__(self, context: TFContext, every_seconds: float = 1.0) -> None:
        super().__init__()
        self.context = context
        self.every_seconds = every_seconds
        self._last = 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if time.monotonic() - self._last >= self.every_seconds:
            self._report(logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._report(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._report(logs)

    def _report(self, logs: dict[str, Any] | None) -> None:
        self._last = time.monotonic()
        step = int(self.model.optimizer.iterations.numpy())
        self.context.report_metrics(step, plain_metrics(logs or {}))


def plain_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """The numeric, finite, plainly named entries of Keras logs (at most MAX_METRICS)."""
    out: dict[str, float] = {}
    for name, value in logs.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if METRIC_NAME.match(str(name)) and math.isfinite(number) and len(out) < MAX_METRICS:
            out[str(name)] = number
    return out
