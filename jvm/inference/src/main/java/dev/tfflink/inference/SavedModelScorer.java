package dev.tfflink.inference;

import dev.tfflink.dataplane.FatalJobError;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

import org.apache.flink.types.Row;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TFFailedPreconditionException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;

/**
 * A loaded SavedModel signature that scores batches of rows into output lines; the JVM twin of
 * the Python {@code ModelScorer} + {@code format_record}, usable outside Flink too.
 *
 * <p>Rows are copied into primitive column buffers as they arrive ({@link #add}), so the
 * caller may reuse its Row objects and a batch costs one tensor per input and one session call
 * ({@link #flush}). Not thread-safe: one per subtask.
 */
public final class SavedModelScorer implements AutoCloseable {
    /** Signature keys TF adds for itself; Python's {@code model.signatures} does not list them. */
    private static final String INIT_OP = "__saved_model_init_op";

    private final SavedModelBundle bundle;
    private final Session session;
    private final Input[] inputs;
    private final String[] outputTensors;
    private final int capacity;
    private final boolean json;
    // the record: keep columns, then the signature's outputs (sorted, as TF's nest returns them);
    // an output named like a kept column takes its place, as in a Python dict
    private final String[] slotKeys;
    private final int[] slotRef; // >= 0: keep index; < 0: -(output index) - 1
    private final int[] keepPos;
    private final String[] keepNames;
    private final Object[][] keepVals;
    private int n;

    /** Loads the SavedModel ({@code serve} tag) and resolves the signature; errors name the spec field. */
    public SavedModelScorer(ScoreSpec spec) {
        this(spec, spec.batchSize);
    }

    SavedModelScorer(ScoreSpec spec, int capacity) {
        this.capacity = capacity;
        this.json = "jsonl".equals(spec.format);
        List<String> names = spec.columnNames();
        LinkedHashSet<String> keep = new LinkedHashSet<>(spec.keep);
        keepNames = keep.toArray(new String[0]);
        keepPos = new int[keepNames.length];
        for (int i = 0; i < keepNames.length; i++) {
            keepPos[i] = spec.columnIndex(keepNames[i]);
            if (keepPos[i] < 0) {
                throw new FatalJobError("spec.output.keep: '" + keepNames[i] + "' is not an input column " + PyFormat.pyList(names));
            }
        }
        keepVals = new Object[capacity][keepNames.length];

        SavedModelBundle b = SavedModelBundle.load(spec.path, "serve");
        try {
            Signature sig = findSignature(b, spec.signature);
            Map<String, Signature.TensorDescription> sigIn = new TreeMap<>(sig.getInputs());
            Map<String, List<String>> mapping = inputMapping(spec, sigIn);
            inputs = new Input[mapping.size()];
            int j = 0;
            for (Map.Entry<String, List<String>> e : mapping.entrySet()) {
                inputs[j++] = new Input(e.getKey(), sigIn.get(e.getKey()), e.getValue(), spec, capacity);
            }
            Map<String, Signature.TensorDescription> sigOut = new TreeMap<>(sig.getOutputs());
            String[] outputKeys = sigOut.keySet().toArray(new String[0]);
            outputTensors = new String[outputKeys.length];
            for (int i = 0; i < outputKeys.length; i++) outputTensors[i] = sigOut.get(outputKeys[i]).name;

            LinkedHashMap<String, Integer> slots = new LinkedHashMap<>();
            for (int i = 0; i < keepNames.length; i++) slots.put(keepNames[i], i);
            for (int i = 0; i < outputKeys.length; i++) slots.put(outputKeys[i], -i - 1);
            slotKeys = slots.keySet().toArray(new String[0]);
            slotRef = slots.values().stream().mapToInt(Integer::intValue).toArray();
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        bundle = b;
        session = b.session();
    }

    private static Signature findSignature(SavedModelBundle b, String key) {
        List<String> keys = new ArrayList<>();
        for (Signature s : b.signatures()) {
            if (s.key().equals(key)) return s;
            if (!s.key().equals(INIT_OP)) keys.add(s.key());
        }
        keys.sort(null);
        throw new FatalJobError("spec.savedModel.signature: '" + key + "' not in " + PyFormat.pyList(keys));
    }

    /** Python {@code input_mapping}: the only input gets every numeric column not in keep. */
    static Map<String, List<String>> inputMapping(ScoreSpec spec, Map<String, ?> signatureInputs) {
        List<String> sorted = new ArrayList<>(new TreeMap<>(signatureInputs).keySet());
        if (!spec.inputs.isEmpty()) {
            List<String> unknown = new ArrayList<>();
            for (String name : spec.inputs.keySet()) if (!signatureInputs.containsKey(name)) unknown.add(name);
            if (!unknown.isEmpty()) {
                throw new FatalJobError("spec.savedModel.inputs: " + PyFormat.pyList(unknown)
                        + " not in the signature's inputs " + PyFormat.pyList(sorted));
            }
            return spec.inputs;
        }
        if (signatureInputs.size() != 1) {
            throw new FatalJobError("spec.savedModel.inputs: required, the signature has inputs " + PyFormat.pyList(sorted));
        }
        List<String> cols = new ArrayList<>();
        for (String[] c : spec.columns) {
            if (!"string".equals(c[1]) && !spec.keep.contains(c[0])) cols.add(c[0]);
        }
        return Map.of(sorted.get(0), cols);
    }

    /** Rows buffered and not yet scored. */
    public int pending() {
        return n;
    }

    /** Buffers one row (its values are copied); true when the batch is full and wants {@link #flush}. */
    public boolean add(Row row) {
        if (n == capacity) throw new IllegalStateException("batch full: flush first");
        // named rows (Row.withNames) are read by the spec's names, positional ones by index
        boolean names = row.getFieldNames(false) != null;
        for (Input in : inputs) in.add(row, names, n);
        Object[] kv = keepVals[n];
        for (int i = 0; i < keepPos.length; i++) kv[i] = field(row, names, keepPos[i], keepNames[i]);
        n++;
        return n == capacity;
    }

    static Object field(Row row, boolean named, int pos, String name) {
        return named ? row.getField(name) : row.getField(pos);
    }

    /** One session call for the buffered rows; one line per row, in order, to {@code out}. */
    public void flush(Consumer<String> out) {
        if (n == 0) return;
        int rows = n;
        n = 0;
        Tensor[] feeds = new Tensor[inputs.length];
        try {
            Session.Runner runner = session.runner();
            for (int i = 0; i < inputs.length; i++) {
                feeds[i] = inputs[i].tensor(rows);
                runner.feed(inputs[i].tensorName, feeds[i]);
            }
            for (String t : outputTensors) runner.fetch(t);
            try (Result result = run(runner)) {
                Output[] outs = new Output[outputTensors.length];
                for (int i = 0; i < outs.length; i++) outs[i] = Output.read(slotName(-i - 1), result.get(i), rows);
                StringBuilder sb = new StringBuilder(64);
                for (int r = 0; r < rows; r++) {
                    sb.setLength(0);
                    record(sb, r, outs);
                    out.accept(sb.toString());
                }
            }
        } finally {
            for (Tensor t : feeds) if (t != null) t.close();
        }
    }

    /**
     * A Keras 3 model saved with {@code tf.saved_model.save} loads, but its signature reads
     * variables the SavedModel loader never restores (TF's C++ loader, saved_model_cli and TF
     * Serving fail the same way; only Python's object-graph loader copes): say what to do.
     */
    private static Result run(Session.Runner runner) {
        try {
            return runner.run();
        } catch (TFFailedPreconditionException e) {
            if (e.getMessage() == null || !e.getMessage().contains("Could not find variable")) throw e;
            throw new FatalJobError("spec.savedModel.path: the SavedModel's signature reads a variable its loader did not "
                    + "restore (a Keras 3 model saved with tf.saved_model.save?); export it with model.export(path): "
                    + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /** Scores {@code rows} (any number) and returns their lines; for tests and small callers. */
    public List<String> score(List<Row> rows) {
        List<String> lines = new ArrayList<>(rows.size());
        for (Row r : rows) if (add(r)) flush(lines::add);
        flush(lines::add);
        return lines;
    }

    private String slotName(int ref) {
        for (int i = 0; i < slotRef.length; i++) if (slotRef[i] == ref) return slotKeys[i];
        // an output shadowed by nothing always has a slot; this is unreachable
        throw new IllegalStateException("no slot " + ref);
    }

    private void record(StringBuilder sb, int r, Output[] outs) {
        if (json) sb.append('{');
        for (int s = 0; s < slotKeys.length; s++) {
            if (s > 0) sb.append(json ? ", " : ",");
            if (json) {
                PyFormat.jsonString(sb, slotKeys[s]);
                sb.append(": ");
            }
            int ref = slotRef[s];
            if (ref >= 0) keepValue(sb, keepVals[r][ref]);
            else outs[-ref - 1].append(sb, r, json);
        }
        if (json) sb.append('}');
    }

    private void keepValue(StringBuilder sb, Object v) {
        if (v == null) sb.append(json ? "null" : "None");
        else if (v instanceof Float) PyFormat.reprFloat32(sb, (Float) v, json);
        else if (v instanceof Double) PyFormat.repr(sb, (Double) v, json);
        else if (v instanceof Number) sb.append(v);
        else if (v instanceof Boolean) sb.append(json ? v.toString() : ((Boolean) v ? "True" : "False"));
        else if (json) PyFormat.jsonString(sb, v.toString());
        else sb.append(v);
    }

    @Override
    public void close() {
        bundle.close();
    }

    /** One signature input: the columns stacked into it and their buffer of its dtype. */
    private static final class Input {
        final String key;
        final String tensorName;
        final DataType dtype;
        final int[] pos;
        final String[] cols;
        final int k;
        float[] f;
        double[] d;
        int[] i32;
        long[] i64;
        String[] s;

        Input(String key, Signature.TensorDescription desc, List<String> columns, ScoreSpec spec, int capacity) {
            this.key = key;
            this.tensorName = desc.name;
            this.dtype = desc.dataType;
            this.k = columns.size();
            this.cols = columns.toArray(new String[0]);
            this.pos = new int[k];
            for (int j = 0; j < k; j++) {
                pos[j] = spec.columnIndex(cols[j]);
                if (pos[j] < 0) {
                    throw new FatalJobError("spec.savedModel.inputs: column '" + cols[j] + "' of input '" + key
                            + "' is not an input column " + PyFormat.pyList(spec.columnNames()));
                }
            }
            if (k == 0) {
                throw new FatalJobError("spec.savedModel.inputs: no column for input '" + key
                        + "' (the default takes every numeric column not in output.keep)");
            }
            Shape shape = desc.shape;
            if (shape != null && !shape.isUnknown()) {
                if (shape.numDimensions() != 2 || (shape.get(1) >= 0 && shape.get(1) != k)) {
                    throw new FatalJobError("spec.savedModel.inputs: input '" + key + "' has shape " + shape
                            + "; rows are stacked as [n, " + k + "] from " + Arrays.toString(cols));
                }
            }
            int size = capacity * k;
            switch (dtype) {
                case DT_FLOAT: f = new float[size]; break;
                case DT_DOUBLE: d = new double[size]; break;
                case DT_INT32: i32 = new int[size]; break;
                case DT_INT64: i64 = new long[size]; break;
                case DT_STRING: s = new String[size]; break;
                default:
                    throw new FatalJobError("spec.savedModel.inputs: input '" + key + "' has dtype " + dtype
                            + "; rows feed float32, float64, int32, int64 or string");
            }
        }

        void add(Row row, boolean named, int r) {
            int o = r * k;
            for (int j = 0; j < k; j++) {
                Object v = field(row, named, pos[j], cols[j]);
                switch (dtype) {
                    case DT_FLOAT: f[o + j] = v == null ? Float.NaN : v instanceof Number ? ((Number) v).floatValue() : Float.parseFloat(text(v, j)); break;
                    case DT_DOUBLE: d[o + j] = v == null ? Double.NaN : v instanceof Number ? ((Number) v).doubleValue() : Double.parseDouble(text(v, j)); break;
                    case DT_INT32: i32[o + j] = v instanceof Number ? ((Number) v).intValue() : Integer.parseInt(text(v, j)); break;
                    case DT_INT64: i64[o + j] = v instanceof Number ? ((Number) v).longValue() : Long.parseLong(text(v, j)); break;
                    default: s[o + j] = String.valueOf(v);
                }
            }
        }

        private String text(Object v, int j) {
            if (v == null) throw new FatalJobError("column '" + cols[j] + "' is null; input '" + key + "' is " + dtype);
            return v.toString().strip();
        }

        Tensor tensor(int rows) {
            Shape shape = Shape.of(rows, k);
            int size = rows * k;
            switch (dtype) {
                case DT_FLOAT: return TFloat32.tensorOf(shape, DataBuffers.of(f, true, false).narrow(size));
                case DT_DOUBLE: return TFloat64.tensorOf(shape, DataBuffers.of(d, true, false).narrow(size));
                case DT_INT32: return TInt32.tensorOf(shape, DataBuffers.of(i32, true, false).narrow(size));
                case DT_INT64: return TInt64.tensorOf(shape, DataBuffers.of(i64, true, false).narrow(size));
                default: return TString.tensorOf(shape, DataBuffers.of(Arrays.copyOf(s, size), true, false));
            }
        }
    }

    /** One fetched output, copied out of its tensor: values for row r are [r*m, (r+1)*m). */
    private static final class Output {
        final int[] dims; // per-row shape (the batch dimension removed); empty: a scalar per row
        final int m;
        final DataType dtype;
        float[] f;
        double[] d;
        long[] l;
        boolean[] z;
        String[] s;

        private Output(int[] dims, DataType dtype) {
            this.dims = dims;
            this.dtype = dtype;
            int p = 1;
            for (int x : dims) p *= x;
            this.m = p;
        }

        static Output read(String name, Tensor t, int rows) {
            Shape shape = t.shape();
            if (shape.numDimensions() < 1 || shape.get(0) != rows) {
                throw new FatalJobError("output '" + name + "' has shape " + shape + ", not one value per row of "
                        + rows + " (no batch dimension)");
            }
            int[] dims = new int[shape.numDimensions() - 1];
            for (int i = 0; i < dims.length; i++) dims[i] = Math.toIntExact(shape.get(i + 1));
            Output o = new Output(dims, t.dataType());
            int size = Math.toIntExact(shape.size());
            switch (o.dtype) {
                case DT_FLOAT: o.f = new float[size]; ((TFloat32) t).copyTo(DataBuffers.of(o.f, false, false)); break;
                case DT_DOUBLE: o.d = new double[size]; ((TFloat64) t).copyTo(DataBuffers.of(o.d, false, false)); break;
                case DT_INT32: {
                    int[] a = new int[size];
                    ((TInt32) t).copyTo(DataBuffers.of(a, false, false));
                    o.l = new long[size];
                    for (int i = 0; i < size; i++) o.l[i] = a[i];
                    break;
                }
                case DT_INT64: o.l = new long[size]; ((TInt64) t).copyTo(DataBuffers.of(o.l, false, false)); break;
                case DT_BOOL: o.z = new boolean[size]; ((TBool) t).copyTo(DataBuffers.of(o.z, false, false)); break;
                case DT_STRING: o.s = new String[size]; ((TString) t).copyTo(DataBuffers.of(o.s, false, false)); break;
                default: throw new FatalJobError("output '" + name + "' has dtype " + o.dtype + ", which is not written");
            }
            return o;
        }

        /** Python's {@code a[i].tolist()} of row r, as json.dumps (json) or str (csv) print it. */
        void append(StringBuilder sb, int r, boolean json) {
            if (dims.length == 0) {
                element(sb, r, json, false);
            } else if (json) {
                list(sb, r * m, 0, true);
            } else { // csv: the list's items spread over cells, each str()'d
                int step = m / dims[0];
                for (int i = 0; i < dims[0]; i++) {
                    if (i > 0) sb.append(',');
                    if (dims.length == 1) element(sb, r * m + i, false, true);
                    else list(sb, r * m + i * step, 1, false);
                }
            }
        }

        private int list(StringBuilder sb, int at, int level, boolean json) {
            sb.append('[');
            for (int i = 0; i < dims[level]; i++) {
                if (i > 0) sb.append(", ");
                if (level == dims.length - 1) element(sb, at++, json, !json);
                else at = list(sb, at, level + 1, json);
            }
            sb.append(']');
            return at;
        }

        /** {@code inList}: csv text of a list item, str(x) (bytes print as b'..' there). */
        private void element(StringBuilder sb, int i, boolean json, boolean reprString) {
            switch (dtype) {
                case DT_FLOAT: PyFormat.repr(sb, f[i], json); break;
                case DT_DOUBLE: PyFormat.repr(sb, d[i], json); break;
                case DT_BOOL: sb.append(json ? (z[i] ? "true" : "false") : (z[i] ? "True" : "False")); break;
                case DT_STRING:
                    if (json) PyFormat.jsonString(sb, s[i]);
                    else if (reprString) sb.append("b'").append(s[i]).append('\'');
                    else sb.append(s[i]);
                    break;
                default: sb.append(l[i]);
            }
        }
    }
}
