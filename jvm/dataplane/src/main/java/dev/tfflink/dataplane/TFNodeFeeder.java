package dev.tfflink.dataplane;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds one TF node over its Unix socket: rows become typed column batches ({@code R} frames),
 * the end of input an {@code E}; the node's results ({@code O}) come back as
 * {@code (false, jsonArray)} and, at the end, one {@code (true, summary)}.
 *
 * <p>A custom operator rather than a function because it must know when its input ended
 * ({@link BoundedOneInput}) and emit then. Writes happen on the task thread (a slow TF node
 * backpressures the pipeline); a reader thread per connection only queues what the node sends,
 * and the task thread emits it (Flink's output is not thread-safe). A connection that breaks
 * before {@code E} is replaced by the next one (a restarted node) and the frame in flight is
 * sent again whole; after {@code D} the connection is closed and later rows are counted as late ({@link RowCounts}).
 */
public class TFNodeFeeder extends AbstractStreamOperator<Tuple2<Boolean, String>>
        implements OneInputStreamOperator<Row, Tuple2<Boolean, String>>, BoundedOneInput {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(TFNodeFeeder.class);
    /** A partial batch goes out once rows stop coming for this long (a slow stream). */
    private static final long FLUSH_MILLIS = 200;
    private static final Object DONE = new Object();

    private final Config.Feed cfg;
    private final int maxPayload;

    private transient PrivateSocket listener;
    private transient RowBatch batch;
    private transient LinkedBlockingQueue<Object> events;
    private transient Connection conn;
    private transient volatile boolean done; // the node sent D
    private transient boolean ended;
    private transient long sentRows;
    private transient long lateRows;
    private transient int connections;
    private transient long lastRowMillis;
    private transient Counter sentCounter;
    private transient Counter lateCounter;
    private transient LongCounter sentTotal;
    private transient LongCounter lateTotal;
    private transient String where;
    private transient boolean kicked;

    public TFNodeFeeder(Config.Feed cfg) {
        this(cfg, Frames.MAX_FRAME);
    }

    /** With a smaller frame limit (tests of the splitting). */
    TFNodeFeeder(Config.Feed cfg, int maxPayload) {
        this.cfg = cfg;
        this.maxPayload = maxPayload;
    }

    /** One accepted connection and its reader thread. */
    private final class Connection {
        final SocketChannel ch;
        final Thread reader;

        Connection(SocketChannel ch, int n) {
            this.ch = ch;
            this.reader = new Thread(this::read, "tfflink-feeder-reader-" + where + "-" + n);
            reader.setDaemon(true);
        }

        private void read() {
            try {
                while (true) {
                    Frames.Frame f = Frames.read(ch);
                    if (f == null) {
                        break;
                    }
                    if (f.kind() == Frames.RESULTS) {
                        events.put(new String(f.payload(), StandardCharsets.UTF_8));
                    } else if (f.kind() == Frames.DONE) {
                        done = true;
                        events.put(DONE);
                        break; // the node waits for our close
                    } else {
                        throw new IOException("unexpected frame kind '" + (char) f.kind() + "' from the TF node");
                    }
                }
            } catch (IOException e) {
                if (ch.isOpen()) {
                    LOG.warn("{}: connection to the TF node ends: {}", where, e.toString());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                closeQuietly();
                events.add(this); // "this connection ended"
            }
        }

        void closeQuietly() {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        int index = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        where = "worker-" + index;
        events = new LinkedBlockingQueue<>();
        batch = new RowBatch(cfg.columns(), cfg.inColumns(), cfg.batchRows(), maxPayload);
        sentCounter = getMetricGroup().counter("sentRows");
        lateCounter = getMetricGroup().counter("lateRows");
        sentTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.SENT);
        lateTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.LATE);
        listener = PrivateSocket.listen(Path.of(cfg.socketDir()), where + ".sock");
        LOG.info("{}: listening on {}", where, listener.path());
        scheduleFlush();
    }

    @Override
    public void processElement(StreamRecord<Row> element) throws Exception {
        drain();
        if (done) {
            int n = batch.size() + 1; // rows still buffered, and this one
            batch.clear();
            late(n);
            return;
        }
        batch.add(element.getValue());
        lastRowMillis = System.currentTimeMillis();
        if (batch.isFull()) {
            flush();
        }
    }

    @Override
    public void endInput() throws Exception {
        ended = true;
        flush();
        if (!done) {
            send(Frames.empty(Frames.END), 0);
        }
        // Wait for D or EOF (of the connection E went to), emitting results meanwhile.
        while (conn != null) {
            handle(next(200));
        }
        drain();
        if (conn != null) {
            conn.closeQuietly();
        }
        listener.close(); // no more connections: the socket file goes now
        output.collect(new StreamRecord<>(Tuple2.of(true, "{\"sentRows\":" + sentRows + ",\"lateRows\":"
                + lateRows + ",\"connections\":" + connections + "}")));
        LOG.info("{}: input ended; {} rows sent, {} late, {} connection(s)", where, sentRows, lateRows, connections);
    }

    /** Rows that came after the TF node said it wants no more: not sent, counted. */
    private void late(long n) {
        if (n > 0 && lateRows == 0) {
            LOG.warn("{}: the TF node's function returned; later rows are not trained on (counted as {})", where,
                    RowCounts.LATE);
        }
        lateRows += n;
        lateCounter.inc(n);
        lateTotal.add(n);
    }

    private Object next(long millis) throws InterruptedException {
        return events.poll(millis, TimeUnit.MILLISECONDS);
    }

    /** Emits what the node sent so far; notes D and ended connections. */
    private void drain() {
        Object ev;
        while ((ev = events.poll()) != null) {
            handle(ev);
        }
    }

    private void handle(Object ev) {
        if (ev == null) {
            return;
        }
        if (ev instanceof String json) {
            output.collect(new StreamRecord<>(Tuple2.of(false, json)));
        } else if (ev == DONE) {
            LOG.info("{}: the TF node wants no more input; later rows are counted as late", where);
        } else if (ev == conn) {
            conn = null; // broken (replaced at the next send), or finished after E/D
        }
    }

    /** Sends the buffered rows, in frames that fit. */
    private void flush() throws IOException, InterruptedException {
        int from = 0;
        int n = batch.size();
        while (from < n && !done) {
            int to = batch.fit(from);
            send(batch.frame(from, to), to - from);
            from = to;
        }
        if (done && from < n) {
            late(n - from);
        }
        batch.clear();
    }

    /** Writes one whole frame, to a new connection if the current one breaks. */
    private void send(ByteBuffer frame, int rows) throws IOException, InterruptedException {
        while (true) {
            if (done) {
                late(rows);
                return;
            }
            Connection c = connection();
            ByteBuffer b = frame.duplicate();
            try {
                while (b.hasRemaining()) {
                    c.ch.write(b);
                }
                sentRows += rows;
                sentCounter.inc(rows);
                sentTotal.add(rows);
                return;
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedException("interrupted while writing to the TF node");
                }
                if (!done) {
                    LOG.warn("{}: writing to the TF node failed ({}); waiting for it to connect again", where,
                            e.toString());
                }
                c.closeQuietly();
                if (conn == c) {
                    conn = null;
                }
            }
        }
    }

    /** The live connection, accepting (and waiting for) a new one when there is none. */
    private Connection connection() throws IOException, InterruptedException {
        drain();
        if (conn != null && conn.ch.isOpen()) {
            return conn;
        }
        if (!kicked) {
            // The worker's Python operator opens its function (and starts the TF node that will
            // connect here) only once a record reaches it: an empty result list is that record.
            output.collect(new StreamRecord<>(Tuple2.of(false, "[]")));
            kicked = true;
        }
        SocketChannel ch = listener.accept(failedMarker());
        connections++;
        conn = new Connection(ch, connections);
        conn.reader.start();
        LOG.info("{}: TF node connected (connection {})", where, connections);
        return conn;
    }

    /** Written by the worker's Python operator when its node agent failed (docs/dataplane.md). */
    private Path failedMarker() {
        return Path.of(cfg.socketDir(), where + ".failed");
    }

    private void scheduleFlush() {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + FLUSH_MILLIS, t -> onTimer());
    }

    /** On the task thread: emit results; send a partial batch of a slow stream if connected. */
    private void onTimer() throws Exception {
        if (ended) {
            return;
        }
        drain();
        if (batch.size() > 0 && conn != null && conn.ch.isOpen() && !done
                && System.currentTimeMillis() - lastRowMillis >= FLUSH_MILLIS) {
            flush();
        }
        scheduleFlush();
    }

    @Override
    public void close() throws Exception {
        try {
            if (conn != null) {
                conn.closeQuietly();
            }
            if (listener != null) {
                listener.close();
            }
        } finally {
            super.close();
        }
    }
}
