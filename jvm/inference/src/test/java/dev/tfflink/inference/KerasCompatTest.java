package dev.tfflink.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SavedModels written by the project's Python (TF 2.20 + Keras 3: {@code Model.export} and
 * {@code tf.saved_model.save}) load in TF Java 1.1.0 and give byte-identical result lines to the
 * Python {@code ModelScorer} + {@code format_record}. Skipped where that Python is absent.
 */
class KerasCompatTest {
    @TempDir Path tmp;

    static String spec(Path model, String columns, String fmt) {
        return "{\"path\": \"" + model + "\", \"columns\": " + columns
                + ", \"keep\": [\"id\", \"name\"], \"batchSize\": 8, \"format\": \"" + fmt + "\"}";
    }

    @Test
    void kerasModelsScoreLikePython() throws Exception {
        Path repo = Paths.get("..", "..").toAbsolutePath().normalize(); // jvm/inference -> the repo root
        Path python = repo.resolve(".venv/bin/python");
        assumeTrue(Files.isExecutable(python), "no " + python + ": the Keras SavedModel check needs the project's Python with tensorflow");
        Process p = new ProcessBuilder(python.toString(), Paths.get("src/test/resources/keras_model.py").toAbsolutePath().toString(),
                tmp.toString(), repo.resolve("operator").toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), () -> "keras_model.py failed:\n" + log);

        List<Row> rows = new ArrayList<>();
        for (String line : Files.readAllLines(tmp.resolve("rows.csv"))) {
            String[] c = line.split(",");
            rows.add(Row.of(Long.parseLong(c[0]), c[1], Float.parseFloat(c[2]), Float.parseFloat(c[3]), Float.parseFloat(c[4])));
        }
        String columns = "[[\"id\",\"int64\"],[\"name\",\"string\"],[\"a\",\"float32\"],[\"b\",\"float32\"],[\"c\",\"float32\"]]";
        for (String fmt : new String[] {"jsonl", "csv"}) { // Model.export(): works, same lines as Python
            try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec(tmp.resolve("export"), columns, fmt)))) {
                assertEquals(Files.readAllLines(tmp.resolve("export." + fmt)), s.score(rows), "export." + fmt);
            }
        }
        // tf.saved_model.save(keras_model): Python's tf.saved_model.load scores it, TF's C++ loader cannot
        try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec(tmp.resolve("saved"), columns, "jsonl")))) {
            dev.tfflink.dataplane.FatalJobError e = assertThrows(dev.tfflink.dataplane.FatalJobError.class, () -> s.score(rows));
            assertTrue(e.getMessage().contains("export it with model.export(path): Could not find variable"), e.getMessage());
        }
    }
}
