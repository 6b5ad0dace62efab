"""Input and output descriptions of stream and inference jobs (``spec.input``, ``spec.output``).

They let ``job.yaml`` describe a Flink pipeline (sources, a join, a feature step, typed rows,
file sinks) without user Python for the plumbing, so the CLI and the operator can build it.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import Field, model_validator

from .base import _Model

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Bounds keep the CRD's CEL rules within the API server's cost budget (it rejects unbounded ones).
MAX_NAME = 63
MAX_COLUMNS = 1024


class ColumnType(str, Enum):
    """Types a row column can have; TF sees the matching dtype."""

    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT32 = "int32"
    INT64 = "int64"
    STRING = "string"


class Column(_Model):
    """One typed column of a row."""

    name: str = Field(pattern=NAME, max_length=MAX_NAME, description="Column name (a Python identifier).")
    type: ColumnType = Field(ColumnType.FLOAT32, description="float32, float64, int32, int64 or string.")


class CsvSource(_Model):
    """CSV files: paths or globs, relative to the job file."""

    paths: list[str] = Field(min_length=1, description="Files or globs (relative to the job file).")
    header: bool = Field(False, description="Skip the first line of every file.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")


class GeneratedSource(_Model):
    """Deterministic demo rows: int columns get the row number, float columns seeded noise."""

    rows: int = Field(ge=1, le=1_000_000_000, description="Number of rows.")
    seed: int = Field(0, description="Seed of the float columns' values.")


class SourceSpec(_Model):
    """One source of rows: CSV files or a generator, with its columns."""

    name: str = Field(pattern=NAME, max_length=MAX_NAME, description="Source name (shown as the Flink operator name).")
    csv: CsvSource | None = Field(None, description="Read CSV files.")
    generated: GeneratedSource | None = Field(None, description="Generate demo rows.")
    columns: list[Column] = Field(
        min_length=1, max_length=MAX_COLUMNS, description="The columns of each row, in file order."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.csv is None) == (self.generated is None):
            raise ValueError("set exactly one of 'csv' or 'generated'")
        return self


class JoinSpec(_Model):
    """Inner join of the two sources on one key column (rows of the same key pair up)."""

    key: str = Field(pattern=NAME, max_length=MAX_NAME, description="Column present in both sources.")


class ProcessSpec(_Model):
    """The feature step, a function in a .py file: per batch (``batch: true``, the fast path)
    ``function(columns: dict[str, ndarray]) -> dict[str, ndarray]`` inside each TF worker, or
    per row ``function(row: dict) -> dict | list[dict] | None`` in a Flink Python operator."""

    file: str = Field(min_length=1, description="Path of a .py file, relative to the job file.")
    function: str = Field("process", pattern=NAME, description="Function called with each batch or row.")
    batch: bool = Field(
        False,
        description="Call the function once per batch of numpy columns inside each TF worker "
        "(vectorised); false: once per row in Flink's Python path (far slower).",
    )


class InputSpec(_Model):
    """Where a stream or inference job's rows come from and how they are typed."""

    sources: list[SourceSpec] = Field(min_length=1, max_length=2, description="One source, or two joined.")
    join: JoinSpec | None = Field(None, description="Join of two sources (required with two).")
    process: ProcessSpec | None = Field(None, description="Optional feature step on every (joined) row.")
    columns: list[Column] | None = Field(
        None,
        max_length=MAX_COLUMNS,
        description="Columns of the rows TF receives; default: the (joined) source columns.",
    )
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="Malformed rows: fail the job, or skip and count them."
    )
    data_plane: Literal["auto", "jvm", "python"] = Field(
        "auto",
        description="Where rows travel: jvm (Java operators up to the TF node, CSV sources, a "
        "batch feature step or none), python (PyFlink's per-row path, any source and feature "
        "step), or auto (jvm where the job allows it).",
    )
    checkpoint_rows: int = Field(
        100_000,
        ge=1,
        le=1 << 40,
        description="JVM plane: every this many rows a worker gets a checkpoint request; a worker that "
        "calls context.restore() saves there (exactly-once input across TF restarts).",
    )

    @model_validator(mode="after")
    def _join_matches_sources(self) -> InputSpec:
        if len(self.sources) == 2 and self.join is None:
            raise ValueError("join: required field is missing (two sources must be joined)")
        if self.join is not None:
            for s in self.sources:
                if self.join.key not in [c.name for c in s.columns]:
                    raise ValueError(f"join.key: {self.join.key!r} is not a column of source {s.name!r}")
        if self.data_plane == "jvm":
            reason = self.jvm_refusal()
            if reason:
                raise ValueError(f"dataPlane: jvm {reason}")
        return self

    def jvm_refusal(self) -> str | None:
        """Why this input cannot take the JVM data plane (None: it can)."""
        generated = [s.name for s in self.sources if s.csv is None]
        if generated:
            return f"reads CSV sources only; {generated[0]!r} is generated (use dataPlane: python)"
        if self.process is not None and not self.process.batch:
            return "needs process.batch: true (a per-row feature step runs in Python; use dataPlane: python)"
        return None

    def source_columns(self) -> list[Column]:
        """Columns after the join: the key once, then every other column in source order."""
        out: list[Column] = []
        for s in self.sources:
            out += [c for c in s.columns if c.name not in {o.name for o in out}]
        return out

    def row_columns(self) -> list[Column]:
        """The columns TF (or the model) receives."""
        return self.columns if self.columns is not None else self.source_columns()


class OutputSpec(_Model):
    """A file sink for results: one part file per subtask in ``path``."""

    path: str = Field(min_length=1, description="Output directory (relative to the job file).")
    format: Literal["jsonl", "csv"] = Field("jsonl", description="jsonl (one JSON object a line) or csv.")
    keep: list[str] = Field(
        default_factory=list, description="Input columns copied into each result (e.g. the row id)."
    )


class SavedModelSpec(_Model):
    """In-process inference: a SavedModel loaded once per subtask, scored in batches."""

    path: str = Field(min_length=1, description="SavedModel directory (relative to the job file).")
    signature: str = Field("serving_default", min_length=1, description="Signature to call.")
    inputs: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Signature input -> row columns stacked into it; default: its only input "
        "gets every numeric column not in output.keep.",
    )
    batch_size: int = Field(256, ge=1, le=1_000_000, description="Rows scored per model call.")
    flush_millis: int = Field(200, ge=1, le=600_000, description="Longest wait before a partial batch is scored.")
