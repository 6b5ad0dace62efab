package dev.tfflink.inference;

import java.nio.file.Path;
import java.util.Random;

import org.tensorflow.Graph;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.SessionFunction;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.Operand;

/** Tiny SavedModels built with TF Java itself, so the core tests need no Python. */
final class TestModels {
    private TestModels() {}

    /** y = x·(1,2,3) + 0.5 as [n,1] (like a Keras Dense(1)) and s = the same as [n]; input x: [-1,3] float32. */
    static Path linear(Path dir) throws Exception {
        try (Graph g = new Graph(); Session s = new Session(g)) {
            Ops tf = Ops.create(g);
            Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 3)));
            Operand<TFloat32> y = tf.math.add(tf.linalg.matMul(x, tf.constant(new float[][] {{1}, {2}, {3}})), tf.constant(0.5f));
            Operand<TFloat32> flat = tf.reshape(y, tf.constant(new long[] {-1}));
            Signature sig = Signature.builder().key("serving_default").input("x", x).output("y", y).output("s", flat).build();
            SavedModelBundle.exporter(dir.toString()).withFunction(SessionFunction.create(sig, s)).export();
        }
        return dir;
    }

    /** A dense net in -> hidden (relu) -> 1 with fixed random weights; input x: [-1,in] float32. */
    static Path dense(Path dir, int in, int hidden) throws Exception {
        Random r = new Random(1);
        float[][] w1 = new float[in][hidden];
        float[][] w2 = new float[hidden][1];
        for (float[] row : w1) for (int j = 0; j < hidden; j++) row[j] = (float) r.nextGaussian() * 0.1f;
        for (float[] row : w2) row[0] = (float) r.nextGaussian() * 0.1f;
        try (Graph g = new Graph(); Session s = new Session(g)) {
            Ops tf = Ops.create(g);
            Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, in)));
            Operand<TFloat32> h = tf.nn.relu(tf.math.add(tf.linalg.matMul(x, tf.constant(w1)), tf.constant(0.1f)));
            Operand<TFloat32> y = tf.math.add(tf.linalg.matMul(h, tf.constant(w2)), tf.constant(-0.2f));
            Signature sig = Signature.builder().key("serving_default").input("x", x).output("y", y).build();
            SavedModelBundle.exporter(dir.toString()).withFunction(SessionFunction.create(sig, s)).export();
        }
        return dir;
    }
}
