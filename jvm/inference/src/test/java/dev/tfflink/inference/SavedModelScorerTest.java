package dev.tfflink.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scorer outside Flink: values, the exact line format, and the spec errors. */
class SavedModelScorerTest {
    static final String COLUMNS = "[[\"id\",\"int64\"],[\"name\",\"string\"],[\"a\",\"float32\"],[\"b\",\"float32\"],[\"c\",\"float32\"]]";

    @TempDir static Path tmp;
    static Path model;

    @BeforeAll
    static void build() throws Exception {
        model = TestModels.linear(tmp.resolve("linear"));
    }

    static String spec(String extra) {
        return "{\"path\": \"" + model + "\", \"columns\": " + COLUMNS + ", \"keep\": [\"id\", \"name\"], \"batchSize\": 7" + extra + "}";
    }

    @Test
    void scoresTheFormulaInBatches() {
        Random r = new Random(3);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 50; i++) rows.add(Row.of((long) i, "n" + i, r.nextFloat(), r.nextFloat() - 2, r.nextFloat() * 10));
        try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec(", \"format\": \"csv\"")))) {
            List<String> lines = s.score(rows);
            assertEquals(50, lines.size());
            for (int i = 0; i < 50; i++) {
                Row row = rows.get(i);
                double want = (Float) row.getField(2) + 2 * (Float) row.getField(3) + 3 * (Float) row.getField(4) + 0.5;
                String[] cells = lines.get(i).split(",");
                assertEquals(String.valueOf(i), cells[0]);
                assertEquals(want, Double.parseDouble(cells[2]), 1e-5); // s
                assertEquals(want, Double.parseDouble(cells[3]), 1e-5); // y, a list of one: spread
            }
        }
    }

    @Test
    void linesAreWhatPythonJsonDumpsWrites() {
        String extra = ", \"inputs\": {\"x\": [\"a\", \"b\", \"c\"]}, \"keep\": [\"id\", \"name\", \"a\"]";
        List<Row> rows = List.of(Row.of(1L, "q\"é", 0.1f, 0f, 0f), Row.of(-2L, "", -2.5f, 1f, 0f));
        try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec(extra)))) {
            // python: json.dumps({"id": 1, "name": 'q"é', "a": 0.1, "s": float(np.float32(0.6)), "y": [...]})
            assertEquals(List.of(
                    "{\"id\": 1, \"name\": \"q\\\"\\u00e9\", \"a\": 0.1, \"s\": 0.6000000238418579, \"y\": [0.6000000238418579]}",
                    "{\"id\": -2, \"name\": \"\", \"a\": -2.5, \"s\": 0.0, \"y\": [0.0]}"),
                    s.score(rows));
        }
        try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec(extra + ", \"format\": \"csv\"")))) {
            assertEquals(List.of("1,q\"é,0.1,0.6000000238418579,0.6000000238418579"), s.score(rows.subList(0, 1)));
        }
    }

    @Test
    void specErrorsNameTheField() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SavedModelScorer(ScoreSpec.parse(spec(", \"signature\": \"nope\""))));
        assertEquals("spec.savedModel.signature: 'nope' not in ['serving_default']", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new SavedModelScorer(ScoreSpec.parse(spec(", \"inputs\": {\"z\": [\"a\"]}"))));
        assertEquals("spec.savedModel.inputs: ['z'] not in the signature's inputs ['x']", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new SavedModelScorer(ScoreSpec.parse(spec(", \"keep\": [\"id\", \"name\", \"a\"]"))));
        assertTrue(e.getMessage().startsWith("spec.savedModel.inputs: input 'x' has shape [-1, 3]"), e.getMessage());
    }
}
