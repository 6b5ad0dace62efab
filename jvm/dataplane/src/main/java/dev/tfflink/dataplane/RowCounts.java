package dev.tfflink.dataplane;

import org.apache.flink.api.common.accumulators.Accumulator;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.RuntimeContext;

/**
 * The names of the job-wide row counts (Flink accumulators, summed over every subtask): what
 * {@code tfflink run} reads from Flink's REST API at the end of a job and prints by reason, so
 * no row is lost or skipped without a number saying so (docs/dataplane.md, "Row counts").
 */
public final class RowCounts {
    /** Rows written to a TF node (a replayed row counts again). */
    public static final String SENT = "rows.sent";
    /** Rows that arrived after the TF node's function returned (it read no more). */
    public static final String LATE = "rows.late";
    /** Rows skipped by {@code onError: skip}: unparsable, wrong column count, oversize field. */
    public static final String MALFORMED = "rows.malformed";
    /** Rows sent again to a restarted TF node (after its last saved checkpoint). */
    public static final String REPLAYED = "rows.replayed";
    /** TF node connections that restore and save at the feeder's checkpoints (exactly-once). */
    public static final String EXACTLY_ONCE = "connections.exactlyOnce";
    /** TF node connections that do not (at-least-once: unread rows are replayed, trained ones not). */
    public static final String AT_LEAST_ONCE = "connections.atLeastOnce";

    private RowCounts() {}

    /** This subtask's counter {@code name}, registered once (a second call returns the same one). */
    public static LongCounter accumulator(RuntimeContext ctx, String name) {
        Accumulator<Long, Long> a = ctx.getAccumulator(name);
        if (a instanceof LongCounter c) {
            return c;
        }
        LongCounter c = new LongCounter();
        ctx.addAccumulator(name, c);
        return c;
    }
}
