"""Inference mode on the Python path: SavedModel scoring in-process inside a Flink operator.

No AM, no ps, no TF child: each subtask loads the SavedModel once (TF imported lazily, in
the Python worker) and scores its rows in batches of ``savedModel.batchSize``; a partial
batch is scored after ``flushMillis`` or at the end of input. Results are dicts: the
``output.keep`` input columns, then the signature's outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from ...lifecycle.errors import FatalJobError
from ...spec.io import Column, ColumnType, SavedModelSpec
from ..config import RuntimeConfig
from .features import input_stream
from .routing import EndAwareFunction, to_subtasks
from .rows import PICKLED, Row
from .sinks import add_file_sink

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

NUMERIC = {ColumnType.FLOAT32, ColumnType.FLOAT64, ColumnType.INT32, ColumnType.INT64}


def input_mapping(
    spec: SavedModelSpec, signature_inputs: dict[str, Any], columns: list[Column], keep: list[str]
) -> dict[str, list[str]]:
    """Signature input -> row columns; the default feeds the only input every numeric column."""
    if spec.inputs:
        unknown = [n for n in spec.inputs if n not in signature_inputs]
        if unknown:
            raise FatalJobError(
                f"spec.savedModel.inputs: {unknown} not in the signature's inputs {sorted(signature_inputs)}"
            )
        return dict(spec.inputs)
    if len(signature_inputs) != 1:
        raise FatalJobError(f"spec.savedModel.inputs: required, the signature has inputs {sorted(signature_inputs)}")
    name = next(iter(signature_inputs))
    return {name: [c.name for c in columns if c.type in NUMERIC and c.name not in keep]}


class ModelScorer:
    """A loaded SavedModel signature that scores lists of rows (usable outside Flink too)."""

    def __init__(self, spec: SavedModelSpec, path: str, columns: list[Column], keep: list[str]) -> None:
        import tensorflow as tf  # only where a model runs

        self.tf = tf
        self.model = tf.saved_model.load(path)
        if spec.signature not in self.model.signatures:
            raise FatalJobError(f"spec.savedModel.signature: {spec.signature!r} not in {sorted(self.model.signatures)}")
        self.fn = self.model.signatures[spec.signature]
        _, kwargs = self.fn.structured_input_signature
        self.dtypes = {k: v.dtype for k, v in kwargs.items()}
        self.mapping = input_mapping(spec, kwargs, columns, keep)
        self.keep = keep

    def tensors(self, rows: list[Row]) -> dict[str, Any]:
        """Stack the mapped columns of ``rows`` into one tensor per signature input."""
        import numpy as np  # with TF, only where a model runs

        out = {}
        for name, cols in self.mapping.items():
            dtype = self.dtypes[name].as_numpy_dtype
            arr = np.array([[r[c] for c in cols] for r in rows], dtype=dtype)
            out[name] = self.tf.constant(arr)
        return out

    def score(self, rows: list[Row]) -> list[Row]:
        """One model call for ``rows``; one result dict per row, in order."""
        if not rows:
            return []
        result = self.fn(**self.tensors(rows))
        arrays = {k: v.numpy() for k, v in result.items()}
        out = []
        for i, r in enumerate(rows):
            rec: Row = {k: r[k] for k in self.keep}
            for k, a in arrays.items():
                v = a[i]
                rec[k] = v.tolist() if hasattr(v, "tolist") else v
            out.append(rec)
        return out


class SavedModelFunction(EndAwareFunction):
    """The Flink operator: batches rows per subtask and scores them with the SavedModel."""

    def __init__(self, spec: SavedModelSpec, path: str, columns: list[Column], keep: list[str]) -> None:
        super().__init__()
        self.spec, self.path, self.columns, self.keep = spec, path, columns, keep
        self.buffer: list[Row] = []
        self.scorer: ModelScorer | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.scorer = ModelScorer(self.spec, self.path, self.columns, self.keep)

    def row(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Row]:
        self.buffer.append(row)
        if len(self.buffer) >= self.spec.batch_size:
            return self.flush()
        self.want_flush(ctx, self.spec.flush_millis)
        return ()

    def flush(self) -> Iterable[Row]:
        assert self.scorer is not None
        rows, self.buffer = self.buffer, []
        return self.scorer.score(rows)

    def end(self) -> Iterable[Row]:
        return self.flush()


def add_saved_model_inference(
    env: StreamExecutionEnvironment, cfg: RuntimeConfig, rows: DataStream | None = None, sink: bool = True
) -> DataStream:
    """Input rows -> SavedModel scored in-process (p = workers) -> file sink.

    The library API passes its own ``rows`` and ``sink=False`` to get the scored stream.
    """
    spec = cfg.spec
    assert spec.input and spec.output and spec.saved_model  # the model validator ensures these
    n = spec.roles.worker.replicas
    if rows is None:
        rows = input_stream(env, spec.input, Path(cfg.resolve(".")), n, "default")
    fn = SavedModelFunction(
        spec.saved_model, cfg.resolve(spec.saved_model.path), spec.input.row_columns(), spec.output.keep
    )
    scored = to_subtasks(env, rows, "default").process(fn, output_type=PICKLED).name("saved-model").set_parallelism(n)
    return add_file_sink(scored, cfg, n) if sink else scored
