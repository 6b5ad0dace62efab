package dev.tfflink.dataplane;

import java.io.Serializable;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.RowTypeInfo;

/** One {@code [name, type]} pair of a configuration; a list of them is a row's schema. */
public record Column(String name, ColumnType type) implements Serializable {

    /** The named, typed RowTypeInfo of {@code columns} (what our Row streams carry). */
    public static RowTypeInfo rowType(List<Column> columns) {
        TypeInformation<?>[] types = new TypeInformation<?>[columns.size()];
        String[] names = new String[columns.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = columns.get(i).type().typeInfo;
            names[i] = columns.get(i).name();
        }
        return new RowTypeInfo(types, names);
    }

    /** The position of {@code name} in {@code columns}, or -1. */
    public static int indexOf(List<Column> columns, String name) {
        for (int i = 0; i < columns.size(); i++) {
            if (columns.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }
}
