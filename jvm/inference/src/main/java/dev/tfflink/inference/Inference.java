package dev.tfflink.inference;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
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
     * Writes {@code lines} to {@code path/part-<subtask>.<format>}, committed as a whole once
     * every subtask's input ended ({@link PartFiles}): until then no final name changes, and a
     * failed or cancelled job leaves the previous output as it was.
     */
    public static DataStreamSink<Void> writeFiles(DataStream<String> lines, String path, String format, int parallelism, String slotGroup) {
        ScoreSpec.checkFormat(format);
        SingleOutputStreamOperator<Integer> written = lines
                .transform("output", Types.INT, new PartFiles.Writer(path, format)).setParallelism(parallelism);
        SingleOutputStreamOperator<Void> committed = written
                .transform("commit-output", Types.VOID, new PartFiles.Committer(path, format, parallelism))
                .setParallelism(1).setMaxParallelism(1);
        if (slotGroup != null) {
            written.slotSharingGroup(slotGroup);
            committed.slotSharingGroup(slotGroup);
        }
        DataStreamSink<Void> sink = committed.sinkTo(new DiscardingSink<>()).name("output-committed").setParallelism(1);
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
