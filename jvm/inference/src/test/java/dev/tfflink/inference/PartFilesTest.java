package dev.tfflink.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * writeFiles on a MiniCluster: a run at parallelism 3, then a run at 2 that fails mid-write and
 * one that is cancelled mid-write (the first run's output stays exactly as it was, nothing
 * partial under any name), then a run at 2 that replaces it as a whole (no stale part-2).
 */
class PartFilesTest {
    @RegisterExtension
    static final MiniClusterExtension MINI = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(3).build());

    static StreamExecutionEnvironment env(int parallelism) {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        env.setRuntimeMode(RuntimeExecutionMode.STREAMING);
        return env;
    }

    static DataStream<String> lines(StreamExecutionEnvironment env, String run, long n, long failAt, long sleepEvery) {
        return env.fromSequence(0, n - 1).map(i -> {
            if (i == failAt) {
                throw new IllegalStateException("failing mid-write at " + i);
            }
            if (sleepEvery > 0 && i % sleepEvery == 0) {
                Thread.sleep(1);
            }
            return run + "," + i;
        }).returns(Types.STRING);
    }

    /** File name -> content of everything in {@code dir}, hidden files included. */
    static TreeMap<String, String> contents(Path dir) throws Exception {
        TreeMap<String, String> out = new TreeMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                out.put(p.getFileName().toString(), Files.readString(p));
            }
        }
        return out;
    }

    /** What a reader sees: the files that are not hidden. */
    static TreeMap<String, String> visible(TreeMap<String, String> files) {
        TreeMap<String, String> out = new TreeMap<>(files);
        out.keySet().removeIf(n -> n.startsWith("."));
        return out;
    }

    /** Hidden leftovers of a failed run: only complete parts of subtasks that had finished. */
    static void onlyCompletePending(TreeMap<String, String> files) {
        for (String n : files.keySet()) {
            if (n.startsWith(".")) {
                assertTrue(n.matches("\\.part-\\d+\\.csv\\.pending"), n);
            }
        }
    }

    static long rows(TreeMap<String, String> files, String run) {
        return files.entrySet().stream().filter(e -> e.getKey().startsWith("part-"))
                .flatMap(e -> e.getValue().lines()).filter(l -> l.startsWith(run + ",")).count();
    }

    @Test
    void outputIsCommittedWholeAndNeverHalfReplaced(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        StreamExecutionEnvironment first = env(3);
        Inference.writeFiles(lines(first, "a", 3000, -1, 0), out.toString(), "csv", 3, null);
        first.execute();
        TreeMap<String, String> committed = contents(out);
        assertEquals(List.of("_SUCCESS", "part-0.csv", "part-1.csv", "part-2.csv"), List.copyOf(committed.keySet()));
        assertEquals("part-0.csv\npart-1.csv\npart-2.csv\n", committed.get("_SUCCESS"));
        assertEquals(3000, rows(committed, "a"));

        StreamExecutionEnvironment failing = env(2);
        Inference.writeFiles(lines(failing, "b", 3000, 2500, 0), out.toString(), "csv", 2, null);
        assertThrows(Exception.class, failing::execute);
        assertEquals(committed, visible(contents(out))); // no partial part under a final name
        onlyCompletePending(contents(out)); // and no in-progress file

        StreamExecutionEnvironment cancelled = env(2);
        Inference.writeFiles(lines(cancelled, "c", 1_000_000, -1, 10), out.toString(), "csv", 2, null);
        JobClient job = cancelled.executeAsync();
        while (contents(out).keySet().stream().noneMatch(n -> n.endsWith(".inprogress"))) {
            Thread.sleep(20); // writing has begun
        }
        job.cancel().get();
        while (job.getJobStatus().get() != JobStatus.CANCELED) {
            Thread.sleep(20);
        }
        assertEquals(committed, visible(contents(out)));
        onlyCompletePending(contents(out));

        StreamExecutionEnvironment second = env(2);
        Inference.writeFiles(lines(second, "d", 2000, -1, 0), out.toString(), "csv", 2, null);
        second.execute();
        TreeMap<String, String> replaced = contents(out);
        assertEquals(List.of("_SUCCESS", "part-0.csv", "part-1.csv"), List.copyOf(replaced.keySet())); // no leftovers
        assertEquals(2000, rows(replaced, "d"));
        assertEquals(0, rows(replaced, "a"));
    }
}
