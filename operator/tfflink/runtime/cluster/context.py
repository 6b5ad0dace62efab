"""TFContext: what the user's ``map_func(context)`` is handed inside its TF node process.

The method names follow the seed's API (get_role_name, get_index, get_tf_cluster) so code
written for it runs unchanged; nothing here imports TensorFlow.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import exactly_once
from .bridge import BridgeClient, column_batches, stacked, stacked_columns
from .progress import Progress, parse_progress, write_progress
from .user_code import load_function


class TFContext:
    """One node's view of the job: its role, index, the TF cluster and the job's properties."""

    def __init__(self, node: dict[str, Any]) -> None:
        self._node = node
        self._bridge: Any = None

    def get_role_name(self) -> str:
        """'chief', 'worker', 'ps' or 'evaluator' (TF_CONFIG's task type)."""
        return str(self._node["role"])

    def get_index(self) -> int:
        """This node's index within its role (the Flink subtask index)."""
        return int(self._node["index"])

    def get_tf_cluster(self) -> dict[str, list[str]]:
        """role -> ["host:port", ...] ordered by index, ready for ``tf.train.ClusterSpec``.

        As in TF_CONFIG, the evaluator is not listed: it is no part of the training cluster.
        """
        return {k: list(v) for k, v in self._node["cluster"].items()}

    def get_property(self, key: str, default: str | None = None) -> str | None:
        """A value of the job's ``spec.properties``."""
        props: dict[str, str] = self._node["properties"]
        return props.get(key, default)

    def get_properties(self) -> dict[str, str]:
        return dict(self._node["properties"])

    def get_checkpoint_dir(self) -> str | None:
        """The job's ``spec.checkpointDir`` (shared by every node and every restart)."""
        return self._node.get("checkpoint_dir")

    def get_tensorboard_dir(self) -> str | None:
        """The job's ``spec.tensorboard.logDir``: write ``tf.summary`` files here."""
        return self._node.get("tensorboard_dir")

    def get_cluster_version(self) -> int:
        """Increases by one with every full restart of the TF cluster."""
        return int(self._node["version"])

    def get_job_name(self) -> str:
        return str(self._node["job_name"])

    def is_chief(self) -> bool:
        """The chief writes checkpoints and exports models: the chief role if the job has
        one, else worker 0 (TF's rule)."""
        if "chief" in self._node["cluster"]:
            return self.get_role_name() == "chief"
        return self.get_role_name() == "worker" and self.get_index() == 0

    def is_evaluator(self) -> bool:
        return self.get_role_name() == "evaluator"

    def report(self, step: int, *, checkpoint_step: int | None = None, **metrics: float) -> None:
        """Tell the AM how far training is: ``step``, the last checkpoint's step, a few metrics
        (at most 16, e.g. ``loss=0.3``). The AM keeps the latest report of each node and shows
        the job's step and steps/second (``tfflink run``, ``kubectl get tfj``).

        Cheap (one small file write; the node's agent sends it with its next heartbeat), but
        only the latest report counts: calling it every few hundred milliseconds is plenty.
        Raises ValueError for a step that is not a non-negative integer, or a metric that is
        not a finite number under a plain name.
        """
        self.report_metrics(step, metrics, checkpoint_step=checkpoint_step)

    def report_metrics(self, step: int, metrics: Mapping[str, float], checkpoint_step: int | None = None) -> None:
        """:meth:`report` with the metrics as one mapping (names that are not identifiers)."""
        try:
            wire: dict[str, Any] = {
                "step": operator.index(step),  # numpy and TF integer scalars too
                "metrics": {str(k): float(v) for k, v in dict(metrics).items()},
            }
            if checkpoint_step is not None:
                wire["checkpointStep"] = operator.index(checkpoint_step)
        except (TypeError, ValueError) as e:
            raise ValueError(f"context.report: step, checkpoint_step must be integers, metrics numbers ({e})") from None
        try:
            progress: Progress = parse_progress(wire)
        except ValueError as e:
            raise ValueError(f"context.report: {e}") from None
        path = self._node.get("progress_file")
        if path:
            write_progress(Path(path), progress)

    def tf_config(self) -> dict[str, Any]:
        """The standard TF_CONFIG dict (also set in the environment)."""
        return {"cluster": self.get_tf_cluster(), "task": {"type": self.get_role_name(), "index": self.get_index()}}

    # -- stream mode: rows from Flink, results back into Flink ------------------------------

    def _client(self, exactly_once: bool = False) -> Any:
        if self._bridge is None:
            path = self._node.get("data_channel")
            if not path:
                raise RuntimeError("no input stream: context.get_dataset() needs spec.mode: stream")
            # The JVM feeder replays after a restart; it asks whether this node saves at its checkpoints.
            self._bridge = BridgeClient(path, hello=exactly_once if self._node.get("replays") else None)
        return self._bridge

    def get_input_columns(self) -> list[tuple[str, str]]:
        """(name, type) of the rows this worker receives, as declared in spec.input."""
        return [(str(n), str(t)) for n, t in self._node.get("columns", [])]

    def get_batches(self, batch_size: int = 256, stack: dict[str, list[str]] | None = None) -> Any:
        """Iterator of dicts of numpy columns (``batch_size`` rows each) until end of input.

        With a batch feature step (``spec.input.process.batch``), it runs here on each batch.
        ``stack`` joins columns of one type into a matrix: ``{"x": ["f0", "f1"]}`` gives
        ``x`` of shape ``[rows, 2]`` in place of ``f0`` and ``f1``.
        """
        step = self._node.get("batch_step")
        fn: Any = None
        if step:
            fn = load_function(step["file"], None, step["function"])
        wire = [(str(n), str(t)) for n, t in self._node.get("wire_columns") or []] or None
        batches = column_batches(self._client(), self.get_input_columns(), batch_size, wire, fn)
        return stacked(batches, self.get_input_columns(), stack) if stack else batches

    def get_dataset(self, batch_size: int = 256, stack: dict[str, list[str]] | None = None) -> Any:
        """A ``tf.data.Dataset`` of dicts of typed column batches; it ends with the input.

        Many columns cost tf.data per column and batch: ``stack`` (see :meth:`get_batches`)
        hands, say, 100 feature columns over as one ``[rows, 100]`` tensor instead, many
        times faster.
        """
        import tensorflow as tf  # here only: nodes that never call this never load TF for tfflink

        if self._bridge is not None and self._bridge.exactly_once:
            raise RuntimeError("exactly-once input needs context.get_batches(): tf.data reads past checkpoints")

        dtypes = {
            "float32": tf.float32,
            "float64": tf.float64,
            "int32": tf.int32,
            "int64": tf.int64,
            "string": tf.string,
        }
        cols, groups = self.get_input_columns(), stack or {}
        sig = {n: tf.TensorSpec([None], dtypes[t], name=n) for n, t in cols}
        for name, (typ, width) in stacked_columns(cols, groups).items():
            for member in groups[name]:
                sig.pop(member)
            sig[name] = tf.TensorSpec([None, width], dtypes[typ], name=name)
        return tf.data.Dataset.from_generator(lambda: self.get_batches(batch_size, stack), output_signature=sig)

    def get_writer(self) -> Any:
        """``writer.write(list_of_dicts)`` sends results downstream into the Flink stream."""
        return self._client()

    def rows_read(self) -> int:
        """Rows this node has taken from the input so far."""
        return int(self._bridge.rows_read) if self._bridge is not None else 0

    def close_input(self) -> None:
        """Tell the Flink operator this node wants no more rows (called after the function)."""
        if self._node.get("data_channel"):
            self._client().done()

    # -- exactly-once stream input (docs/dataplane.md, "Exactly-once input") ----------------------

    def restore(self, manager: Any) -> int:
        """Before reading the input: restore ``manager``'s checkpoint that the data plane replays
        after (tagged with its id), or nothing on a first start; returns that id (0: none).
        From then on, save whenever :meth:`checkpoint_requested` (each row is then trained on
        once in the final model's lineage, across TF restarts)."""
        return exactly_once.restore(self, manager)

    def checkpoint_requested(self) -> bool:
        """True right after the batch that ends a checkpoint: call :meth:`save` before the next."""
        return self._bridge is not None and self._bridge.requested is not None

    def save(self, manager: Any) -> str:
        """Save ``manager``'s checkpoint tagged with the requested id and tell the data plane."""
        return exactly_once.save(self, manager)
