"""A run's row counts by reason, and the input guarantee they show.

The JVM data plane counts rows in Flink accumulators (``dev.tfflink.dataplane.RowCounts``):
``rows.<reason>`` (sent, late, malformed, replayed) and ``connections.<guarantee>`` (TF node
connections that saved at the feeder's checkpoints, or did not). Both backends read them from
Flink's REST API and report them the same way, so a skipped or late row is never silent.
"""

from __future__ import annotations

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
    if not counts:
        return ""
    order = ["sent", "replayed", "late", "malformed"]
    notes = {"late": " (after the TF function returned)", "malformed": " (skipped)"}
    parts = [f"{counts[k]} {k}{notes.get(k, '')}" for k in order if counts.get(k)]
    parts += [f"{v} {k}" for k, v in counts.items() if k not in order and v]
    guarantee = input_guarantee(accumulators)
    return "rows: " + (", ".join(parts) or "none") + (f"; input {guarantee}" if guarantee else "")
