package dev.tfflink.dataplane;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;

/**
 * The column types of docs/dataplane.md, with their Flink type and wire tag, so that the CSV
 * reader, the join and the feeder agree on one spelling ({@code float32} ... {@code string}).
 */
public enum ColumnType {
    FLOAT32("float32", 'f', 4, Types.FLOAT),
    FLOAT64("float64", 'd', 8, Types.DOUBLE),
    INT32("int32", 'i', 4, Types.INT),
    INT64("int64", 'q', 8, Types.LONG),
    STRING("string", 's', 0, Types.STRING);

    /** The name used in the JSON configuration and in error messages. */
    public final String json;
    /** The column tag of a layout-{@code T} row batch. */
    public final byte tag;
    /** Bytes per value on the wire (0 for strings, which carry offsets plus data). */
    public final int width;
    /** The Flink type of the Row field. */
    public final TypeInformation<?> typeInfo;

    ColumnType(String json, char tag, int width, TypeInformation<?> typeInfo) {
        this.json = json;
        this.tag = (byte) tag;
        this.width = width;
        this.typeInfo = typeInfo;
    }

    /** The type named {@code name}; IllegalArgumentException naming {@code field} otherwise. */
    public static ColumnType of(String name, String field) {
        for (ColumnType t : values()) {
            if (t.json.equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException(
                field + ": unknown column type '" + name + "' (float32, float64, int32, int64, string)");
    }

    public boolean isInteger() {
        return this == INT32 || this == INT64;
    }

    public boolean isNumeric() {
        return this != STRING;
    }
}
