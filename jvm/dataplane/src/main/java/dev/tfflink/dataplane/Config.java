package dev.tfflink.dataplane;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The JSON configurations of the entry points, parsed into small typed records up front, so a
 * wrong field fails when the job graph is built (IllegalArgumentException naming the field),
 * not in a task. Uses the Jackson that Flink ships (shaded), so nothing is bundled.
 */
public final class Config {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Config() {}

    /** One line range of a CSV file: the client counted the lines (docs/dataplane.md). */
    public record Chunk(String path, long byteOffset, long firstLine, int lineCount) implements Serializable {}

    /** {@code csvSource}'s configuration. */
    public record Source(String name, List<Column> columns, char delimiter, boolean header, boolean skipMalformed,
            List<Chunk> chunks) implements Serializable {}

    /** {@code join}'s configuration. */
    public record Join(String key, List<Column> left, List<Column> right, long ttlSeconds) implements Serializable {}

    /** {@code feed}'s configuration. */
    public record Feed(String socketDir, List<Column> inColumns, List<Column> columns, int batchRows,
            long checkpointRows) implements Serializable {}

    public static Source source(String json) {
        JsonNode n = root(json, "sourceJson");
        String name = text(n, "name", null);
        List<Column> columns = columns(n, "columns");
        String delim = text(n, "delimiter", ",");
        if (delim.length() != 1 || delim.charAt(0) == '"' || delim.charAt(0) == '\n' || delim.charAt(0) == '\r') {
            throw new IllegalArgumentException("delimiter: must be one character other than a quote or newline, got '"
                    + delim + "'");
        }
        boolean header = bool(n, "header", false);
        String onError = text(n, "onError", "fail");
        if (!onError.equals("fail") && !onError.equals("skip")) {
            throw new IllegalArgumentException("onError: must be \"fail\" or \"skip\", got '" + onError + "'");
        }
        JsonNode cs = n.get("chunks");
        if (cs == null || !cs.isArray() || cs.isEmpty()) {
            throw new IllegalArgumentException("chunks: must be a non-empty array of [path, byteOffset, firstLine, lineCount]");
        }
        List<Chunk> chunks = new ArrayList<>();
        for (JsonNode c : cs) {
            if (!c.isArray() || c.size() != 4 || !c.get(0).isTextual() || !c.get(1).canConvertToLong()
                    || !c.get(2).canConvertToLong() || !c.get(3).canConvertToInt() || !c.get(1).isIntegralNumber()
                    || !c.get(2).isIntegralNumber() || !c.get(3).isIntegralNumber()
                    || c.get(1).asLong() < 0 || c.get(2).asLong() < 1 || c.get(3).asInt() < 0) {
                throw new IllegalArgumentException("chunks: each entry must be [path, byteOffset >= 0, firstLine >= 1, "
                        + "lineCount >= 0], got " + c);
            }
            chunks.add(new Chunk(c.get(0).asText(), c.get(1).asLong(), c.get(2).asLong(), c.get(3).asInt()));
        }
        return new Source(name, columns, delim.charAt(0), header, onError.equals("skip"), List.copyOf(chunks));
    }

    public static Join join(String json) {
        JsonNode n = root(json, "joinJson");
        String key = text(n, "key", null);
        List<Column> left = columns(n, "left");
        List<Column> right = columns(n, "right");
        int l = Column.indexOf(left, key);
        int r = Column.indexOf(right, key);
        if (l < 0 || r < 0) {
            throw new IllegalArgumentException("key: column '" + key + "' must be in both left and right");
        }
        if (left.get(l).type() != right.get(r).type()) {
            throw new IllegalArgumentException("key: column '" + key + "' is " + left.get(l).type().json
                    + " on the left but " + right.get(r).type().json + " on the right");
        }
        long ttl = 0;
        JsonNode t = n.get("ttlSeconds");
        if (t != null && !t.isNull()) {
            if (!t.isIntegralNumber() || t.asLong() < 0) {
                throw new IllegalArgumentException("ttlSeconds: must be an integer >= 0, got " + t);
            }
            ttl = t.asLong();
        }
        return new Join(key, left, right, ttl);
    }

    public static Feed feed(String json) {
        JsonNode n = root(json, "feedJson");
        String dir = text(n, "socketDir", null);
        if (dir.isEmpty()) {
            throw new IllegalArgumentException("socketDir: must not be empty");
        }
        List<Column> in = columns(n, "inColumns");
        List<Column> out = columns(n, "columns");
        for (Column c : out) {
            int i = Column.indexOf(in, c.name());
            if (i < 0) {
                throw new IllegalArgumentException("columns: '" + c.name() + "' is not in inColumns");
            }
            ColumnType from = in.get(i).type();
            boolean ok = from == c.type() || (c.type().isNumeric() && from.isNumeric() && !(c.type().isInteger()
                    && !from.isInteger()));
            if (!ok) {
                throw new IllegalArgumentException("columns: '" + c.name() + "' cannot be converted from "
                        + from.json + " to " + c.type().json);
            }
        }
        int batch = 1024;
        JsonNode b = n.get("batchRows");
        if (b != null && !b.isNull()) {
            if (!b.isIntegralNumber() || b.asLong() < 1 || b.asLong() > 1 << 20) {
                throw new IllegalArgumentException("batchRows: must be an integer in 1..1048576, got " + b);
            }
            batch = b.asInt();
        }
        long every = 0;
        JsonNode k = n.get("checkpointRows");
        if (k != null && !k.isNull()) {
            if (!k.isIntegralNumber() || k.asLong() < 0) {
                throw new IllegalArgumentException("checkpointRows: must be an integer >= 0 (0: no checkpoints), got " + k);
            }
            every = k.asLong();
        }
        return new Feed(dir, in, out, batch, every);
    }

    private static JsonNode root(String json, String what) {
        if (json == null) {
            throw new IllegalArgumentException(what + ": missing");
        }
        try {
            JsonNode n = MAPPER.readTree(json);
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(what + ": must be a JSON object");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static String text(JsonNode n, String field, String dflt) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            if (dflt == null) {
                throw new IllegalArgumentException(field + ": missing");
            }
            return dflt;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(field + ": must be a string, got " + v);
        }
        return v.asText();
    }

    private static boolean bool(JsonNode n, String field, boolean dflt) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(field + ": must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static List<Column> columns(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isArray() || v.isEmpty()) {
            throw new IllegalArgumentException(field + ": must be a non-empty array of [name, type]");
        }
        List<Column> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (JsonNode c : v) {
            if (!c.isArray() || c.size() != 2 || !c.get(0).isTextual() || !c.get(1).isTextual()
                    || c.get(0).asText().isEmpty()) {
                throw new IllegalArgumentException(field + ": each entry must be [name, type], got " + c);
            }
            String name = c.get(0).asText();
            if (!seen.add(name)) {
                throw new IllegalArgumentException(field + ": column '" + name + "' appears twice");
            }
            out.add(new Column(name, ColumnType.of(c.get(1).asText(), field)));
        }
        return List.copyOf(out);
    }
}
