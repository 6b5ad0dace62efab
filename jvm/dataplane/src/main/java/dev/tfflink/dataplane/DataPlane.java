package dev.tfflink.dataplane;

import java.util.List;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Row;

/**
 * The data plane's entry points (docs/dataplane.md), called from PyFlink through py4j: static
 * methods taking the configuration as one JSON string each, so the py4j calls stay simple and
 * the configuration is one documented object. A bad configuration fails here, while the job
 * graph is built, with an IllegalArgumentException naming the JSON field.
 */
public final class DataPlane {
    private DataPlane() {}

    /**
     * Typed rows of CSV chunks: a NumberSequenceSource over chunk indexes (p=1), rebalanced to
     * {@code parallelism} {@link CsvChunkReader}s.
     */
    public static DataStream<Row> csvSource(StreamExecutionEnvironment env, String sourceJson, int parallelism,
            String slotGroup) {
        Config.Source src = Config.source(sourceJson);
        checkParallelism(parallelism);
        return env.fromSource(new NumberSequenceSource(0, src.chunks().size() - 1), WatermarkStrategy.noWatermarks(),
                        src.name())
                .setParallelism(1).slotSharingGroup(slotGroup)
                .rebalance()
                .flatMap(new CsvChunkReader(src), Column.rowType(src.columns()))
                .name(src.name() + "-csv").setParallelism(parallelism).slotSharingGroup(slotGroup);
    }

    /** The inner join of two row streams on {@code key}, in keyed state ({@link InnerJoin}). */
    @SuppressWarnings("unchecked")
    public static DataStream<Row> join(DataStream<Row> left, DataStream<Row> right, String joinJson, int parallelism,
            String slotGroup) {
        Config.Join cfg = Config.join(joinJson);
        checkParallelism(parallelism);
        int l = Column.indexOf(cfg.left(), cfg.key());
        int r = Column.indexOf(cfg.right(), cfg.key());
        TypeInformation<Object> keyType = (TypeInformation<Object>) cfg.left().get(l).type().typeInfo;
        return left.connect(right)
                .keyBy(new FieldKey(l, cfg.key()), new FieldKey(r, cfg.key()), keyType)
                .process(new InnerJoin(cfg), Column.rowType(InnerJoin.outputColumns(cfg)))
                .name("join-on-" + cfg.key()).setParallelism(parallelism).slotSharingGroup(slotGroup);
    }

    /**
     * Rows to the TF nodes, one {@link TFNodeFeeder} per node: forward from {@code rows} when
     * the parallelism is the same (the usual case: the feeder shares a slot with its input),
     * else after a rebalance.
     */
    public static DataStream<Tuple2<Boolean, String>> feed(DataStream<Row> rows, String feedJson, int parallelism,
            String slotGroup) {
        Config.Feed cfg = Config.feed(feedJson);
        checkParallelism(parallelism);
        DataStream<Row> in = rows.getParallelism() == parallelism ? rows.forward() : rows.rebalance();
        return in.transform("feed-tf-nodes", Types.TUPLE(Types.BOOLEAN, Types.STRING), new TFNodeFeeder(cfg))
                .setParallelism(parallelism).slotSharingGroup(slotGroup);
    }

    /** The output columns of {@link #join} for {@code joinJson} (left's, then the right's new ones). */
    public static List<Column> joinColumns(String joinJson) {
        return InnerJoin.outputColumns(Config.join(joinJson));
    }

    private static void checkParallelism(int p) {
        if (p < 1) {
            throw new IllegalArgumentException("parallelism: must be at least 1, got " + p);
        }
    }
}
