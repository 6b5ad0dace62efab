"""Results to ``spec.output``: one part file per subtask, JSON lines or CSV."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflink.common import Types
from pyflink.datastream.functions import FlatMapFunction, RuntimeContext

from ...spec.io import OutputSpec
from ..config import RuntimeConfig
from .rows import Row

if TYPE_CHECKING:
    from pyflink.datastream import DataStream


def format_record(rec: Row, fmt: str) -> str:
    """One output line: a JSON object, or CSV with list values spread over columns."""
    if fmt == "jsonl":
        return json.dumps(rec, default=_jsonable)
    cells: list[str] = []
    for v in rec.values():
        cells += [str(x) for x in v] if isinstance(v, list) else [str(_jsonable(v))]
    return ",".join(cells)


def _jsonable(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v.decode() if isinstance(v, bytes) else str(v)


class FileWriter(FlatMapFunction):
    """Writes results to ``path/part-<subtask>.<format>``; renamed from .inprogress on close.

    Readers never see a half-written file: the final name appears only once the subtask
    finished its input.
    """

    def __init__(self, output: OutputSpec, path: str) -> None:
        self.output, self.dir = output, path
        self.fh: Any = None
        self.final = ""

    def open(self, runtime_context: RuntimeContext) -> None:
        Path(self.dir).mkdir(parents=True, exist_ok=True)
        i = runtime_context.get_index_of_this_subtask()
        self.final = os.path.join(self.dir, f"part-{i}.{self.output.format}")
        self.fh = open(self.final + ".inprogress", "w")

    def flat_map(self, rec: Row) -> Iterator[str]:
        self.fh.write(format_record(rec, self.output.format) + "\n")
        return iter(())

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            os.replace(self.final + ".inprogress", self.final)
            self.fh = None


def add_file_sink(results: DataStream, cfg: RuntimeConfig, parallelism: int, group: str = "default") -> DataStream:
    """Write result dicts to ``spec.output`` (one part file per subtask)."""
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


def add_results_sink(results: DataStream, cfg: RuntimeConfig, parallelism: int, group: str) -> None:
    """What the TF workers wrote: to ``spec.output``, or printed (the task logs) without one."""
    if cfg.spec.output is not None:
        add_file_sink(results, cfg, parallelism, group)
    else:
        results.print().name("worker-result").set_parallelism(parallelism).slot_sharing_group(group)
