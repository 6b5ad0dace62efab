"""The Flink job graph of a TF cluster: AM (parallelism 1), ps (#ps) and workers (#workers).

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

from .config import RuntimeConfig

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

AM, PS, WORKER = "am", "ps", "worker"


class RoleFunction(MapFunction):  # type: ignore[misc]
    """Runs the AM or one TF node for the single element its subtask receives."""

    def __init__(self, cfg: RuntimeConfig, role: str) -> None:
        self.cfg, self.role = cfg, role
        self.index = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self.index = runtime_context.get_index_of_this_subtask()

    def map(self, value: int) -> str:
        if self.role == AM:
            from .am import run_am  # noqa: PLC0415

            return run_am(self.cfg)
        from .agent import NodeAgent  # noqa: PLC0415

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


def add_tf_cluster(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> dict[str, DataStream]:
    """Add the AM, ps and worker operators to ``env``; returns each role's result stream."""
    spec = cfg.spec
    sizes = {AM: 1, PS: spec.roles.ps.replicas, WORKER: spec.roles.worker.replicas}
    streams = {role: role_stream(env, cfg, role, n) for role, n in sizes.items() if n > 0}
    for role, stream in streams.items():
        stream.print().name(f"{role}-result").set_parallelism(sizes[role]).slot_sharing_group(role)
    return streams
