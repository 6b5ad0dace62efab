package dev.tfflink.inference;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Scores rows with a SavedModel, one session call per batch; the JVM twin of the Python
 * {@code SavedModelFunction}. A plain operator (not keyed) because the batch is per subtask:
 * it scores when {@code batchSize} rows are buffered, when {@code flushMillis} passed since the
 * first row of a partial batch (a processing-time timer, so a slow stream still gets results),
 * at the end of input, and before a checkpoint barrier (so no buffered row is lost on restore).
 */
final class SavedModelOperator extends AbstractStreamOperator<String>
        implements OneInputStreamOperator<Row, String>, BoundedOneInput, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    private final ScoreSpec spec;
    private transient SavedModelScorer scorer;
    private transient StreamRecord<String> reuse;
    private transient boolean timerPending;

    SavedModelOperator(ScoreSpec spec) {
        this.spec = spec;
    }

    @Override
    public void open() throws Exception {
        super.open();
        scorer = new SavedModelScorer(spec); // once per subtask: loading a model is the costly part
        reuse = new StreamRecord<>(null);
    }

    @Override
    public void processElement(StreamRecord<Row> element) throws Exception {
        if (scorer.add(element.getValue())) {
            flush();
        } else if (!timerPending) {
            timerPending = true;
            long now = getProcessingTimeService().getCurrentProcessingTime();
            getProcessingTimeService().registerTimer(now + spec.flushMillis, this);
        }
    }

    @Override
    public void onProcessingTime(long time) {
        timerPending = false;
        flush();
    }

    @Override
    public void endInput() {
        flush();
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();
    }

    private void flush() {
        scorer.flush(line -> output.collect(reuse.replace(line)));
    }

    @Override
    public void close() throws Exception {
        try {
            if (scorer != null) scorer.close(); // the bundle's graph and session are native memory
            scorer = null;
        } finally {
            super.close();
        }
    }
}
