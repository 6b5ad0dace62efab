package dev.tfflink.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** savedModel + writeFiles as a Flink job on a MiniCluster. */
class InferenceJobTest {
    @RegisterExtension
    static final MiniClusterExtension MINI = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

    static final TypeInformation<Row> ROW = Types.ROW_NAMED(new String[] {"id", "a", "b", "c"},
            Types.LONG, Types.FLOAT, Types.DOUBLE, Types.INT);
    static final String COLUMNS = "[[\"id\",\"int64\"],[\"a\",\"float32\"],[\"b\",\"float64\"],[\"c\",\"int32\"]]";

    @TempDir static Path tmp;
    static Path model;

    @BeforeAll
    static void build() throws Exception {
        model = TestModels.linear(tmp.resolve("linear"));
    }

    static DataStream<Row> rows(StreamExecutionEnvironment env, int n) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) rows.add(Row.of((long) i, i * 0.001f, -i * 0.5, i % 7));
        return env.fromData(rows, ROW);
    }

    @Test
    void thousandRowsAtParallelismTwoLandInTwoPartFiles() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        Path out = tmp.resolve("out");
        String spec = "{\"path\": \"" + model + "\", \"columns\": " + COLUMNS + ", \"keep\": [\"id\"], \"batchSize\": 64, \"format\": \"csv\"}";
        Inference.writeFiles(Inference.savedModel(rows(env, 1000), spec, 2, null), out.toString(), "csv", 2, null);
        env.execute("inference-test");

        List<String> lines = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            List<String> part = Files.readAllLines(out.resolve("part-" + p + ".csv"));
            assertFalse(part.isEmpty(), "part-" + p + " is empty");
            lines.addAll(part);
        }
        assertFalse(Files.exists(out.resolve("part-0.csv.inprogress")));
        assertEquals(1000, lines.size());
        Set<Long> ids = new HashSet<>();
        for (String line : lines) {
            String[] cells = line.split(",");
            long i = Long.parseLong(cells[0]);
            ids.add(i);
            double want = i * 0.001f + 2 * (float) (-i * 0.5) + 3 * (i % 7) + 0.5; // the model is float32
            assertEquals(want, Double.parseDouble(cells[1]), 1e-5 * Math.max(1, Math.abs(want)), line);
        }
        assertEquals(1000, ids.size());
    }

    @Test
    void aBadSignatureFailsTheJobNamingTheField() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        String spec = "{\"path\": \"" + model + "\", \"signature\": \"predict\", \"columns\": " + COLUMNS + ", \"keep\": [\"id\"]}";
        Inference.writeFiles(Inference.savedModel(rows(env, 3), spec, 1, null), tmp.resolve("bad").toString(), "jsonl", 1, null);
        Exception e = assertThrows(Exception.class, () -> env.execute("bad-signature"));
        Throwable root = ExceptionUtils.findThrowable(e, IllegalArgumentException.class).orElseThrow(() -> new AssertionError(e));
        assertEquals("spec.savedModel.signature: 'predict' not in ['serving_default']", root.getMessage());
    }

    @Test
    void columnsThatAreNotTheStreamsFieldsAreRefused() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        String spec = "{\"path\": \"" + model + "\", \"columns\": [[\"id\",\"int64\"]]}";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Inference.savedModel(rows(env, 1), spec, 1, null));
        assertTrue(e.getMessage().startsWith("columns: [id] are not the stream's fields"), e.getMessage());
    }
}
