"""Stream pipelines from ``spec.input``: sources, the join, the feature step, typed rows.

Rows travel between Python operators as pickled dicts. CSV files are cut into line ranges
by the client (one pass counting newlines) and read by a Python flat_map, so every row keeps
its ``file:line`` position for error messages, and each call emits a bounded number of rows
(PyFlink hands a call's output downstream only when the call returns).

The last hop, :func:`to_subtasks`, feeds a keyed operator that knows when its input ended:
rows are spread round-robin over ``ROUTE_KEYS`` keys, a marker per key from a bounded source
makes every subtask register an event-time timer, and bounded sources end with the maximal
watermark, which fires those timers only after every row arrived (:class:`EndAwareFunction`).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import logging
import os
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.functions import (
    FlatMapFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    MapFunction,
    RuntimeContext,
)
from pyflink.datastream.time_domain import TimeDomain

from ...lifecycle.errors import FatalJobError
from ...spec.io import Column, ColumnType, InputSpec, SourceSpec

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

log = logging.getLogger(__name__)

LINES_PER_CHUNK = 2000
ROUTE_KEYS = 4096  # >> 128 key groups: every subtask owns some key (miss odds ~ 128 e^-32)
END_OF_INPUT = 2**62  # event-time timer fired only by the final (maximal) watermark
PICKLED = Types.PICKLED_BYTE_ARRAY()
ROUTED = Types.TUPLE([Types.INT(), Types.PICKLED_BYTE_ARRAY()])

Row = dict[str, Any]


class MalformedRow(FatalJobError, ValueError):
    """A row that cannot be typed; the message starts with its position. Restarts cannot fix it."""


# -- typing rows -------------------------------------------------------------------------------


def _ranged_int(bits: int) -> Callable[[Any], int]:
    """An int parser that refuses what does not fit the column (not wrap it, as numpy would)."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def parse(v: Any) -> int:
        if isinstance(v, str) and "_" in v:  # Python literal syntax, not a number in a data file
            raise ValueError(v)
        n = int(v)
        if isinstance(v, float) and n != v or not lo <= n <= hi:
            raise ValueError(v)
        return n

    return parse


def _float(v: Any) -> float:
    if isinstance(v, str) and "_" in v:
        raise ValueError(v)
    return float(v)


_PARSE: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.FLOAT32: _float,
    ColumnType.FLOAT64: _float,
    ColumnType.INT32: _ranged_int(32),
    ColumnType.INT64: _ranged_int(64),
    ColumnType.STRING: str,
}


def coerce(values: Iterable[Any], columns: list[Column], where: str) -> Row:
    """Type one row's values by its columns; MalformedRow names ``where`` and the column."""
    vals = list(values)
    if len(vals) != len(columns):
        raise MalformedRow(f"{where}: expected {len(columns)} columns, got {len(vals)}")
    row: Row = {}
    for col, v in zip(columns, vals, strict=True):
        try:
            row[col.name] = _PARSE[col.type](
                v.strip() if isinstance(v, str) and col.type is not ColumnType.STRING else v
            )
        except (TypeError, ValueError):
            raise MalformedRow(f"{where}: column {col.name!r}: cannot parse {v!r} as {col.type.value}") from None
    return row


def coerce_dict(row: Row, columns: list[Column], where: str) -> Row:
    """Type a dict row (the feature step's output) by the declared columns."""
    missing = [c.name for c in columns if c.name not in row]
    if missing:
        raise MalformedRow(f"{where}: missing column(s) {', '.join(missing)}")
    return coerce([row[c.name] for c in columns], columns, where)


class ErrorPolicy:
    """Raise or skip-and-count malformed rows, per ``input.onError``."""

    def __init__(self, mode: str, what: str) -> None:
        self.mode, self.what, self.skipped = mode, what, 0
        self.counter: Any = None

    def open(self, ctx: RuntimeContext) -> None:
        self.counter = ctx.get_metrics_group().counter("malformedRows")

    def handle(self, err: MalformedRow) -> None:
        if self.mode == "fail":
            raise err
        self.skipped += 1
        if self.counter is not None:
            self.counter.inc()
        if self.skipped <= 10 or self.skipped % 1000 == 0:
            log.warning("skipped malformed row %d (%s): %s", self.skipped, self.what, err)


# -- sources -----------------------------------------------------------------------------------


def expand_paths(patterns: list[str], base_dir: Path) -> list[Path]:
    """Files named by paths or globs (relative to ``base_dir``), sorted; error if none."""
    found: list[Path] = []
    for p in patterns:
        full = p if Path(p).is_absolute() else str(base_dir / p)
        hits = sorted(glob.glob(full)) if glob.has_magic(full) else ([full] if Path(full).is_file() else [])
        if not hits:
            raise FileNotFoundError(f"spec.input: no file matches {p!r} (looked at {full})")
        found += [Path(h) for h in hits]
    return found


def csv_chunks(files: list[Path], lines: int = LINES_PER_CHUNK) -> list[tuple[str, int, int, int]]:
    """(path, byte offset, first line number, line count) ranges covering every file."""
    chunks = []
    for f in files:
        offset, start, count, pos, lineno = 0, 1, 0, 0, 0
        with open(f, "rb") as fh:
            for line in fh:
                lineno += 1
                if count == 0:
                    offset, start = pos, lineno
                count += 1
                pos += len(line)
                if count == lines:
                    chunks.append((str(f), offset, start, count))
                    count = 0
        if count:
            chunks.append((str(f), offset, start, count))
    return chunks


class CsvChunkReader(FlatMapFunction):
    """Reads one line range of a CSV file and yields typed rows."""

    def __init__(self, source: SourceSpec, on_error: str, chunks: list[tuple[str, int, int, int]]) -> None:
        assert source.csv is not None
        self.chunks = chunks
        self.columns, self.header, self.delim = source.columns, source.csv.header, source.csv.delimiter
        self.policy = ErrorPolicy(on_error, source.name)

    def open(self, runtime_context: RuntimeContext) -> None:
        self.policy.open(runtime_context)

    def flat_map(self, index: int) -> Iterator[Row]:
        import csv

        path, offset, first, count = self.chunks[index]
        with open(path, newline="") as fh:
            fh.seek(offset)
            lines = [fh.readline() for _ in range(count)]
        reader = csv.reader(lines, delimiter=self.delim)
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a field over csv.field_size_limit(): a bad row, not a crash
                self.policy.handle(MalformedRow(f"{path}:{first + reader.line_num - 1}: {e}"))
                continue
            lineno = first + reader.line_num - 1
            if (lineno == 1 and self.header) or not values:
                continue
            try:
                yield coerce(values, self.columns, f"{path}:{lineno}")
            except MalformedRow as e:
                self.policy.handle(e)


def _noise(seed: int, col: int, n: int) -> float:
    """A deterministic value in [-1, 1) from (seed, column, row): reproducible demo data."""
    h = hashlib.blake2b(struct.pack("<qqq", seed, col, n), digest_size=8).digest()
    value: int = struct.unpack("<Q", h)[0]
    return value / 2.0**63 - 1.0


def generated_row(source: SourceSpec, n: int) -> Row:
    """Row ``n`` of a generated source: ints = n, floats = seeded noise, strings = name-n."""
    assert source.generated is not None
    seed = source.generated.seed
    row: Row = {}
    for i, c in enumerate(source.columns):
        if c.type in (ColumnType.INT32, ColumnType.INT64):
            row[c.name] = int(n)
        elif c.type is ColumnType.STRING:
            row[c.name] = f"{c.name}-{n}"
        else:
            row[c.name] = _noise(seed, i, n)
    return row


class _Generate(MapFunction):
    def __init__(self, source: SourceSpec) -> None:
        self.source = source

    def map(self, n: int) -> Row:
        return generated_row(self.source, n)


def source_stream(
    env: StreamExecutionEnvironment, source: SourceSpec, base_dir: Path, on_error: str, parallelism: int, group: str
) -> DataStream:
    """A stream of typed dict rows from one ``input.sources`` entry."""
    if source.generated is not None:
        seq = (
            env.from_source(
                NumberSequenceSource(0, source.generated.rows - 1), WatermarkStrategy.no_watermarks(), source.name
            )
            .set_parallelism(parallelism)
            .slot_sharing_group(group)
        )
        return (
            seq.map(_Generate(source), output_type=PICKLED)
            .name(f"{source.name}-rows")
            .set_parallelism(parallelism)
            .slot_sharing_group(group)
        )
    assert source.csv is not None
    chunks = csv_chunks(expand_paths(source.csv.paths, base_dir))
    if not chunks:
        raise FileNotFoundError(f"spec.input: the files of source {source.name!r} are empty")
    # The chunk list travels inside the reader; the source only numbers the chunks.
    return (
        env.from_source(NumberSequenceSource(0, len(chunks) - 1), WatermarkStrategy.no_watermarks(), source.name)
        .set_parallelism(1)
        .slot_sharing_group(group)
        .rebalance()
        .flat_map(CsvChunkReader(source, on_error, chunks), output_type=PICKLED)
        .name(f"{source.name}-csv")
        .set_parallelism(parallelism)
        .slot_sharing_group(group)
    )


# -- join and feature step ---------------------------------------------------------------------


class InnerJoin(KeyedCoProcessFunction):
    """Pairs rows of the two sources with equal keys; holds unmatched rows until matched."""

    def __init__(self) -> None:
        self.sides: tuple[dict[Any, list[Row]], dict[Any, list[Row]]] = ({}, {})

    def process_element1(self, value: Row, ctx: KeyedCoProcessFunction.Context) -> Iterator[Row]:
        yield from self._match(value, ctx.get_current_key(), 0)

    def process_element2(self, value: Row, ctx: KeyedCoProcessFunction.Context) -> Iterator[Row]:
        yield from self._match(value, ctx.get_current_key(), 1)

    def _match(self, row: Row, key: Any, side: int) -> Iterator[Row]:
        self.sides[side].setdefault(key, []).append(row)
        for other in self.sides[1 - side].get(key, []):
            yield {**row, **other} if side == 0 else {**other, **row}


def load_process(path: Path, function: str) -> Callable[[Row], Any]:
    """Import the feature step's function from a .py file."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"tfflink_process_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"spec.input.process.file: cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, function, None)
    if not callable(fn):
        raise AttributeError(f"spec.input.process.function: {function!r} is not a function of {path}")
    return cast(Callable[..., Any], fn)


class FeatureStep(FlatMapFunction):
    """Runs the user's feature function, then types its rows by ``input.columns``."""

    def __init__(self, path: str | None, function: str, columns: list[Column], on_error: str) -> None:
        self.path, self.function, self.columns = path, function, columns
        self.policy = ErrorPolicy(on_error, "feature step")
        self.fn: Callable[[Row], Any] | None = None
        self.seen = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self.policy.open(runtime_context)
        if self.path:
            self.fn = load_process(Path(self.path), self.function)

    def flat_map(self, row: Row) -> Iterator[Row]:
        self.seen += 1
        out = self.fn(row) if self.fn else row
        rows = [] if out is None else [out] if isinstance(out, dict) else list(out)
        for r in rows:
            try:
                yield coerce_dict(r, self.columns, f"feature step row {self.seen}")
            except MalformedRow as e:
                self.policy.handle(e)


def input_stream(
    env: StreamExecutionEnvironment, inp: InputSpec, base_dir: Path, parallelism: int, group: str
) -> DataStream:
    """The typed rows ``spec.input`` describes: sources, optional join, feature step."""
    streams = [source_stream(env, s, base_dir, inp.on_error, parallelism, group) for s in inp.sources]
    if len(streams) == 2:
        assert inp.join is not None
        key = inp.join.key
        stream = (
            streams[0]
            .connect(streams[1])
            .key_by(lambda r, k=key: r[k], lambda r, k=key: r[k])
            .process(InnerJoin(), output_type=PICKLED)
            .name(f"join-on-{key}")
            .set_parallelism(parallelism)
            .slot_sharing_group(group)
        )
    else:
        stream = streams[0]
    if (inp.process is None and inp.columns is None) or (inp.process is not None and inp.process.batch):
        return stream  # a batch feature step runs in the TF workers (jvm_plane.wire_columns)
    path = None
    if inp.process is not None:
        p = Path(inp.process.file)
        path = str(p if p.is_absolute() else os.path.normpath(base_dir / p))  # symlinks kept: ConfigMap mounts
    function = inp.process.function if inp.process else "process"
    return (
        stream.flat_map(FeatureStep(path, function, inp.row_columns(), inp.on_error), output_type=PICKLED)
        .name("features")
        .set_parallelism(parallelism)
        .slot_sharing_group(group)
    )


# -- the last hop: keyed, end-aware subtasks ---------------------------------------------------


class _RoundRobin(MapFunction):
    def __init__(self) -> None:
        self.n = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self.n = runtime_context.get_index_of_this_subtask() * 7919

    def map(self, row: Row) -> tuple[int, Row]:
        self.n += 1
        return self.n % ROUTE_KEYS, row


def to_subtasks(env: StreamExecutionEnvironment, rows: DataStream, group: str) -> Any:
    """Key ``rows`` for an :class:`EndAwareFunction`; apply it with ``.process(fn)``."""
    routed = rows.map(_RoundRobin(), output_type=ROUTED).name("route").slot_sharing_group(group)
    markers = (
        env.from_source(NumberSequenceSource(0, ROUTE_KEYS - 1), WatermarkStrategy.no_watermarks(), "end-markers")
        .set_parallelism(1)
        .slot_sharing_group(group)
        .map(lambda k: (int(k), None), output_type=ROUTED)
        .set_parallelism(1)
        .slot_sharing_group(group)
    )
    return routed.union(markers).key_by(lambda t: t[0], key_type=Types.INT())


class EndAwareFunction(KeyedProcessFunction):
    """Base of row consumers that must act once all input arrived (flush, close TF's input).

    Subclasses implement ``rows(batch)`` and ``end()``, both returning output records, and may
    call ``want_flush`` to get ``flush()`` after a delay (a partial batch on a slow stream).
    """

    def __init__(self) -> None:
        self._keys: set[int] = set()
        self._ended = False
        self._flush_due: float | None = None

    def process_element(self, value: tuple[int, Row | None], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        key, row = value
        if key not in self._keys:
            self._keys.add(key)
            ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        if row is not None:
            yield from self.row(row, ctx)

    def want_flush(self, ctx: KeyedProcessFunction.Context, millis: int) -> None:
        if self._flush_due is None:
            now = ctx.timer_service().current_processing_time()
            self._flush_due = now + millis
            ctx.timer_service().register_processing_time_timer(self._flush_due)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:
            self._flush_due = None
            if not self._ended:
                yield from self.flush()
            return
        if not self._ended:  # the first end timer: every key's input is complete
            self._ended = True
            yield from self.end()

    def row(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        raise NotImplementedError

    def flush(self) -> Iterable[Any]:
        return ()

    def end(self) -> Iterable[Any]:
        return ()


# -- stream mode: workers fed by the pipeline ----------------------------------------------


class StreamWorkerFunction(EndAwareFunction):
    """A TF worker as a Flink operator: runs its node agent and feeds it rows over the bridge.

    The agent (AM protocol, child process, restarts) runs in a thread started in ``open``;
    each row goes into the bridge (blocking while TF is behind: backpressure), results TF
    wrote come out with the next rows, and at end of input the rest come out once TF is done.
    """

    def __init__(self, cfg: Any, columns: list[Column], wire: list[Column], step: dict[str, str] | None) -> None:
        super().__init__()
        self.cfg, self.names, self.step = cfg, [c.name for c in wire], step
        self.types = [(c.name, c.type.value) for c in columns]
        self.wire = [(c.name, c.type.value) for c in wire]
        self.server: Any = None
        self.thread: Any = None
        self.failure: BaseException | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from ..cluster.agent import NodeAgent
        from ..cluster.bridge import BridgeServer

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


def add_stream_cluster(env: StreamExecutionEnvironment, cfg: Any) -> None:
    """Stream mode: the AM and the other roles as in batch mode; workers consume ``spec.input``
    (p = workers), on the JVM data plane where the job allows it (jvm_plane.uses_jvm), else PyFlink's."""
    from .graph import WORKER, add_source_roles
    from .jvm_plane import add_jvm_stream_workers, uses_jvm

    spec = cfg.spec
    assert spec.input is not None
    add_source_roles(env, cfg, with_workers=False)
    if uses_jvm(spec):
        add_jvm_stream_workers(env, cfg)
        return
    add_stream_workers(
        env, cfg, input_stream(env, spec.input, Path(cfg.resolve(".")), spec.roles.worker.replicas, WORKER)
    )


def add_stream_workers(env: StreamExecutionEnvironment, cfg: Any, rows: DataStream, sink: bool = True) -> DataStream:
    """Workers as a keyed operator over ``rows``; returns what TF wrote (dicts).

    With ``sink``, results go to ``spec.output`` (or are printed); the library API passes
    False and hands the stream to the caller.
    """
    from .graph import WORKER

    spec = cfg.spec
    n = spec.roles.worker.replicas
    assert spec.input is not None
    from .jvm_plane import batch_step, wire_columns

    base_dir = Path(cfg.resolve("."))
    fn = StreamWorkerFunction(cfg, spec.input.row_columns(), wire_columns(spec.input), batch_step(spec.input, base_dir))
    out = to_subtasks(env, rows, WORKER).process(fn, output_type=PICKLED).name(WORKER).uid(WORKER)
    out = out.set_parallelism(n).slot_sharing_group(WORKER)
    if not sink:
        return out
    if spec.output is not None:
        from .graph import add_file_sink

        add_file_sink(out, cfg, n, WORKER)
    else:
        out.print().name("worker-result").set_parallelism(n).slot_sharing_group(WORKER)
    return out
