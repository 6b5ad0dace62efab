"""The JVM data plane, wired from PyFlink: rows stay in Java operators up to the TF node.

Why: PyFlink's per-record Python path caps rows at tens of thousands a second; the Java
operators of ``jvm/`` (docs/dataplane.md) read CSV, join in Flink keyed state and write typed
column batches straight to each TF node's socket, and score SavedModels with TensorFlow Java.
Python keeps only the per-node work: one operator per TF worker runs its node agent (the
rendezvous with the AM, the TF child process) and relays the results TF writes.

The jars ship in this package (``tfflink/jars``, built by ``make jars``); without them
``dataPlane: auto`` takes the Python path and ``dataPlane: jvm`` is refused with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyflink.datastream.data_stream import DataStream
from pyflink.datastream.functions import FlatMapFunction, RuntimeContext
from pyflink.java_gateway import get_gateway

from ...lifecycle.errors import FatalJobError
from ...spec.io import Column, InputSpec
from ...spec.models import Mode, TFFlinkJobSpec
from ..cluster.agent import NodeAgent
from ..config import RuntimeConfig
from .features import batch_step, wire_columns
from .jars import DATAPLANE_JAR, INFERENCE_JAR, TF_JAVA_DIR
from .roles import WORKER
from .rows import PICKLED
from .sinks import add_results_sink
from .sources import source_chunks

if TYPE_CHECKING:
    from pyflink.datastream import StreamExecutionEnvironment

log = logging.getLogger(__name__)

BATCH_ROWS = 1024


def jars_for(mode: Mode) -> list[Path]:
    """The jars a job of ``mode`` needs on the JVM path."""
    if mode is Mode.INFERENCE:
        return [DATAPLANE_JAR, INFERENCE_JAR, *sorted(TF_JAVA_DIR.glob("*.jar"))]
    return [DATAPLANE_JAR]


def _missing(mode: Mode) -> str | None:
    jars = jars_for(mode)
    if mode is Mode.INFERENCE and not any(TF_JAVA_DIR.glob("*.jar")):
        return f"TensorFlow Java is not in {TF_JAVA_DIR}"
    gone = [str(j) for j in jars if not j.is_file()]
    return f"{gone[0]} is missing (build it with `make jars`)" if gone else None


def uses_jvm(spec: TFFlinkJobSpec) -> bool:
    """Whether this job's rows take the JVM path (``spec.input.dataPlane``)."""
    inp = spec.input
    if inp is None or inp.data_plane == "python":
        return False
    missing = _missing(spec.mode)
    if inp.data_plane == "jvm":
        if missing:
            raise FatalJobError(f"spec.input.dataPlane: jvm, but {missing}")
        return True
    if missing:
        log.info("data plane: python (%s)", missing)
        return False
    refusal = inp.jvm_refusal()
    if spec.mode is Mode.INFERENCE and [c.name for c in inp.row_columns()] != [c.name for c in inp.source_columns()]:
        refusal = "scores the source columns as they are (input.columns selects or reorders them)"
    if refusal:
        log.info("data plane: python (the JVM path %s)", refusal)
        return False
    return True


def _cols(columns: list[Column]) -> list[list[str]]:
    return [[c.name, c.type.value] for c in columns]


def _jvm() -> Any:
    return get_gateway().jvm


def _on_classpath(name: str) -> bool:
    try:
        _jvm().java.lang.Thread.currentThread().getContextClassLoader().loadClass(name)
    except Py4JJavaError:
        return False
    return True


def add_jars(env: StreamExecutionEnvironment, mode: Mode) -> None:
    """The jars into the job unless Flink's lib/ has them (``tfflink run`` and the images put
    them there, jars.lib_dir), and object reuse: chained Java operators hand rows on without a
    deep copy each (ours never change a row after emitting it)."""
    needed = "dev.tfflink.inference.Inference" if mode is Mode.INFERENCE else "dev.tfflink.dataplane.DataPlane"
    if not _on_classpath(needed):
        env.add_jars(*[p.as_uri() for p in jars_for(mode)])
    env.get_config().enable_object_reuse()


def input_rows(env: StreamExecutionEnvironment, inp: InputSpec, base_dir: Path, parallelism: int, group: str) -> Any:
    """The Java ``DataStream<Row>`` of ``spec.input``'s CSV sources, joined when there are two."""
    plane = _jvm().dev.tfflink.dataplane.DataPlane
    streams = []
    for s in inp.sources:
        assert s.csv is not None  # jvm_refusal() lets only CSV sources here
        chunks = source_chunks(s, base_dir)
        conf = {
            "name": s.name,
            "columns": _cols(s.columns),
            "delimiter": s.csv.delimiter,
            "header": s.csv.header,
            "onError": inp.on_error,
            "chunks": [list(c) for c in chunks],
        }
        streams.append(plane.csvSource(env._j_stream_execution_environment, json.dumps(conf), parallelism, group))
    if len(streams) == 1:
        return streams[0]
    assert inp.join is not None
    conf = {"key": inp.join.key, "left": _cols(inp.sources[0].columns), "right": _cols(inp.sources[1].columns)}
    return plane.join(streams[0], streams[1], json.dumps(conf), parallelism, group)


def socket_dir() -> str:
    """A fresh directory name for this job's TF-node sockets (the feeders create it 0700)."""
    return os.path.join(tempfile.gettempdir(), f"tfflink-data-{secrets.token_hex(8)}")


class JvmFedWorker(FlatMapFunction):
    """A TF worker whose rows come from the Java feeder of the same subtask index.

    ``open`` starts the node agent with the feeder's socket as its data channel; records are
    the feeder's output: ``(False, json array)`` results TF wrote, then one ``(True, summary)``
    once the input ended and TF is done, when this waits for the cluster to stop.
    """

    def __init__(self, cfg: RuntimeConfig, sockets: str, inp: InputSpec, base_dir: Path) -> None:
        self.cfg, self.sockets = cfg, sockets
        self.columns = [(c.name, c.type.value) for c in inp.row_columns()]
        self.wire = [(c.name, c.type.value) for c in wire_columns(inp)]
        self.step = batch_step(inp, base_dir)
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.failed_marker = ""

    def open(self, runtime_context: RuntimeContext) -> None:
        index = runtime_context.get_index_of_this_subtask()
        path = os.path.join(self.sockets, f"worker-{index}.sock")
        self.failed_marker = os.path.join(self.sockets, f"worker-{index}.failed")
        agent = NodeAgent(self.cfg, "worker", index).with_data_channel(
            path, self.columns, self.wire, self.step, replays=True
        )
        self.thread = agent.run_in_thread(self._failed)
        threading.Thread(target=self._mark_stopped, daemon=True, name="tfflink-stopped-marker").start()

    def _mark_stopped(self) -> None:
        """Once the node agent is done (the TF cluster stopped, or it failed), the feeder stops
        waiting for this node: until then it serves every restart of it (docs/dataplane.md)."""
        assert self.thread is not None
        self.thread.join()
        try:
            Path(self.failed_marker).with_suffix(".stopped").touch()
        except OSError:
            pass

    def _failed(self, e: BaseException) -> None:
        self.failure = e
        try:  # the feeder stops waiting for this node and fails the job with the reason
            Path(self.failed_marker).write_text(f"{type(e).__name__}: {e}"[:2000])
        except OSError:
            pass

    def flat_map(self, value: Any) -> Iterator[dict[str, Any]]:
        ended, payload = bool(value[0]), str(value[1])
        if not ended:
            yield from json.loads(payload)
            return
        assert self.thread is not None
        self.thread.join()  # until the AM stops the cluster (every worker finished)
        if self.failure is not None:
            raise self.failure
        summary = json.loads(payload)
        if summary.get("lateRows"):
            log.warning("worker stopped reading early; %d later rows were not trained on", summary["lateRows"])


def add_jvm_stream_workers(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> DataStream:
    """Stream mode on the JVM path: Java sources/join -> Java feeder -> Python worker (p = W)."""
    spec = cfg.spec
    inp = spec.input
    assert inp is not None
    n = spec.roles.worker.replicas
    base_dir = Path(cfg.resolve("."))
    add_jars(env, spec.mode)
    rows = input_rows(env, inp, base_dir, n, WORKER)
    sockets = socket_dir()
    conf = {
        "socketDir": sockets,
        "inColumns": _cols(inp.source_columns()),
        "columns": _cols(wire_columns(inp)),
        "batchRows": BATCH_ROWS,
        "checkpointRows": inp.checkpoint_rows,
    }
    fed = _jvm().dev.tfflink.dataplane.DataPlane.feed(rows, json.dumps(conf), n, WORKER)
    out = (
        DataStream(fed)
        .flat_map(JvmFedWorker(cfg, sockets, inp, base_dir), output_type=PICKLED)
        .name(WORKER)
        .uid(WORKER)
        .set_parallelism(n)
        .slot_sharing_group(WORKER)
        # Its own task: while the feeder's thread waits for the TF node, this one must run (it
        # starts that node); forward edge + one slot-sharing group keep subtask i beside feeder i.
        .disable_chaining()
    )
    add_results_sink(out, cfg, n, WORKER)
    return out


def add_jvm_inference(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> None:
    """Inference mode on the JVM path: Java sources/join -> TensorFlow Java scorer -> files."""
    spec = cfg.spec
    inp, out, model = spec.input, spec.output, spec.saved_model
    assert inp and out and model
    n = spec.roles.worker.replicas
    add_jars(env, spec.mode)
    rows = input_rows(env, inp, Path(cfg.resolve(".")), n, "default")
    conf = {
        "path": cfg.resolve(model.path),
        "signature": model.signature,
        "inputs": model.inputs,
        "columns": _cols(inp.row_columns()),
        "inColumns": _cols(inp.source_columns()),
        "keep": out.keep,
        "batchSize": model.batch_size,
        "flushMillis": model.flush_millis,
        "format": out.format,
    }
    inference = _jvm().dev.tfflink.inference.Inference
    lines = inference.savedModel(rows, json.dumps(conf), n, "default")
    inference.writeFiles(lines, cfg.resolve(out.path), out.format, n, "default")
