package dev.tfflink.dataplane;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Two CSV files -> csvSource x2 -> join -> feed (p=2) into test TF nodes, on a MiniCluster. */
class PipelineTest {
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(3)
                    .build());

    static String chunks(Path file) throws Exception {
        // One chunk per two lines, as the Python client cuts them (byte offset, first line, count).
        byte[] b = Files.readAllBytes(file);
        List<String> out = new ArrayList<>();
        int line = 1;
        int start = 0;
        int count = 0;
        int first = 1;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '\n') {
                if (count == 0) {
                    first = line;
                }
                count++;
                line++;
                if (count == 2) {
                    out.add("[\"" + file + "\"," + start + "," + first + "," + count + "]");
                    start = i + 1;
                    count = 0;
                }
            }
        }
        if (start < b.length) {
            out.add("[\"" + file + "\"," + start + "," + line + "," + (count + 1) + "]");
        } else if (count > 0) {
            out.add("[\"" + file + "\"," + start + "," + first + "," + count + "]");
        }
        return String.join(",", out);
    }

    @Test
    void csvJoinFeed(@TempDir Path tmp) throws Exception {
        Path left = tmp.resolve("left.csv");
        Path right = tmp.resolve("right.csv");
        StringBuilder l = new StringBuilder("id,x,n,name\n");
        StringBuilder r = new StringBuilder("id,label,x\n");
        List<List<Object>> expected = new ArrayList<>();
        long big = 9007199254740993L;
        for (int i = 0; i < 40; i++) {
            long id = i == 6 ? big : i;
            l.append(id).append(',').append(i + 0.25).append(',').append(i).append(",\"n,").append(i).append("\"\n");
            if (i % 4 != 3) { // right rows for 3/4 of the ids, two for multiples of 5
                r.append(id).append(',').append(i * 0.1).append(",99\n");
                expected.add(List.of(id, (float) (i + 0.25), (double) i, "n," + i, i * 0.1));
                if (i % 5 == 0) {
                    r.append(id).append(',').append(-i - 0.5).append(",98\n");
                    expected.add(List.of(id, (float) (i + 0.25), (double) i, "n," + i, -i - 0.5));
                }
            }
        }
        r.append("1000,1.0,1\n\n"); // unmatched, then a blank line
        Files.writeString(left, l);
        Files.writeString(right, r);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(2);
        DataStream<Row> ls = DataPlane.csvSource(env, "{\"name\":\"left\",\"columns\":[[\"id\",\"int64\"],"
                + "[\"x\",\"float32\"],[\"n\",\"int32\"],[\"name\",\"string\"]],\"delimiter\":\",\",\"header\":true,"
                + "\"onError\":\"fail\",\"chunks\":[" + chunks(left) + "]}", 2, "workers");
        DataStream<Row> rs = DataPlane.csvSource(env, "{\"name\":\"right\",\"columns\":[[\"id\",\"int64\"],"
                + "[\"label\",\"float64\"],[\"x\",\"float32\"]],\"delimiter\":\",\",\"header\":true,"
                + "\"onError\":\"fail\",\"chunks\":[" + chunks(right) + "]}", 2, "workers");
        String joinCols = "\"left\":[[\"id\",\"int64\"],[\"x\",\"float32\"],[\"n\",\"int32\"],[\"name\",\"string\"]],"
                + "\"right\":[[\"id\",\"int64\"],[\"label\",\"float64\"],[\"x\",\"float32\"]]";
        DataStream<Row> joined = DataPlane.join(ls, rs, "{\"key\":\"id\"," + joinCols + ",\"ttlSeconds\":600}", 2,
                "workers");
        Path sockets = tmp.resolve("sock");
        DataStream<Tuple2<Boolean, String>> out = DataPlane.feed(joined, "{\"socketDir\":\"" + sockets + "\","
                + "\"inColumns\":[[\"id\",\"int64\"],[\"x\",\"float32\"],[\"n\",\"int32\"],[\"name\",\"string\"],"
                + "[\"label\",\"float64\"]],\"columns\":[[\"id\",\"int64\"],[\"x\",\"float32\"],[\"n\",\"float64\"],"
                + "[\"name\",\"string\"],[\"label\",\"float64\"]],\"batchRows\":4}", 2, "workers");

        List<TestNode> nodes = new ArrayList<>();
        List<CompletableFuture<Void>> served = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            TestNode node = new TestNode(true);
            nodes.add(node);
            Path path = sockets.resolve("worker-" + i + ".sock");
            String result = "[{\"worker\":" + i + "}]";
            served.add(CompletableFuture.runAsync(() -> {
                try (SocketChannel ch = TestNode.connect(path, 60_000)) {
                    node.serve(ch, result);
                    TestNode.clusterStopped(path);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        List<Tuple2<Boolean, String>> results = out.executeAndCollect(100);
        for (CompletableFuture<Void> f : served) {
            f.get(10, TimeUnit.SECONDS);
        }

        List<List<Object>> got = new ArrayList<>();
        nodes.forEach(n -> got.addAll(n.rows));
        Collections.sort(got, (a, b) -> (a.toString()).compareTo(b.toString()));
        Collections.sort(expected, (a, b) -> (a.toString()).compareTo(b.toString()));
        assertEquals(expected, got);
        assertTrue(got.stream().anyMatch(row -> row.get(0).equals(big)));

        List<String> data = new ArrayList<>();
        List<String> summaries = new ArrayList<>();
        for (Tuple2<Boolean, String> t : results) {
            (t.f0 ? summaries : data).add(t.f1);
        }
        Collections.sort(data);
        // Each feeder first emits one empty list (it wakes the worker's Python operator).
        assertEquals(List.of("[]", "[]", "[{\"worker\":0}]", "[{\"worker\":1}]"), data);
        long sent = 0;
        for (String s : summaries) {
            assertTrue(s.matches("\\{\"sentRows\":\\d+,\"lateRows\":0,\"replayedRows\":0,\"connections\":1}"), s);
            sent += Long.parseLong(s.replaceAll(".*\"sentRows\":(\\d+).*", "$1"));
        }
        assertEquals(2, summaries.size());
        assertEquals(expected.size(), sent);
        for (int i = 0; i < 100 && Files.exists(sockets.resolve("worker-0.sock")); i++) {
            Thread.sleep(50); // the collect sink may end before the feeder closed
        }
        assertTrue(Files.notExists(sockets.resolve("worker-0.sock")));
        assertTrue(Files.notExists(sockets.resolve("worker-1.sock")));
    }
}
