package dev.tfflink.dataplane;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.types.Row;

/**
 * Rows buffered as typed column arrays and encoded as {@code R} frames of layout {@code T}
 * (docs/dataplane.md): per column {@code u8 tag | u32 nbytes | bytes}, little-endian, int64
 * exact, strings as {@code rows+1} offsets then UTF-8. Values are picked by name from the input
 * row and converted to the declared type when added, so encoding is bulk array copies.
 */
public final class RowBatch {
    private final ColumnType[] types;
    private final String[] names;
    private final int[] inIndex;
    private final int capacity;
    private final int maxPayload;
    private final float[][] f32;
    private final double[][] f64;
    private final int[][] i32;
    private final long[][] i64;
    private final byte[][][] str;
    private final int[] rowBytes; // each row's share of the payload
    private int size;
    private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

    /**
     * @param columns the columns sent, in order
     * @param inColumns the input rows' columns (each sent column is picked from it by name)
     * @param capacity rows per batch
     * @param maxPayload the largest frame payload (Frames.MAX_FRAME; smaller in tests)
     */
    public RowBatch(List<Column> columns, List<Column> inColumns, int capacity, int maxPayload) {
        int n = columns.size();
        types = new ColumnType[n];
        names = new String[n];
        inIndex = new int[n];
        f32 = new float[n][];
        f64 = new double[n][];
        i32 = new int[n][];
        i64 = new long[n][];
        str = new byte[n][][];
        for (int k = 0; k < n; k++) {
            Column c = columns.get(k);
            types[k] = c.type();
            names[k] = c.name();
            inIndex[k] = Column.indexOf(inColumns, c.name());
            if (inIndex[k] < 0) {
                throw new IllegalArgumentException("columns: '" + c.name() + "' is not in inColumns");
            }
            switch (c.type()) {
                case FLOAT32 -> f32[k] = new float[capacity];
                case FLOAT64 -> f64[k] = new double[capacity];
                case INT32 -> i32[k] = new int[capacity];
                case INT64 -> i64[k] = new long[capacity];
                case STRING -> str[k] = new byte[capacity][];
            }
        }
        this.capacity = capacity;
        this.maxPayload = maxPayload;
        this.rowBytes = new int[capacity];
    }

    public int size() {
        return size;
    }

    public boolean isFull() {
        return size == capacity;
    }

    public void clear() {
        for (byte[][] s : str) {
            if (s != null) {
                java.util.Arrays.fill(s, 0, size, null);
            }
        }
        size = 0;
    }

    /** Adds one input row, converted to the declared column types. */
    public void add(Row row) {
        int r = size;
        int bytes = 0;
        for (int k = 0; k < types.length; k++) {
            Object v = row.getField(inIndex[k]);
            if (v == null) {
                throw new IllegalArgumentException("column '" + names[k] + "' is null in row " + row);
            }
            switch (types[k]) {
                case FLOAT32 -> f32[k][r] = ((Number) v).floatValue();
                case FLOAT64 -> f64[k][r] = ((Number) v).doubleValue();
                case INT32 -> {
                    long x = ((Number) v).longValue();
                    if (x != (int) x || v instanceof Float || v instanceof Double) {
                        throw new IllegalArgumentException("column '" + names[k] + "': " + v + " is not an int32");
                    }
                    i32[k][r] = (int) x;
                }
                case INT64 -> {
                    if (v instanceof Float || v instanceof Double) {
                        throw new IllegalArgumentException("column '" + names[k] + "': " + v + " is not an int64");
                    }
                    i64[k][r] = ((Number) v).longValue();
                }
                case STRING -> {
                    byte[] b = v.toString().getBytes(StandardCharsets.UTF_8);
                    str[k][r] = b;
                    bytes += 4 + b.length;
                    continue;
                }
            }
            bytes += types[k].width;
        }
        rowBytes[r] = bytes;
        size = r + 1;
    }

    private int fixedBytes() {
        int b = 9;
        for (ColumnType t : types) {
            b += 5 + (t == ColumnType.STRING ? 4 : 0);
        }
        return b;
    }

    /**
     * The end of the largest run of rows from {@code from} whose frame payload fits; an
     * IllegalStateException when even one row does not.
     */
    public int fit(int from) {
        long payload = fixedBytes();
        int to = from;
        while (to < size && payload + rowBytes[to] <= maxPayload) {
            payload += rowBytes[to];
            to++;
        }
        if (to == from && from < size) {
            throw new IllegalStateException("a row of " + (fixedBytes() + (long) rowBytes[from])
                    + " bytes does not fit in one frame (at most " + maxPayload + " bytes, MAX_FRAME)");
        }
        return to;
    }

    /** The whole {@code R} frame (header included) of rows {@code [from, to)}, ready to write. */
    public ByteBuffer frame(int from, int to) {
        int n = to - from;
        long payload = fixedBytes();
        for (int r = from; r < to; r++) {
            payload += rowBytes[r];
        }
        if (payload > maxPayload) {
            throw new IllegalStateException("frame of " + payload + " bytes over " + maxPayload);
        }
        int total = (int) payload + 5;
        if (buf.capacity() < total) {
            buf = ByteBuffer.allocate(Math.max(total, buf.capacity() * 2)).order(ByteOrder.LITTLE_ENDIAN);
        }
        ByteBuffer b = buf;
        b.clear();
        b.putInt((int) payload).put(Frames.ROWS);
        b.putInt(n).putInt(types.length).put(Frames.TYPED);
        for (int k = 0; k < types.length; k++) {
            ColumnType t = types[k];
            b.put(t.tag);
            switch (t) {
                case FLOAT32 -> {
                    b.putInt(4 * n);
                    b.asFloatBuffer().put(f32[k], from, n);
                    b.position(b.position() + 4 * n);
                }
                case FLOAT64 -> {
                    b.putInt(8 * n);
                    b.asDoubleBuffer().put(f64[k], from, n);
                    b.position(b.position() + 8 * n);
                }
                case INT32 -> {
                    b.putInt(4 * n);
                    b.asIntBuffer().put(i32[k], from, n);
                    b.position(b.position() + 4 * n);
                }
                case INT64 -> {
                    b.putInt(8 * n);
                    b.asLongBuffer().put(i64[k], from, n);
                    b.position(b.position() + 8 * n);
                }
                case STRING -> {
                    int data = 0;
                    for (int r = from; r < to; r++) {
                        data += str[k][r].length;
                    }
                    b.putInt(4 * (n + 1) + data);
                    int off = 0;
                    b.putInt(0);
                    for (int r = from; r < to; r++) {
                        off += str[k][r].length;
                        b.putInt(off);
                    }
                    for (int r = from; r < to; r++) {
                        b.put(str[k][r]);
                    }
                }
            }
        }
        b.flip();
        return b;
    }
}
