package dev.tfflink.inference;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;

import java.util.Arrays;
import java.util.List;

/**
 * Entry points called from PyFlink through py4j: SavedModel scoring of a row stream and the
 * result file sink, so rows of inference mode never pass through Python. Configuration travels
 * as one JSON string (see {@link ScoreSpec}) to keep the py4j calls simple.
 */
public final class Inference {
    private Inference() {}

    /**
     * Scores {@code rows} with the SavedModel of {@code scoreJson}; one output line per row
     * (jsonl or csv, byte-identical to the Python {@code format_record}). The model is loaded
     * once per subtask; a bad spec fails the job naming the spec field.
     *
     * @param slotGroup slot sharing group, or null for the default
     */
    public static DataStream<String> savedModel(DataStream<Row> rows, String scoreJson, int parallelism, String slotGroup) {
        ScoreSpec spec = ScoreSpec.parse(scoreJson);
        checkColumns(rows, spec);
        SingleOutputStreamOperator<String> scored = rows
                .transform("saved-model", Types.STRING, new SavedModelOperator(spec))
                .setParallelism(parallelism);
        if (slotGroup != null) scored.slotSharingGroup(slotGroup);
        return scored;
    }

    /**
     * Writes {@code lines} to {@code path/part-<subtask>.<format>}, each renamed from
     * {@code .inprogress} once its subtask's input ended (the Python {@code FileWriter}).
     */
    public static DataStreamSink<String> writeFiles(DataStream<String> lines, String path, String format, int parallelism, String slotGroup) {
        ScoreSpec.checkFormat(format);
        DataStreamSink<String> sink = lines.sinkTo(new PartFileSink(path, format)).name("output").setParallelism(parallelism);
        if (slotGroup != null) sink.slotSharingGroup(slotGroup);
        return sink;
    }

    /** The spec's columns must be the stream's fields, in order, else rows would be misread. */
    private static void checkColumns(DataStream<Row> rows, ScoreSpec spec) {
        if (rows.getType() instanceof RowTypeInfo) {
            List<String> fields = Arrays.asList(((RowTypeInfo) rows.getType()).getFieldNames());
            if (!fields.equals(spec.columnNames())) {
                throw new IllegalArgumentException("columns: " + spec.columnNames() + " are not the stream's fields " + fields);
            }
        }
    }
}
