package dev.tfflink.dataplane;

import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * An inner join on equal keys in Flink keyed state: each side's rows wait in a ListState (so
 * they are checkpointed and spill with the state backend, unlike a Java map), and each new row
 * pairs with every stored row of the other side. Rows stay after matching, since a later row
 * of the other side with the same key must pair with them too; a processing-time TTL bounds
 * the state when {@code ttlSeconds > 0}. Output: the left's fields, then the right's fields
 * whose names are not in the left.
 */
public class InnerJoin extends KeyedCoProcessFunction<Object, Row, Row, Row> {
    private static final long serialVersionUID = 1L;

    private final Config.Join cfg;
    /** For each output field after the left's: its position in the right row. */
    private final int[] rightPicks;
    private transient ListState<Row> leftRows;
    private transient ListState<Row> rightRows;

    public InnerJoin(Config.Join cfg) {
        this.cfg = cfg;
        this.rightPicks = cfg.right().stream().filter(c -> Column.indexOf(cfg.left(), c.name()) < 0)
                .mapToInt(c -> Column.indexOf(cfg.right(), c.name())).toArray();
    }

    /** The output schema: left columns, then right columns not in the left. */
    public static List<Column> outputColumns(Config.Join cfg) {
        java.util.ArrayList<Column> out = new java.util.ArrayList<>(cfg.left());
        for (Column c : cfg.right()) {
            if (Column.indexOf(cfg.left(), c.name()) < 0) {
                out.add(c);
            }
        }
        return List.copyOf(out);
    }

    @Override
    public void open(OpenContext openContext) {
        ListStateDescriptor<Row> l = new ListStateDescriptor<>("left", Column.rowType(cfg.left()));
        ListStateDescriptor<Row> r = new ListStateDescriptor<>("right", Column.rowType(cfg.right()));
        if (cfg.ttlSeconds() > 0) {
            StateTtlConfig ttl = StateTtlConfig.newBuilder(Duration.ofSeconds(cfg.ttlSeconds()))
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .build();
            l.enableTimeToLive(ttl);
            r.enableTimeToLive(ttl);
        }
        leftRows = getRuntimeContext().getListState(l);
        rightRows = getRuntimeContext().getListState(r);
    }

    @Override
    public void processElement1(Row left, Context ctx, Collector<Row> out) throws Exception {
        pair(left, true, rightRows, leftRows, out);
    }

    @Override
    public void processElement2(Row right, Context ctx, Collector<Row> out) throws Exception {
        pair(right, false, leftRows, rightRows, out);
    }

    /** Emits {@code row} joined with every stored row of the other side, then stores it. */
    private void pair(Row row, boolean isLeft, ListState<Row> others, ListState<Row> mine, Collector<Row> out)
            throws Exception {
        Iterable<Row> stored = others.get();
        if (stored != null) {
            for (Row other : stored) {
                out.collect(isLeft ? joined(row, other) : joined(other, row));
            }
        }
        mine.add(row);
    }

    private Row joined(Row left, Row right) {
        int nl = left.getArity();
        Row row = Row.withPositions(nl + rightPicks.length);
        for (int i = 0; i < nl; i++) {
            row.setField(i, left.getField(i));
        }
        for (int i = 0; i < rightPicks.length; i++) {
            row.setField(nl + i, right.getField(rightPicks[i]));
        }
        return row;
    }
}
