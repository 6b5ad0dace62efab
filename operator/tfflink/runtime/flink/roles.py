"""The TF cluster's roles as Flink operators: AM (parallelism 1) and one operator per TF role
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

from ..cluster.agent import NodeAgent
from ..cluster.am import run_am
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
            return run_am(self.cfg)
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
