package dev.tfflink.dataplane;

import java.io.BufferedWriter;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Row;

/**
 * Not a test: {@code main(rows, parallelism)} measures csvSource -> feed for 100 float32
 * columns into clients that only count rows, and the CSV parser alone; prints rows/s.
 */
public final class Throughput {
    public static void main(String[] args) throws Exception {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        int p = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        int cols = 100;
        Path tmp = Files.createTempDirectory("tfflink-throughput");
        Path csv = tmp.resolve("data.csv");
        Random r = new Random(1);
        List<String> chunks = new ArrayList<>();
        StringBuilder columns = new StringBuilder();
        try (BufferedWriter w = Files.newBufferedWriter(csv)) {
            long offset = 0;
            long chunkStart = 0;
            int inChunk = 0;
            for (int i = 0; i < rows; i++) {
                StringBuilder line = new StringBuilder(cols * 10);
                for (int c = 0; c < cols; c++) {
                    if (c > 0) {
                        line.append(',');
                    }
                    line.append((float) r.nextGaussian());
                }
                line.append('\n');
                w.write(line.toString());
                offset += line.length();
                if (++inChunk == 2000 || i == rows - 1) {
                    chunks.add("[\"" + csv + "\"," + chunkStart + "," + (i - inChunk + 2) + "," + inChunk + "]");
                    chunkStart = offset;
                    inChunk = 0;
                }
            }
        }
        for (int c = 0; c < cols; c++) {
            columns.append(c > 0 ? "," : "").append("[\"c").append(c).append("\",\"float32\"]");
        }
        System.out.printf("file: %d rows, %d MB, %d chunks%n", rows, Files.size(csv) >> 20, chunks.size());

        // The parser alone, one thread, on the file's text.
        char[] text = Files.readString(csv).toCharArray();
        Config.Source src = Config.source("{\"name\":\"t\",\"columns\":[" + columns + "],\"chunks\":["
                + String.join(",", chunks) + "]}");
        for (int rep = 0; rep < 3; rep++) {
            long[] n = {0};
            var mx = java.lang.management.ManagementFactory.getThreadMXBean();
            long c0 = mx.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            new CsvChunkReader(src).readChunk(text, text.length, new Config.Chunk("x", 0, 1, rows),
                    new org.apache.flink.util.Collector<Row>() {
                        public void collect(Row row) {
                            n[0]++;
                        }

                        public void close() {}
                    });
            double s = (System.nanoTime() - t0) / 1e9;
            double cpu = (mx.getCurrentThreadCpuTime() - c0) / 1e9;
            System.out.printf("parser alone: %d rows in %.2f s = %.0f rows/s (%.2f s CPU = %.0f rows per CPU-second)%n",
                    n[0], s, n[0] / s, cpu, n[0] / cpu);
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(p);
        Path sockets = tmp.resolve("sock");
        var rowsStream = DataPlane.csvSource(env, "{\"name\":\"t\",\"columns\":[" + columns + "],\"chunks\":["
                + String.join(",", chunks) + "]}", p, "w");
        var out = DataPlane.feed(rowsStream, "{\"socketDir\":\"" + sockets + "\",\"inColumns\":[" + columns
                + "],\"columns\":[" + columns + "],\"batchRows\":1024}", p, "w");
        List<TestNode> nodes = new ArrayList<>();
        long[] firstFrame = {Long.MAX_VALUE};
        List<CompletableFuture<Void>> served = new ArrayList<>();
        for (int i = 0; i < p; i++) {
            TestNode node = new TestNode(false);
            nodes.add(node);
            Path path = sockets.resolve("worker-" + i + ".sock");
            served.add(CompletableFuture.runAsync(() -> {
                try (SocketChannel ch = TestNode.connect(path, 120_000)) {
                    synchronized (firstFrame) {
                        firstFrame[0] = Math.min(firstFrame[0], System.nanoTime());
                    }
                    node.serve(ch, "[]");
                    TestNode.clusterStopped(path);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        long t0 = System.nanoTime();
        var results = out.executeAndCollect(10 + p);
        long t1 = System.nanoTime();
        for (CompletableFuture<Void> f : served) {
            f.get();
        }
        long got = nodes.stream().mapToLong(n -> n.rowCount).sum();
        double fromConnect = (t1 - firstFrame[0]) / 1e9;
        System.out.printf("csvSource -> feed (p=%d): %d rows; job %.2f s incl. MiniCluster start; "
                + "%.2f s from the first connection = %.0f rows/s%n", p, got, (t1 - t0) / 1e9, fromConnect,
                got / fromConnect);
        System.out.println(results);
        try (var w = Files.walk(tmp)) {
            w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
