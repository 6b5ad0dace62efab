package dev.tfflink.inference;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The {@code scoreJson} of {@link Inference#savedModel}: one documented object so the py4j call
 * stays simple. Field names and defaults are those of the Python {@code SavedModelSpec} and
 * {@code OutputSpec}, so the same spec scores the same way on either side.
 */
public final class ScoreSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Column types of the data plane (the Python {@code ColumnType} values). */
    public static final List<String> TYPES = List.of("float32", "float64", "int32", "int64", "string");

    public final String path;
    public final String signature;
    /** Signature input -> row columns; empty: the default mapping of {@code input_mapping}. */
    public final Map<String, List<String>> inputs;
    /** The input rows' columns as [name, type], in field order. */
    public final List<String[]> columns;
    public final List<String> keep;
    public final int batchSize;
    public final long flushMillis;
    public final String format;

    ScoreSpec(String path, String signature, Map<String, List<String>> inputs, List<String[]> columns,
              List<String> keep, int batchSize, long flushMillis, String format) {
        this.path = path;
        this.signature = signature;
        this.inputs = Collections.unmodifiableMap(inputs);
        this.columns = Collections.unmodifiableList(columns);
        this.keep = Collections.unmodifiableList(keep);
        this.batchSize = batchSize;
        this.flushMillis = flushMillis;
        this.format = format;
        if (path == null || path.isEmpty()) throw new IllegalArgumentException("spec.savedModel.path: required");
        if (batchSize < 1) throw new IllegalArgumentException("spec.savedModel.batchSize: must be >= 1, got " + batchSize);
        if (flushMillis < 1) throw new IllegalArgumentException("spec.savedModel.flushMillis: must be >= 1, got " + flushMillis);
        checkFormat(format);
        for (String[] c : columns) {
            if (!TYPES.contains(c[1])) {
                throw new IllegalArgumentException("columns: '" + c[0] + "' has type '" + c[1] + "', not one of " + TYPES);
            }
        }
    }

    static void checkFormat(String format) {
        if (!"jsonl".equals(format) && !"csv".equals(format)) {
            throw new IllegalArgumentException("spec.output.format: '" + format + "' is not jsonl or csv");
        }
    }

    /** Parses {@code scoreJson}; a missing optional field takes the Python spec's default. */
    public static ScoreSpec parse(String json) {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(json);
        } catch (Exception e) {
            throw new IllegalArgumentException("scoreJson: not JSON: " + e.getMessage(), e);
        }
        Map<String, List<String>> inputs = new LinkedHashMap<>();
        JsonNode in = n.path("inputs");
        for (Map.Entry<String, JsonNode> e : in.properties()) inputs.put(e.getKey(), strings(e.getValue()));
        List<String[]> columns = new ArrayList<>();
        for (JsonNode c : n.path("columns")) {
            columns.add(new String[] {c.path(0).asText(), c.path(1).asText()});
        }
        return new ScoreSpec(
                n.path("path").asText(""),
                n.path("signature").asText("serving_default"),
                inputs,
                columns,
                strings(n.path("keep")),
                n.path("batchSize").asInt(256),
                n.path("flushMillis").asLong(200),
                n.path("format").asText("jsonl"));
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode s : array) out.add(s.asText());
        return out;
    }

    /** Index of column {@code name} in {@link #columns}, or -1. */
    int columnIndex(String name) {
        for (int i = 0; i < columns.size(); i++) {
            if (columns.get(i)[0].equals(name)) return i;
        }
        return -1;
    }

    List<String> columnNames() {
        List<String> out = new ArrayList<>();
        for (String[] c : columns) out.add(c[0]);
        return out;
    }
}
