"""Row typing and CSV chunking of the Python data plane (runtime/flink/rows.py, sources.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfflink.runtime.flink.rows import ErrorPolicy, MalformedRow, coerce, coerce_dict
from tfflink.runtime.flink.sources import CsvChunkReader, csv_chunks, expand_paths, generated_row
from tfflink.spec.io import Column, ColumnType, SourceSpec

COLS = [
    Column(name="id", type=ColumnType.INT64),
    Column(name="n", type=ColumnType.INT32),
    Column(name="x", type=ColumnType.FLOAT32),
    Column(name="s", type=ColumnType.STRING),
]


def test_coerce_types_each_column_and_keeps_strings_verbatim() -> None:
    row = coerce(["9007199254740993", " 7 ", "0.5", " a b "], COLS, "f.csv:3")
    assert row == {"id": 9007199254740993, "n": 7, "x": 0.5, "s": " a b "}


@pytest.mark.parametrize(
    ("values", "column"),
    [
        (["1", "3000000000", "0", "s"], "n"),  # over int32
        (["1", "-2147483649", "0", "s"], "n"),  # under int32
        (["9223372036854775808", "1", "0", "s"], "id"),  # over int64
        (["1_000", "1", "0", "s"], "id"),  # Python literal syntax, not a CSV number
        (["1", "1", "1_0.5", "s"], "x"),
        (["1", "1", "abc", "s"], "x"),
        (["1.5", "1", "0", "s"], "id"),
    ],
)
def test_out_of_range_and_odd_literals_are_malformed_with_their_position(values: list[str], column: str) -> None:
    with pytest.raises(MalformedRow, match=rf"^\[fatal\] f\.csv:9: column '{column}': cannot parse"):
        coerce(values, COLS, "f.csv:9")


def test_int_edges_are_accepted() -> None:
    row = coerce(["-9223372036854775808", "-2147483648", "1e3", "s"], COLS, "w")
    assert row["id"] == -(2**63) and row["n"] == -(2**31) and row["x"] == 1000.0


def test_wrong_column_count_names_the_position() -> None:
    with pytest.raises(MalformedRow, match="f.csv:2: expected 4 columns, got 2"):
        coerce(["1", "2"], COLS, "f.csv:2")


def test_coerce_dict_names_missing_columns() -> None:
    with pytest.raises(MalformedRow, match="feature step: missing column\\(s\\) n, s"):
        coerce_dict({"id": 1, "x": 0.0}, COLS, "feature step")
    assert coerce_dict({"s": "t", "x": 1, "n": 2, "id": 3, "extra": 0}, COLS, "w") == {
        "id": 3,
        "n": 2,
        "x": 1.0,
        "s": "t",
    }


def test_error_policy_skips_and_counts_or_raises() -> None:
    err = MalformedRow("f.csv:1: bad")
    skip = ErrorPolicy("skip", "csv")
    skip.handle(err)
    skip.handle(err)
    assert skip.skipped == 2
    with pytest.raises(MalformedRow):
        ErrorPolicy("fail", "csv").handle(err)


def test_csv_chunks_cover_every_line_once_with_offsets(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    lines = [f"{i},{i * 2}\n" for i in range(1, 8)]
    f.write_text("".join(lines))
    chunks = csv_chunks([f], lines=3)
    assert [(start, count) for _, _, start, count in chunks] == [(1, 3), (4, 3), (7, 1)]
    data = f.read_bytes()
    for _, offset, start, count in chunks:
        got = data[offset:].splitlines(keepends=True)[:count]
        assert [ln.decode() for ln in got] == lines[start - 1 : start - 1 + count]


def test_expand_paths_sorts_globs_and_names_the_missing_pattern(tmp_path: Path) -> None:
    for n in ("b.csv", "a.csv"):
        (tmp_path / n).write_text("1\n")
    assert [p.name for p in expand_paths(["*.csv"], tmp_path)] == ["a.csv", "b.csv"]
    with pytest.raises(FileNotFoundError, match="spec.input: no file matches 'none-\\*.csv'"):
        expand_paths(["none-*.csv"], tmp_path)


def test_generated_rows_are_deterministic_and_typed() -> None:
    src = SourceSpec.model_validate(
        {
            "name": "g",
            "generated": {"rows": 10, "seed": 3},
            "columns": [{"name": "i", "type": "int64"}, {"name": "v"}, {"name": "t", "type": "string"}],
        }
    )
    a, b = generated_row(src, 5), generated_row(src, 5)
    assert a == b and a["i"] == 5 and a["t"] == "t-5" and -1.0 <= a["v"] < 1.0
    assert generated_row(src, 6)["v"] != a["v"]


def _read(tmp_path: Path, text: str, on_error: str) -> tuple[list[dict[str, object]], ErrorPolicy]:
    f = tmp_path / "rows.csv"
    f.write_text(text)
    src = SourceSpec.model_validate(
        {
            "name": "r",
            "csv": {"paths": [str(f)]},
            "columns": [{"name": "id", "type": "int64"}, {"name": "s", "type": "string"}],
        }
    )
    reader = CsvChunkReader(src, on_error, csv_chunks([f], lines=10))
    rows: list[dict[str, object]] = []
    for i in range(len(reader.chunks)):
        rows += reader.flat_map(i)
    return rows, reader.policy


def test_an_oversized_field_obeys_on_error(tmp_path: Path) -> None:
    text = f"1,a\n2,{'x' * 200_000}\n3,c\n"
    rows, policy = _read(tmp_path, text, "skip")
    assert [r["id"] for r in rows] == [1, 3] and policy.skipped == 1
    with pytest.raises(MalformedRow, match=r"rows\.csv:2: field larger than field limit"):
        _read(tmp_path, text, "fail")
