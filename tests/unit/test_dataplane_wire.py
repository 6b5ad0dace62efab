"""The TF side of the JVM data plane's wire format (docs/dataplane.md): the shared test vector
tests/data/typed_frame.hex is what the Java feeder writes (its own test checks the same bytes),
decoded here into exact numpy columns; malformed batches are refused; batches are recut."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.support.jobs import REPO
from tfflink.runtime.cluster.bridge import (
    BridgeProtocolError,
    Rebatcher,
    TypedColumns,
    _FrameReader,
    column_batches,
    decode_typed,
    typed_output,
)
from tfflink.spec.io import InputSpec

VECTOR = bytes.fromhex((REPO / "tests" / "data" / "typed_frame.hex").read_text().strip())


def test_the_shared_vector_decodes_to_exact_typed_columns() -> None:
    [(kind, cols)] = _FrameReader().feed(VECTOR)
    assert kind == b"R" and isinstance(cols, TypedColumns) and cols.rows == 3
    ids, x, d, n, s = cols
    assert ids.dtype == np.int64 and ids.tolist() == [1, 9007199254740993, -5]  # > 2^53, exact
    assert x.dtype == np.float32 and x.tolist() == [0.5, -1.25, 3.0]
    assert d.dtype == np.float64 and d.tolist() == [0.1, 2.5, -0.0]
    assert n.dtype == np.int32 and n.tolist() == [7, -2147483648, 2147483647]
    assert s.tolist() == [b"a", b"", "héllo".encode()]


def test_a_vector_split_anywhere_decodes_the_same() -> None:
    for cut in (1, 5, 9, 40, len(VECTOR) - 1):
        reader = _FrameReader()
        assert reader.feed(VECTOR[:cut]) == []
        [(_, cols)] = reader.feed(VECTOR[cut:])
        assert cols[0].tolist() == [1, 9007199254740993, -5]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-1], "runs past"),
        (lambda b: b + b"x", "trailing"),
        (lambda b: struct.pack("<I", 4) + b[4:], "does not match"),  # 4 rows claimed
        (lambda b: b[:9] + b"z" + b[10:], "unknown column type"),
    ],
)
def test_malformed_typed_batches_are_refused(mutate, message: str) -> None:
    body = VECTOR[5:]
    with pytest.raises(BridgeProtocolError, match=message):
        decode_typed(mutate(body))


def test_string_offsets_out_of_order_are_refused() -> None:
    body = bytearray(VECTOR[5:])
    at = body.rfind(struct.pack("<IIII", 0, 1, 1, 7))
    body[at + 4 : at + 8] = struct.pack("<I", 9)
    with pytest.raises(BridgeProtocolError, match="offsets"):
        decode_typed(bytes(body))


def test_rebatcher_cuts_exact_batches_across_frames() -> None:
    r = Rebatcher(["a"], 4)
    out = [b["a"].tolist() for part in (np.arange(3), np.arange(3, 10), np.arange(10, 11)) for b in r.add({"a": part})]
    out += [b["a"].tolist() for b in r.rest()]
    assert out == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]


class _Fake:
    exactly_once = False

    def __init__(self, batches: list[object]) -> None:
        self.batches = batches

    def batches_iter(self):
        yield from self.batches


def test_a_batch_step_turns_wire_columns_into_the_declared_ones() -> None:
    wire = [("id", "int64"), ("a", "float32"), ("b", "float32")]
    batch = TypedColumns([np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0], "f4"), np.array([4.0, 5.0, 6.0], "f4")])

    def step(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"id": cols["id"], "s": cols["a"] + cols["b"]}

    [out] = list(column_batches(_Fake([batch]), [("id", "int64"), ("s", "float64")], 8, wire, step))
    assert out["s"].dtype == np.float64 and out["s"].tolist() == [5.0, 7.0, 9.0]


def test_a_batch_step_missing_a_declared_column_names_it() -> None:
    with pytest.raises(KeyError, match="spec.input.process .batch. returned no column.s. y"):
        typed_output({"x": [1]}, [("x", "int64"), ("y", "float32")], "spec.input.process (batch)")


def _input(**extra: object) -> dict[str, object]:
    return {
        "sources": [{"name": "g", "generated": {"rows": 10}, "columns": [{"name": "x"}]}],
        **extra,
    }


def test_the_jvm_plane_refuses_what_it_cannot_carry_by_field() -> None:
    with pytest.raises(ValueError, match="dataPlane: jvm reads CSV sources only; 'g' is generated"):
        InputSpec.model_validate(_input(dataPlane="jvm"))
    csv = {"sources": [{"name": "c", "csv": {"paths": ["a.csv"]}, "columns": [{"name": "x"}]}]}
    with pytest.raises(ValueError, match="dataPlane: jvm needs process.batch: true"):
        InputSpec.model_validate({**csv, "dataPlane": "jvm", "process": {"file": "f.py"}})
    ok = InputSpec.model_validate({**csv, "dataPlane": "jvm", "process": {"file": "f.py", "batch": True}})
    assert ok.jvm_refusal() is None
    assert InputSpec.model_validate(_input()).jvm_refusal() is not None  # auto falls back to python


def test_stack_joins_columns_into_one_matrix_and_refuses_bad_groups() -> None:
    from tfflink.runtime.cluster.bridge import stacked, stacked_columns

    cols = [("id", "int64"), ("a", "float32"), ("b", "float32"), ("s", "string")]
    batch = {
        "id": np.array([1, 2]),
        "a": np.array([1.0, 2.0], "f4"),
        "b": np.array([3.0, 4.0], "f4"),
        "s": np.array([b"x", b"y"], dtype=object),
    }
    [out] = list(stacked(iter([batch]), cols, {"x": ["a", "b"]}))
    assert sorted(out) == ["id", "s", "x"] and out["x"].tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert stacked_columns(cols, {"x": ["a", "b"]}) == {"x": ("float32", 2)}
    for bad, msg in (
        ({"x": ["a", "id"]}, "one numeric type"),
        ({"x": ["a", "zz"]}, "not among"),
        ({"x": ["s"]}, "numeric"),
        ({"x": ["a"], "y": ["a"]}, "twice"),
        ({"id": ["a"]}, "twice"),
    ):
        with pytest.raises(ValueError, match=msg):
            stacked_columns(cols, bad)
