"""Typed rows of the Python data plane: the row type, how a column's value is parsed, and what
happens to a row that cannot be typed (``input.onError``).

Rows travel between Python operators as pickled dicts (``PICKLED``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from pyflink.common import Types
from pyflink.datastream.functions import RuntimeContext

from ...lifecycle.errors import FatalJobError
from ...spec.io import Column, ColumnType

log = logging.getLogger(__name__)

PICKLED = Types.PICKLED_BYTE_ARRAY()

Row = dict[str, Any]


class MalformedRow(FatalJobError, ValueError):
    """A row that cannot be typed; the message starts with its position. Restarts cannot fix it."""


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
