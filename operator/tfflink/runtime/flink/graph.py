"""The Flink job graph of a TF cluster: AM (parallelism 1) and one operator per TF role
(chief, worker, ps, evaluator), each of parallelism = the role's node count.

Each role is a bounded source feeding a map whose parallelism is the role's node count; the
map's subtask index is the node's index. The source runs with parallelism 1 and rebalances,
so every map subtask receives exactly one element (a parallel source hands its splits to
whichever reader asks first, which can leave a subtask without one). Each role has its own
slot-sharing group, so every node gets its own slot and its own Python worker process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.functions import MapFunction, RuntimeContext

from ..config import RuntimeConfig

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

AM, PS, WORKER = "am", "ps", "worker"


class RoleFunction(MapFunction):
    """Runs the AM or one TF node for the single element its subtask receives."""

    def __init__(self, cfg: RuntimeConfig, role: str) -> None:
        self.cfg, self.role = cfg, role
        self.index = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self.index = runtime_context.get_index_of_this_subtask()

    def map(self, value: int) -> str:
        if self.role == AM:
            from ..cluster.am import run_am

            return run_am(self.cfg)
        from ..cluster.agent import NodeAgent

        return NodeAgent(self.cfg, self.role, self.index).run()


def role_stream(env: StreamExecutionEnvironment, cfg: RuntimeConfig, role: str, n: int) -> DataStream:
    """A role's operator: ``n`` parallel subtasks, each running one node."""
    src = env.from_source(NumberSequenceSource(0, n - 1), WatermarkStrategy.no_watermarks(), f"{role}-source")
    src = src.set_parallelism(1).slot_sharing_group(role)
    return (
        src.rebalance()
        .map(RoleFunction(cfg, role), output_type=Types.STRING())
        .name(role)
        .uid(role)
        .set_parallelism(n)
        .slot_sharing_group(role)
    )


def build_job(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> None:
    """The whole Flink program of ``cfg``, by ``spec.mode``."""
    from ...spec.models import Mode

    mode = cfg.spec.mode
    if mode is Mode.INFERENCE:
        from .jvm_plane import add_jvm_inference, uses_jvm

        if uses_jvm(cfg.spec):
            add_jvm_inference(env, cfg)
        else:
            add_saved_model_inference(env, cfg)
    elif mode is Mode.STREAM:
        from .stream import add_stream_cluster

        add_stream_cluster(env, cfg)
    else:
        add_tf_cluster(env, cfg)


def add_saved_model_inference(
    env: StreamExecutionEnvironment, cfg: RuntimeConfig, rows: DataStream | None = None, sink: bool = True
) -> DataStream:
    """Inference mode: input rows -> SavedModel scored in-process (p = workers) -> file sink.

    The library API passes its own ``rows`` and ``sink=False`` to get the scored stream.
    """
    from pathlib import Path

    from .inference import SavedModelFunction
    from .stream import PICKLED, input_stream, to_subtasks

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


def add_file_sink(results: DataStream, cfg: RuntimeConfig, parallelism: int, group: str = "default") -> DataStream:
    """Write result dicts to ``spec.output`` (one part file per subtask)."""
    from .inference import FileWriter

    out = cfg.spec.output
    assert out is not None
    written = (
        results.flat_map(FileWriter(out, cfg.resolve(out.path)), output_type=Types.STRING())
        .name("output")
        .set_parallelism(parallelism)
        .slot_sharing_group(group)
    )
    written.print().name("output-end").set_parallelism(parallelism).slot_sharing_group(group)
    return written


def add_tf_cluster(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> None:
    """Batch mode: the AM and every TF role, workers included, as role-sized source operators."""
    add_source_roles(env, cfg, with_workers=True)


def add_source_roles(env: StreamExecutionEnvironment, cfg: RuntimeConfig, *, with_workers: bool) -> None:
    """The AM and the TF roles that read no rows from Flink (chief, ps, evaluator; the workers
    too in batch mode), each a source operator of its own, its results printed."""
    sizes = {AM: 1, **cfg.spec.roles.sizes()}
    if not with_workers:
        del sizes[WORKER]  # stream mode: the workers consume the input stream instead
    for role, n in sizes.items():
        if n > 0:
            role_stream(env, cfg, role, n).print().name(f"{role}-result").set_parallelism(n).slot_sharing_group(role)
