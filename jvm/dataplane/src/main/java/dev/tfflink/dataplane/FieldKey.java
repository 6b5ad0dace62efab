package dev.tfflink.dataplane;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.types.Row;

/** The join key: one field of a Row by position (its Flink type is given to keyBy alongside). */
public final class FieldKey implements KeySelector<Row, Object> {
    private static final long serialVersionUID = 1L;
    private final int index;
    private final String name;

    public FieldKey(int index, String name) {
        this.index = index;
        this.name = name;
    }

    @Override
    public Object getKey(Row row) {
        Object k = row.getField(index);
        if (k == null) {
            throw new IllegalArgumentException("join key '" + name + "' is null in row " + row);
        }
        return k;
    }
}
