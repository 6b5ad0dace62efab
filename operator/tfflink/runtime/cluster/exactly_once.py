"""Exactly-once stream input: TF checkpoints at the JVM feeder's barriers, tagged with their id.

Why: a TF node that restarts loses what it trained since its last save. The feeder keeps
every batch after the last checkpoint this node saved (its replay log) and, on reconnection,
names that checkpoint; the node restores it and gets exactly the rows after it. So each row is
in the final model's lineage once. The id is the ``checkpoint_number`` of
``tf.train.CheckpointManager`` (files ``ckpt-<id>``); keep at least two (``max_to_keep >= 2``):
a node can die after saving a checkpoint and before the feeder heard of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import TemporaryFailure

if TYPE_CHECKING:
    from .context import TFContext


class CheckpointMissing(TemporaryFailure, RuntimeError):
    """The checkpoint the data plane replays after is not in the manager's directory; the node
    fails and the AM restarts it (a directory listing that lagged shows it then)."""


def restore(context: TFContext, manager: Any) -> int:
    """Restore the checkpoint the feeder names (none on a first start); its id (0: none)."""
    if context._bridge is not None:
        raise RuntimeError("context.restore() must come before the input is read (get_batches)")
    client = context._client(exactly_once=True)
    if not client.exactly_once:
        raise RuntimeError("context.restore() needs the JVM data plane (spec.input.dataPlane: jvm)")
    checkpoint_id = int(client.checkpoint_to_restore())
    if checkpoint_id == 0:
        return 0
    suffix = f"-{checkpoint_id}"
    path = next((p for p in manager.checkpoints if p.endswith(suffix)), None)
    if path is None:
        raise CheckpointMissing(
            f"the input resumes after checkpoint {checkpoint_id}, but {manager.directory} has no "
            f"checkpoint numbered {checkpoint_id} (keep at least two: CheckpointManager(max_to_keep>=2))"
        )
    manager.checkpoint.restore(path)
    return checkpoint_id


def save(context: TFContext, manager: Any) -> str:
    """Save the requested checkpoint with its id as the number, then acknowledge it."""
    client = context._bridge
    if client is None or client.requested is None:
        raise RuntimeError("no checkpoint requested: call context.save() when context.checkpoint_requested()")
    checkpoint_id = int(client.requested)
    path = str(manager.save(checkpoint_number=checkpoint_id))
    client.requested = None
    client.saved(checkpoint_id)
    return path
