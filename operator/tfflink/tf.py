"""What a job's TF function imports from tfflink: the stable path for user code.

``map_func(context: TFContext)`` runs in a TF node process; ``wait_until_initialized`` and
``ProgressCallback`` help TF1 and Keras code there. The modules behind these names may move;
this path does not. Importing it loads neither TensorFlow nor Keras: ``ProgressCallback``
loads Keras when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .runtime.cluster.context import TFContext
from .runtime.cluster.tf1 import wait_until_initialized

if TYPE_CHECKING:
    from .runtime.cluster.keras_progress import ProgressCallback

__all__ = ["ProgressCallback", "TFContext", "wait_until_initialized"]


def __getattr__(name: str) -> Any:
    if name == "ProgressCallback":
        # Keras loads only for code that uses the callback (keras_progress imports it at once).
        from .runtime.cluster.keras_progress import ProgressCallback

        return ProgressCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
