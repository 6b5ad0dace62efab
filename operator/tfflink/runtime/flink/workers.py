"""Stream mode's TF workers as a Flink operator fed by the input pipeline.

Each worker subtask runs its node agent (the AM protocol, the TF child, restarts) in a
thread and hands its rows to the TF child over the bridge; on the JVM data plane the Java
feeder does that instead (``jvm_plane``), chosen per job by ``jvm_plane.uses_jvm``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from ...spec.io import Column
from ..cluster.agent import NodeAgent
from ..cluster.bridge import BridgeServer
from ..config import RuntimeConfig
from .features import batch_step, input_stream, wire_columns
from .jvm_plane import add_jvm_stream_workers, uses_jvm
from .roles import WORKER, add_source_roles
from .routing import EndAwareFunction, to_subtasks
from .rows import PICKLED, Row
from .sinks import add_results_sink

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

log = logging.getLogger(__name__)


class StreamWorkerFunction(EndAwareFunction):
    """A TF worker as a Flink operator: runs its node agent and feeds it rows over the bridge.

    The agent (AM protocol, child process, restarts) runs in a thread started in ``open``;
    each row goes into the bridge (blocking while TF is behind: backpressure), results TF
    wrote come out with the next rows, and at end of input the rest come out once TF is done.
    """

    def __init__(
        self, cfg: RuntimeConfig, columns: list[Column], wire: list[Column], step: dict[str, str] | None
    ) -> None:
        super().__init__()
        self.cfg, self.names, self.step = cfg, [c.name for c in wire], step
        self.types = [(c.name, c.type.value) for c in columns]
        self.wire = [(c.name, c.type.value) for c in wire]
        self.server: Any = None
        self.thread: Any = None
        self.failure: BaseException | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        index = runtime_context.get_index_of_this_subtask()
        # The socket in a fresh 0700 directory of its own; the server checks the peer's uid.
        self.server = BridgeServer.private(alive=lambda: self.thread is not None and self.thread.is_alive())
        agent = NodeAgent(self.cfg, "worker", index).with_data_channel(
            self.server.path, self.types, self.wire, self.step
        )
        self.thread = agent.run_in_thread(self._failed)

    def _failed(self, e: BaseException) -> None:
        self.failure = e

    def row(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        self.server.put(tuple(row[n] for n in self.names) if isinstance(row, dict) else tuple(row))
        out: list[Any] = self.server.take()
        return out

    def end(self) -> Iterable[Any]:
        out: list[Any] = self.server.end()
        self.thread.join()  # until the AM stops the cluster (every worker finished)
        out += self.server.take()
        if self.failure is not None:
            raise self.failure
        if self.server.dropped_rows:
            log.info("worker stopped reading early; %d rows dropped", self.server.dropped_rows)
        return out

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def add_stream_cluster(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> None:
    """Stream mode: the AM and the other roles as in batch mode; workers consume ``spec.input``
    (p = workers), on the JVM data plane where the job allows it (jvm_plane.uses_jvm), else PyFlink's."""
    spec = cfg.spec
    assert spec.input is not None
    add_source_roles(env, cfg, with_workers=False)
    if uses_jvm(spec):
        add_jvm_stream_workers(env, cfg)
        return
    add_stream_workers(
        env, cfg, input_stream(env, spec.input, Path(cfg.resolve(".")), spec.roles.worker.replicas, WORKER)
    )


def add_stream_workers(
    env: StreamExecutionEnvironment, cfg: RuntimeConfig, rows: DataStream, sink: bool = True
) -> DataStream:
    """Workers as a keyed operator over ``rows``; returns what TF wrote (dicts).

    With ``sink``, results go to ``spec.output`` (or are printed); the library API passes
    False and hands the stream to the caller.
    """
    spec = cfg.spec
    n = spec.roles.worker.replicas
    assert spec.input is not None
    base_dir = Path(cfg.resolve("."))
    fn = StreamWorkerFunction(cfg, spec.input.row_columns(), wire_columns(spec.input), batch_step(spec.input, base_dir))
    out = to_subtasks(env, rows, WORKER).process(fn, output_type=PICKLED).name(WORKER).uid(WORKER)
    out = out.set_parallelism(n).slot_sharing_group(WORKER)
    if sink:
        add_results_sink(out, cfg, n, WORKER)
    return out
