"""The row counts a run reports by reason, and the input guarantee they show."""

from __future__ import annotations

from tfflink.lifecycle.rows import input_guarantee, row_counts, rows_line, rows_status
from tfflink.spec.status import RowsStatus


def test_counts_by_reason_and_the_guarantee_they_show() -> None:
    acc = {"rows.sent": 900, "rows.late": 40, "rows.malformed": 3, "connections.exactlyOnce": 2, "other": 7}
    assert row_counts(acc) == {"late": 40, "malformed": 3, "sent": 900}
    assert input_guarantee(acc) == "exactly-once"
    assert (
        rows_line(acc)
        == "rows: 900 sent, 40 late (after the TF function returned), 3 malformed (skipped); input exactly-once"
    )
    # One node that does not save at the checkpoints makes the whole input at-least-once.
    assert input_guarantee({**acc, "connections.atLeastOnce": 1}) == "at-least-once"
    assert input_guarantee({"rows.sent": 5}) is None
    assert rows_line({}) == ""


def test_the_status_shows_the_known_counts_and_the_guarantee() -> None:
    acc = {"rows.sent": 900, "rows.replayed": 12, "rows.future": 4, "connections.atLeastOnce": 1}
    st = rows_status(acc)
    assert st == RowsStatus(sent=900, replayed=12, input_guarantee="at-least-once")
    assert st is not None and st.model_dump(by_alias=True) == {
        "sent": 900,
        "replayed": 12,
        "late": 0,
        "malformed": 0,
        "inputGuarantee": "at-least-once",
    }
    assert rows_status({"numRecordsIn": 5}) is None  # no JVM-fed stream: no rows in the status
