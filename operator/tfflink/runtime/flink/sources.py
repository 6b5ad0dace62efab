"""The rows of one ``input.sources`` entry: CSV files cut into line ranges, or generated rows.

CSV files are cut into line ranges by the client (one pass counting newlines) and read by a
Python flat_map, so every row keeps its ``file:line`` position for error messages, and each
call emits a bounded number of rows (PyFlink hands a call's output downstream only when the
call returns). The JVM data plane reads the same ranges (``jvm_plane.input_rows``).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pyflink.common import WatermarkStrategy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.functions import FlatMapFunction, MapFunction, RuntimeContext

from ...spec.io import ColumnType, SourceSpec
from .rows import PICKLED, ErrorPolicy, MalformedRow, Row, coerce

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

LINES_PER_CHUNK = 2000

Chunk = tuple[str, int, int, int]  # (path, byte offset, first line number, line count)


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


def csv_chunks(files: list[Path], lines: int = LINES_PER_CHUNK) -> list[Chunk]:
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


def source_chunks(source: SourceSpec, base_dir: Path) -> list[Chunk]:
    """The line ranges of a CSV source's files; error if they hold no line at all."""
    assert source.csv is not None
    chunks = csv_chunks(expand_paths(source.csv.paths, base_dir))
    if not chunks:
        raise FileNotFoundError(f"spec.input: the files of source {source.name!r} are empty")
    return chunks


class CsvChunkReader(FlatMapFunction):
    """Reads one line range of a CSV file and yields typed rows."""

    def __init__(self, source: SourceSpec, on_error: str, chunks: list[Chunk]) -> None:
        assert source.csv is not None
        self.chunks = chunks
        self.columns, self.header, self.delim = source.columns, source.csv.header, source.csv.delimiter
        self.policy = ErrorPolicy(on_error, source.name)

    def open(self, runtime_context: RuntimeContext) -> None:
        self.policy.open(runtime_context)

    def flat_map(self, index: int) -> Iterator[Row]:
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
    chunks = source_chunks(source, base_dir)
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
