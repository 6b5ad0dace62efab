"""A run's row counts by reason, and the input guarantee they show.

The JVM data plane counts rows in Flink accumulators (``dev.tfflink.dataplane.RowCounts``):
``rows.<reason>`` (sent, late, malformed, replayed) and ``connections.<guarantee>`` (TF node
connections that saved at the feeder's checkpoints, or did not). Both backends read them from
Flink's REST API and report them the same way, so a skipped or late row is never silent.
"""

from __future__ import annotations

from ..spec.status import RowsStatus

ROWS, CONNECTIONS = "rows.", "connections."
EXACTLY_ONCE, AT_LEAST_ONCE = "exactly-once", "at-least-once"


def row_counts(accumulators: dict[str, int]) -> dict[str, int]:
    """reason -> rows, from a job's accumulators (others ignored)."""
    return {k[len(ROWS) :]: v for k, v in sorted(accumulators.items()) if k.startswith(ROWS)}


def input_guarantee(accumulators: dict[str, int]) -> str | None:
    """'exactly-once' when every TF node connection restored and saved at the feeder's
    checkpoints, 'at-least-once' when one did not, None without a JVM-fed stream."""
    if accumulators.get(CONNECTIONS + "atLeastOnce", 0) > 0:
        return AT_LEAST_ONCE
    if accumulators.get(CONNECTIONS + "exactlyOnce", 0) > 0:
        return EXACTLY_ONCE
    return None


def rows_line(accumulators: dict[str, int]) -> str:
    """One line for the terminal, e.g. ``rows: 50000 sent, 3 malformed (skipped); exactly-once``."""
    counts = row_counts(accumulators)
    return "rows: " + counts_text(counts, input_guarantee(accumulators)) if counts else ""


def counts_text(counts: dict[str, int], guarantee: str | None) -> str:
    """``50000 sent, 3 malformed (skipped); input exactly-once``: the CLI's words for both backends."""
    order = ["sent", "replayed", "late", "malformed"]
    notes = {"late": " (after the TF function returned)", "malformed": " (skipped)"}
    parts = [f"{counts[k]} {k}{notes.get(k, '')}" for k in order if counts.get(k)]
    parts += [f"{v} {k}" for k, v in counts.items() if k not in order and v]
    return (", ".join(parts) or "none") + (f"; input {guarantee}" if guarantee else "")


def rows_status(accumulators: dict[str, int]) -> RowsStatus | None:
    """The counts as the TFFlinkJob status shows them; None without a JVM-fed stream."""
    counts = row_counts(accumulators)
    if not counts:
        return None
    known = {k: v for k, v in counts.items() if k in RowsStatus.model_fields and v >= 0}
    return RowsStatus.model_validate({**known, "input_guarantee": input_guarantee(accumulators)})
