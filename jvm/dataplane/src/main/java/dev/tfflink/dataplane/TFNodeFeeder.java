package dev.tfflink.dataplane;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
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
 * and the task thread acts on it (Flink's output is not thread-safe).
 *
 * <p>Nothing sent is lost when the TF node restarts (docs/dataplane.md, "Exactly-once input"):
 * every batch stays in a replay log until the node acknowledges it, and a new connection gets
 * the log again. A node that restores and saves at the feeder's checkpoints (hello {@code 1})
 * acknowledges a checkpoint id once its TF checkpoint of that id is written, so it restores
 * that checkpoint and gets exactly the rows after it: each row is in the lineage of the final
 * model once. Any other node acknowledges batches as it takes them (at-least-once: rows it
 * never read are sent again). After {@code D} the connection is closed and later rows are
 * counted as late ({@link RowCounts}).
 */
public class TFNodeFeeder extends AbstractStreamOperator<Tuple2<Boolean, String>>
        implements OneInputStreamOperator<Row, Tuple2<Boolean, String>>, BoundedOneInput {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(TFNodeFeeder.class);
    /** A partial batch goes out once rows stop coming for this long (a slow stream). */
    private static final long FLUSH_MILLIS = 200;
    /** The replay log's limit: past it the node is not saving, and memory would run out. */
    static final long MAX_LOG_BYTES = 256L << 20;
    private static final Object DONE = new Object();

    private final Config.Feed cfg;
    private final int maxPayload;

    private transient PrivateSocket listener;
    private transient RowBatch batch;
    private transient LinkedBlockingQueue<Object> events;
    private transient Connection conn;
    private transient Connection last; // the newest connection, live or not
    private transient volatile boolean done; // the node sent D
    private transient boolean ended;
    private transient boolean stopped; // the worker operator wrote its stopped marker
    private transient ArrayDeque<Sent> log; // batches the node has not acknowledged, in send order
    private transient long logBytes;
    private transient long acked; // the last checkpoint the node saved (0: none)
    private transient long nextCheckpoint;
    private transient long rowsSinceCheckpoint;
    private transient long sentRows;
    private transient long lateRows;
    private transient long replayedRows;
    private transient int connections;
    private transient long lastRowMillis;
    private transient Counter sentCounter;
    private transient Counter lateCounter;
    private transient LongCounter sentTotal;
    private transient LongCounter lateTotal;
    private transient LongCounter replayedTotal;
    private transient LongCounter exactlyOnceTotal;
    private transient LongCounter atLeastOnceTotal;
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

    /** One row batch: its frame (a copy), rows, the checkpoint it ends (0: none), written yet. */
    private static final class Sent {
        final ByteBuffer frame;
        final int rows;
        final long checkpoint;
        boolean written;

        Sent(ByteBuffer frame, int rows, long checkpoint) {
            this.frame = frame;
            this.rows = rows;
            this.checkpoint = checkpoint;
        }
    }

    /** An A frame of a connection. */
    private record Ack(Connection from, long value) {}

    /** A D frame that says how many batches the node took from this connection. */
    private record Done(Connection from, long taken) {}

    /** One accepted connection and its reader thread. */
    private final class Connection {
        final SocketChannel ch;
        final Thread reader;
        final boolean exactlyOnce;
        long taken; // at-least-once: batches the node acknowledged on this connection
        long written; // batches written to it
        boolean endSent;

        Connection(SocketChannel ch, int n, boolean exactlyOnce) {
            this.ch = ch;
            this.exactlyOnce = exactlyOnce;
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
                    } else if (f.kind() == Frames.ACK) {
                        events.put(new Ack(this, Frames.longOf(f)));
                    } else if (f.kind() == Frames.DONE) {
                        done = true;
                        events.put(f.payload().length == 0 ? DONE : new Done(this, Frames.longOf(f)));
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

        void write(ByteBuffer frame) throws IOException {
            ByteBuffer b = frame.duplicate();
            while (b.hasRemaining()) {
                ch.write(b);
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
        log = new ArrayDeque<>();
        nextCheckpoint = 1;
        batch = new RowBatch(cfg.columns(), cfg.inColumns(), cfg.batchRows(), maxPayload);
        sentCounter = getMetricGroup().counter("sentRows");
        lateCounter = getMetricGroup().counter("lateRows");
        sentTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.SENT);
        lateTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.LATE);
        replayedTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.REPLAYED);
        exactlyOnceTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.EXACTLY_ONCE);
        atLeastOnceTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.AT_LEAST_ONCE);
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
        serveUntilDone();
        output.collect(new StreamRecord<>(Tuple2.of(true, "{\"sentRows\":" + sentRows + ",\"lateRows\":"
                + lateRows + ",\"replayedRows\":" + replayedRows + ",\"connections\":" + connections + "}")));
        LOG.info("{}: input ended; {} rows sent ({} replayed), {} late, {} connection(s)", where, sentRows,
                replayedRows, lateRows, connections);
        // The TF cluster restarts whole: a node restarted after this one finished gets its
        // checkpoint, the batches after it and E again, until the worker operator says the
        // cluster stopped (docs/dataplane.md).
        while (!stopped) {
            done = false;
            serveUntilDone();
        }
        listener.close(); // no more connections: the socket file goes now
    }

    /**
     * After the end of input: E to the node, results emitted, until it sends D. A connection
     * that ends before D is a TF node that died; its successor gets the log and E again.
     */
    private void serveUntilDone() throws IOException, InterruptedException {
        while (!done) {
            Connection c = connection();
            if (c == null) {
                break;
            }
            if (!c.endSent) {
                try {
                    c.write(Frames.empty(Frames.END));
                    c.endSent = true;
                } catch (IOException e) {
                    lost(c, e);
                    continue;
                }
            }
            handle(next(200));
        }
        drain();
        if (conn != null) {
            conn.closeQuietly();
            conn = null;
        }
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

    /** Emits what the node sent so far; applies acknowledgements; notes D and ended connections. */
    private void drain() throws IOException {
        Object ev;
        while ((ev = events.poll()) != null) {
            handle(ev);
        }
    }

    private void handle(Object ev) throws IOException {
        if (ev == null) {
            return;
        }
        if (ev instanceof String json) {
            output.collect(new StreamRecord<>(Tuple2.of(false, json)));
        } else if (ev instanceof Ack a) {
            // A saved checkpoint stays saved when its node dies; a count of batches taken means
            // something until the next connection gets the log again.
            if (a.from() == last || a.from().exactlyOnce) {
                acknowledge(a.from(), a.value());
            }
        } else if (ev instanceof Done d) {
            // Batches written to the node after the ones it took: the newest entries of the log.
            long untaken = Math.max(0, d.from().written - d.taken());
            long rows = 0;
            var newest = log.descendingIterator();
            for (long i = 0; i < untaken && newest.hasNext(); i++) {
                rows += newest.next().rows;
            }
            LOG.info("{}: the TF node wants no more input; {} rows it never took and later rows are counted "
                    + "as late", where, rows);
            late(rows);
        } else if (ev == DONE) {
            LOG.info("{}: the TF node wants no more input; later rows are counted as late", where);
        } else if (ev == conn) {
            conn = null; // broken (replaced at the next send), or finished after D
        }
    }

    /** Forgets the batches an acknowledgement covers; a bogus one ends the connection. */
    private void acknowledge(Connection c, long value) throws IOException {
        if (c.exactlyOnce) {
            if (value <= acked) {
                return; // a repeated save of a checkpoint already acknowledged
            }
            boolean known = log.stream().anyMatch(s -> s.checkpoint == value);
            if (!known) {
                c.closeQuietly();
                throw new IOException(where + ": the TF node acknowledged checkpoint " + value + ", never requested");
            }
            while (true) {
                Sent s = forgetFirst();
                if (s.checkpoint == value) {
                    break;
                }
            }
            acked = value;
        } else {
            long more = value - c.taken;
            if (more < 0 || more > log.size()) {
                c.closeQuietly();
                throw new IOException(where + ": the TF node acknowledged " + value + " batches; "
                        + (c.taken + log.size()) + " were sent");
            }
            for (long i = 0; i < more; i++) {
                forgetFirst();
            }
            c.taken = value;
        }
    }

    private Sent forgetFirst() {
        Sent s = log.removeFirst();
        logBytes -= s.frame.capacity();
        return s;
    }

    /** Sends the buffered rows, in frames that fit; the last ends a checkpoint when one is due. */
    private void flush() throws IOException, InterruptedException {
        int from = 0;
        int n = batch.size();
        while (from < n && !done) {
            int to = batch.fit(from);
            long checkpoint = 0;
            rowsSinceCheckpoint += to - from;
            if (to == n && cfg.checkpointRows() > 0 && rowsSinceCheckpoint >= cfg.checkpointRows()) {
                checkpoint = nextCheckpoint++;
                rowsSinceCheckpoint = 0;
            }
            send(batch.frame(from, to), to - from, checkpoint);
            from = to;
        }
        if (done && from < n) {
            late(n - from);
        }
        batch.clear();
    }

    /** Logs one batch and writes it; a connection that breaks is replaced (and gets the log). */
    private void send(ByteBuffer frame, int rows, long checkpoint) throws IOException, InterruptedException {
        drain();
        if (done) {
            late(rows);
            return;
        }
        ByteBuffer copy = ByteBuffer.allocate(frame.remaining()).put(frame.duplicate()).flip();
        if (logBytes + copy.capacity() > MAX_LOG_BYTES) {
            throw new FatalJobError(where + ": the TF node has not acknowledged " + log.size() + " batches ("
                    + logBytes + " bytes) since checkpoint " + acked + "; a node that calls context.restore() must "
                    + "call context.save() whenever context.checkpoint_requested() is true (or lower "
                    + "spec.input.checkpointRows: at most " + (MAX_LOG_BYTES >> 20) + " MiB of rows between checkpoints)");
        }
        Sent s = new Sent(copy, rows, checkpoint);
        log.addLast(s);
        logBytes += copy.capacity();
        if (conn != null && conn.ch.isOpen()) {
            try {
                write(conn, s);
                return;
            } catch (IOException e) {
                lost(conn, e);
            }
        }
        if (connection() == null) { // else a new TF node: it has been sent the whole log, s included
            late(rows);
        }
    }

    private void write(Connection c, Sent s) throws IOException {
        if (s.checkpoint > 0) {
            c.write(Frames.ofLong(Frames.CHECKPOINT, s.checkpoint));
        }
        c.write(s.frame);
        c.written++;
        s.written = true;
        sentRows += s.rows;
        sentCounter.inc(s.rows);
        sentTotal.add(s.rows);
    }

    private void lost(Connection c, IOException e) throws InterruptedException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedException("interrupted while writing to the TF node");
        }
        if (!done) {
            LOG.warn("{}: writing to the TF node failed ({}); waiting for it to connect again", where, e.toString());
        }
        // The node's last words (a checkpoint it saved) may still be unread: let the reader reach
        // the end of the stream before closing, or closing would discard them.
        c.reader.join(2000);
        c.closeQuietly();
        c.reader.join(1000);
        if (conn == c) {
            conn = null;
        }
    }

    /**
     * The live connection; when there is none, the next TF node to connect: its hello read,
     * then the checkpoint to restore (S) and every unacknowledged batch sent to it. Its reader
     * runs from the start, so results the node writes meanwhile never block the replay. Null
     * once the node sent D (it wants nothing more) or the cluster stopped.
     */
    private Connection connection() throws IOException, InterruptedException {
        while (true) {
            drain();
            if (done) {
                return null;
            }
            if (conn != null && conn.ch.isOpen()) {
                return conn;
            }
            if (!kicked) {
                // The worker's Python operator opens its function (and starts the TF node that will
                // connect here) only once a record reaches it: an empty result list is that record.
                output.collect(new StreamRecord<>(Tuple2.of(false, "[]")));
                kicked = true;
            }
            SocketChannel ch = listener.accept(failedMarker(), marker("stopped"));
            if (ch == null) {
                stopped = true;
                return null;
            }
            connections++;
            Connection c;
            try {
                Frames.Frame hello = Frames.read(ch);
                if (hello == null || hello.kind() != Frames.HELLO || hello.payload().length != 1) {
                    throw new IOException("the TF node's first frame is not a hello (H)");
                }
                c = new Connection(ch, connections, hello.payload()[0] == 1);
            } catch (IOException e) {
                LOG.warn("{}: refused a TF node connection: {}", where, e.toString());
                ch.close();
                continue;
            }
            conn = c;
            last = c;
            c.reader.start();
            (c.exactlyOnce ? exactlyOnceTotal : atLeastOnceTotal).add(1);
            LOG.info("{}: TF node connected (connection {}, {}, restores checkpoint {}, {} batches sent again)", where,
                    connections, c.exactlyOnce ? "exactly-once" : "at-least-once", c.exactlyOnce ? acked : 0,
                    log.size());
            try {
                c.write(Frames.ofLong(Frames.START, c.exactlyOnce ? acked : 0));
                for (Sent s : log) {
                    if (s.written) {
                        replayedRows += s.rows;
                        replayedTotal.add(s.rows);
                    }
                    write(c, s);
                }
            } catch (IOException e) {
                lost(c, e);
            }
        }
    }

    /** Written by the worker's Python operator when its node agent failed (docs/dataplane.md). */
    private Path failedMarker() {
        return marker("failed");
    }

    /** {@code <socketDir>/worker-<i>.<what>}: failed (the reason), stopped (the cluster stopped). */
    private Path marker(String what) {
        return Path.of(cfg.socketDir(), where + "." + what);
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
