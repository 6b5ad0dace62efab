package dev.tfflink.inference;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;

/**
 * A measurement, not a test (run with -Dtfflink.bench=true -Dtest=ThroughputBench): rows/s of
 * the operator scoring a 100 -> 64 -> 1 dense model in batches of 256 on a MiniCluster (p=1),
 * against TF Java alone on pre-built tensors of the same batches. Prints the ratio.
 */
@EnabledIfSystemProperty(named = "tfflink.bench", matches = "true")
class ThroughputBench {
    static final int IN = 100, ROWS = 200_000, BATCH = 256;

    @RegisterExtension
    static final MiniClusterExtension MINI = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1).build());

    @TempDir Path tmp;

    @Test
    void operatorAgainstDirectTfJava() throws Exception {
        Path model = TestModels.dense(tmp.resolve("dense"), IN, 64);
        Random r = new Random(5);
        float[][] data = new float[ROWS][IN];
        for (float[] row : data) for (int j = 0; j < IN; j++) row[j] = (float) r.nextGaussian();

        double direct = direct(model, data);
        String[] names = new String[IN];
        TypeInformation<?>[] types = new TypeInformation<?>[IN];
        StringBuilder cols = new StringBuilder("[");
        for (int j = 0; j < IN; j++) {
            names[j] = "f" + j;
            types[j] = Types.FLOAT;
            cols.append(j > 0 ? "," : "").append("[\"f").append(j).append("\",\"float32\"]");
        }
        List<Row> rows = new ArrayList<>(ROWS);
        for (float[] v : data) {
            Row row = new Row(IN);
            for (int j = 0; j < IN; j++) row.setField(j, v[j]);
            rows.add(row);
        }
        ROWS_BY_INDEX = rows;
        TypeInformation<Row> rowType = Types.ROW_NAMED(names, types);
        String spec = "{\"path\": \"" + model + "\", \"columns\": " + cols + "], \"batchSize\": " + BATCH + "}";
        double[] op = new double[2];
        for (int run = 0; run < 2; run++) { // the first run warms the JIT and TF
            StreamExecutionEnvironment env = env();
            Inference.savedModel(source(env, rowType), spec, 1, null).sinkTo(new DiscardingSink<>());
            long t0 = System.nanoTime();
            env.execute("bench");
            op[run] = ROWS / ((System.nanoTime() - t0) / 1e9);
        }
        // the source's own cost: the same job with a pass-through map instead of the model
        StreamExecutionEnvironment env = env();
        source(env, rowType).map(x -> "").sinkTo(new DiscardingSink<>());
        long t0 = System.nanoTime();
        env.execute("bench-source");
        double source = ROWS / ((System.nanoTime() - t0) / 1e9);

        // the scorer alone (buffering + tensors + formatting), no Flink
        double scorer;
        try (SavedModelScorer s = new SavedModelScorer(ScoreSpec.parse(spec))) {
            long[] sink = new long[1];
            for (int rep = 0; rep < 2; rep++) {
                long t1 = System.nanoTime();
                for (Row row : rows) if (s.add(row)) s.flush(l -> sink[0] += l.length());
                s.flush(l -> sink[0] += l.length());
                scorer = ROWS / ((System.nanoTime() - t1) / 1e9);
                if (rep == 1) System.out.printf("BENCH scorer (no Flink): %.0f rows/s%n", scorer);
            }
        }
        System.out.printf("BENCH direct TF Java: %.0f rows/s; operator (MiniCluster, job incl. startup): %.0f rows/s (first run %.0f); "
                + "source+map job: %.0f rows/s; ratio operator/direct = %.3f%n", direct, op[1], op[0], source, op[1] / direct);
    }

    /** Rows handed out by index, chained into the operator with object reuse: no copies, no serialization. */
    static List<Row> ROWS_BY_INDEX;

    static StreamExecutionEnvironment env() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        env.getConfig().enableObjectReuse();
        return env;
    }

    static org.apache.flink.streaming.api.datastream.DataStream<Row> source(StreamExecutionEnvironment env, TypeInformation<Row> type) {
        return env.fromSequence(0, ROWS - 1).map(i -> ROWS_BY_INDEX.get((int) (long) i)).returns(type);
    }

    /** session.run on pre-built [256,100] tensors, reading the outputs back into arrays. */
    static double direct(Path model, float[][] data) {
        try (SavedModelBundle b = SavedModelBundle.load(model.toString(), "serve")) {
            Signature sig = b.signatures().stream().filter(s -> s.key().equals("serving_default")).findFirst().orElseThrow();
            String in = sig.getInputs().get("x").name, out = sig.getOutputs().get("y").name;
            List<TFloat32> batches = new ArrayList<>();
            for (int i = 0; i < data.length; i += BATCH) {
                int n = Math.min(BATCH, data.length - i);
                float[] flat = new float[n * IN];
                for (int k = 0; k < n; k++) System.arraycopy(data[i + k], 0, flat, k * IN, IN);
                batches.add(TFloat32.tensorOf(Shape.of(n, IN), DataBuffers.of(flat, true, false)));
            }
            double rate = 0;
            float[] res = new float[BATCH];
            for (int rep = 0; rep < 3; rep++) {
                long t0 = System.nanoTime();
                for (TFloat32 x : batches) {
                    try (Result r = b.session().runner().feed(in, x).fetch(out).run()) {
                        ((TFloat32) r.get(0)).copyTo(DataBuffers.of(res, false, false).narrow(x.shape().get(0)));
                    }
                }
                rate = data.length / ((System.nanoTime() - t0) / 1e9);
            }
            batches.forEach(TFloat32::close);
            return rate;
        }
    }
}
