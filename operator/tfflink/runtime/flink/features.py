"""From sources to the rows a TF worker trains on: the join of two sources and the feature step.

The feature step is the user's function from ``spec.input.process``: per row here, in a Flink
operator; or, with ``process.batch``, per batch inside the TF worker (``batch_step``), when
the rows travel as the source columns (``wire_columns``) and the step makes the declared ones.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pyflink.datastream.functions import FlatMapFunction, KeyedCoProcessFunction, RuntimeContext

from ...spec.io import Column, InputSpec
from .rows import PICKLED, ErrorPolicy, MalformedRow, Row, coerce_dict
from .sources import source_stream

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment


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


def process_file(file: str, base_dir: Path) -> str:
    """The feature step's file made absolute against ``base_dir`` (symlinks kept: ConfigMap mounts)."""
    p = Path(file)
    return str(p if p.is_absolute() else os.path.normpath(base_dir / p))


def batch_step(inp: InputSpec, base_dir: Path) -> dict[str, str] | None:
    """The feature step that runs per batch in the TF worker (``process.batch``), if any."""
    if inp.process is None or not inp.process.batch:
        return None
    return {"file": process_file(inp.process.file, base_dir), "function": inp.process.function}


def wire_columns(inp: InputSpec) -> list[Column]:
    """What travels to the TF node: the (joined) source columns when a batch step makes the
    declared ones there, else the declared columns themselves."""
    return inp.source_columns() if inp.process is not None and inp.process.batch else inp.row_columns()


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
        return stream  # a batch feature step runs in the TF workers (batch_step)
    path = process_file(inp.process.file, base_dir) if inp.process is not None else None
    function = inp.process.function if inp.process else "process"
    return (
        stream.flat_map(FeatureStep(path, function, inp.row_columns(), inp.on_error), output_type=PICKLED)
        .name("features")
        .set_parallelism(parallelism)
        .slot_sharing_group(group)
    )
