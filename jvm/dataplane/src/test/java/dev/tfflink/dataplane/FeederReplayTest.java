package dev.tfflink.dataplane;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.legacy.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TF node that dies mid-stream (its connection closed without D) and its successor, on a
 * MiniCluster: with exactly-once the successor restores the last acknowledged checkpoint and
 * gets exactly the rows after it; with at-least-once it gets every batch the first did not
 * acknowledge taking. Stand-in TF nodes: the checkpoint is the list of ids trained so far.
 */
class FeederReplayTest {
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2)
                    .build());

    static final int ROWS = 3000;

    /**
     * A stand-in TF node: trains (records) ids and saves at barriers; exactly-once, it dies three
     * batches after saving checkpoint {@code dieAfter}; at-least-once, after taking {@code dieAfter}
     * batches, the last two never acknowledged.
     */
    static final class Node {
        final boolean exactlyOnce;
        final int dieAfter;
        int rowsAcked;
        int batchesSinceDeath = -1;
        boolean bogusAck; // acknowledges a checkpoint nobody asked for
        final Map<Long, List<Long>> checkpoints;
        final List<Long> trained = new ArrayList<>();
        final List<Long> received = new ArrayList<>();
        long restored;
        int batches;

        Node(boolean exactlyOnce, int dieAfter, Map<Long, List<Long>> checkpoints) {
            this.exactlyOnce = exactlyOnce;
            this.dieAfter = dieAfter;
            this.checkpoints = checkpoints;
        }

        /** Serves one connection; true when it ended with D (not killed). */
        boolean serve(SocketChannel ch) throws IOException {
            restored = TestNode.hello(ch, exactlyOnce);
            if (bogusAck) {
                TestNode.write(ch, Frames.ofLong(Frames.ACK, 99));
            }
            if (restored > 0) {
                trained.addAll(checkpoints.get(restored));
            }
            long barrier = 0;
            TestNode decoder = new TestNode(true);
            for (Frames.Frame f = TestNode.untilEnd(ch); f != null; f = TestNode.untilEnd(ch)) {
                if (f.kind() == Frames.CHECKPOINT) {
                    barrier = Frames.longOf(f);
                    continue;
                }
                decoder.rows.clear();
                decoder.decode(f.payload());
                decoder.rows.forEach(r -> received.add((Long) r.get(0)));
                decoder.rows.forEach(r -> trained.add((Long) r.get(0)));
                batches++;
                if (exactlyOnce && barrier > 0) {
                    checkpoints.put(barrier, List.copyOf(trained)); // "the TF save", then the ack
                    TestNode.write(ch, Frames.ofLong(Frames.ACK, barrier));
                    if (barrier == dieAfter) {
                        batchesSinceDeath = 0;
                    }
                    barrier = 0;
                } else if (!exactlyOnce && batches <= dieAfter - 2) {
                    TestNode.write(ch, Frames.ofLong(Frames.ACK, batches)); // the last two taken, never acked
                    rowsAcked = received.size();
                }
                boolean killed = exactlyOnce ? batchesSinceDeath >= 0 && batchesSinceDeath++ == 3 : batches == dieAfter;
                if (killed) {
                    ch.close(); // no D
                    return false;
                }
            }
            TestNode.write(ch, Frames.empty(Frames.DONE));
            Frames.read(ch);
            ch.close();
            return true;
        }
    }

    static JobExecutionResult run(Path sockets, List<Node> nodes) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        DataStream<Row> rows = env.fromSequence(0, ROWS - 1).map(Row::of)
                .returns(Types.ROW_NAMED(new String[] {"id"}, Types.LONG));
        DataPlane.feed(rows, "{\"socketDir\":\"" + sockets + "\",\"inColumns\":[[\"id\",\"int64\"]],"
                + "\"columns\":[[\"id\",\"int64\"]],\"batchRows\":50,\"checkpointRows\":200}", 1, "default")
                .addSink(new DiscardingSink<>());
        Path path = sockets.resolve("worker-0.sock");
        CompletableFuture<Void> served = CompletableFuture.runAsync(() -> {
            try {
                for (Node n : nodes) {
                    try (SocketChannel ch = TestNode.connect(path, 60_000)) {
                        n.serve(ch);
                    }
                }
                TestNode.clusterStopped(path);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        JobExecutionResult result = env.execute();
        served.get(30, TimeUnit.SECONDS);
        return result;
    }

    static List<Long> all() {
        return LongStream.range(0, ROWS).boxed().toList();
    }

    @Test
    void aRestartedNodeRestoresTheLastSavedCheckpointAndGetsExactlyTheRowsAfterIt(@TempDir Path tmp)
            throws Exception {
        Map<Long, List<Long>> saved = new HashMap<>();
        Node first = new Node(true, 4, saved); // a checkpoint every 200 rows; dies 3 batches after the 4th
        Node second = new Node(true, Integer.MAX_VALUE, saved);
        JobExecutionResult r = run(tmp.resolve("s"), List.of(first, second));

        assertEquals(4, second.restored);
        int upTo4 = saved.get(4L).size();
        assertTrue(upTo4 >= 800 && first.received.size() > upTo4, first.received.size() + " " + upTo4);
        assertEquals(ROWS, second.trained.size());
        assertEquals(all(), second.trained); // the final model's lineage: each id once, in order
        int again = first.received.size() - upTo4;
        assertEquals(first.received.subList(upTo4, upTo4 + again), second.received.subList(0, again)); // replayed
        long replayed = r.getAccumulatorResult(RowCounts.REPLAYED);
        assertTrue(replayed >= again, "replayed " + replayed); // and what sat in the socket's buffers
        assertEquals((long) ROWS, (long) r.getAccumulatorResult(RowCounts.SENT) - replayed);
        assertEquals(2, (long) r.getAccumulatorResult(RowCounts.EXACTLY_ONCE));
        assertEquals(0L, (long) r.getAccumulatorResult(RowCounts.LATE));
    }

    @Test
    void aNodeRestartedAfterItFinishedGetsItsCheckpointTheRowsAfterItAndTheEndAgain(@TempDir Path tmp)
            throws Exception {
        Map<Long, List<Long>> saved = new HashMap<>();
        Node first = new Node(true, Integer.MAX_VALUE, saved); // trains everything, sends D
        Node second = new Node(true, Integer.MAX_VALUE, saved); // the whole TF cluster restarted
        run(tmp.resolve("s"), List.of(first, second));

        assertEquals(all(), first.trained);
        long last = saved.keySet().stream().mapToLong(Long::longValue).max().orElseThrow();
        assertEquals(last, second.restored);
        assertEquals(all(), second.trained);
        assertEquals(ROWS - saved.get(last).size(), second.received.size());
    }

    @Test
    void anAcknowledgementOfACheckpointNeverRequestedFailsTheJobNamingIt(@TempDir Path tmp) {
        Node liar = new Node(true, Integer.MAX_VALUE, new HashMap<>());
        liar.bogusAck = true;
        Exception e = assertThrows(Exception.class, () -> run(tmp.resolve("s"), List.of(liar)));
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        assertEquals("worker-0: the TF node acknowledged checkpoint 99, never requested", root.getMessage());
    }

    @Test
    void atLeastOnceSendsEveryBatchTheDeadNodeDidNotTake(@TempDir Path tmp) throws Exception {
        Node first = new Node(false, 10, new HashMap<>()); // took 10 batches, acknowledged 8
        Node second = new Node(false, Integer.MAX_VALUE, new HashMap<>());
        JobExecutionResult r = run(tmp.resolve("s"), List.of(first, second));

        assertEquals(0, second.restored);
        int acked = first.rowsAcked;
        assertTrue(acked > 0 && first.received.size() > acked, first.received.size() + " " + acked);
        assertEquals((long) acked, second.received.get(0));
        assertEquals(ROWS - acked, second.received.size());
        assertEquals(all().subList(acked, ROWS), second.received);
        long replayed = r.getAccumulatorResult(RowCounts.REPLAYED);
        assertTrue(replayed >= first.received.size() - acked, "replayed " + replayed);
        assertEquals((long) ROWS, (long) r.getAccumulatorResult(RowCounts.SENT) - replayed);
        assertEquals(2, (long) r.getAccumulatorResult(RowCounts.AT_LEAST_ONCE));
    }
}
