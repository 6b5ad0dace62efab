package dev.tfflink.dataplane;

import java.util.List;
import org.apache.flink.types.Row;

/**
 * Splits one CSV line and types its values, as Python's csv module (excel dialect) and the
 * Python reader's {@code coerce} do for the common cases: a field that starts with a quote is
 * quoted ({@code ""} inside is one quote; text after the closing quote is kept), quotes inside
 * an unquoted field are literal, numbers may have surrounding spaces, strings are kept as-is.
 * It works on a char range of the chunk, so a number costs no String.
 */
public final class CsvParser {
    /**
     * The longest field, in characters: Python's {@code csv.field_size_limit()} default, so
     * both planes refuse the same rows; a longer one is a malformed row (it obeys onError).
     */
    public static final int MAX_FIELD_CHARS = 128 * 1024;

    private final ColumnType[] types;
    private final String[] names;
    private final char delim;
    // Field i is src[i][start[i], end[i]): the line itself, or the unquoted copy in scratch.
    private final int[] start;
    private final int[] end;
    private final char[][] src;
    private char[] scratch = new char[256];

    public CsvParser(List<Column> columns, char delimiter) {
        int n = columns.size();
        types = new ColumnType[n];
        names = new String[n];
        for (int i = 0; i < n; i++) {
            types[i] = columns.get(i).type();
            names[i] = columns.get(i).name();
        }
        delim = delimiter;
        start = new int[n];
        end = new int[n];
        src = new char[n][];
    }

    /**
     * The typed row of line {@code a[s, e)} (no line terminator), or a MalformedRow whose
     * message starts with {@code path:line}.
     */
    public Row parse(char[] a, int s, int e, String path, long line) {
        int n = types.length;
        int count = 0;
        int used = 0; // of scratch
        int i = s;
        while (true) {
            int fs;
            int fe;
            char[] from = a;
            if (i < e && a[i] == '"') {
                // Quoted: copy the unquoted text into scratch up to the delimiter after the closing quote.
                if (scratch.length - used < e - i) {
                    char[] bigger = new char[Math.max(scratch.length * 2, used + (e - i))];
                    System.arraycopy(scratch, 0, bigger, 0, used);
                    // Earlier fields still point at the old scratch array: move them over.
                    for (int k = 0; k < Math.min(count, n); k++) {
                        if (src[k] == scratch) {
                            src[k] = bigger;
                        }
                    }
                    scratch = bigger;
                }
                fs = used;
                boolean quoted = true;
                i++;
                while (i < e) {
                    char c = a[i];
                    if (quoted) {
                        if (c == '"') {
                            if (i + 1 < e && a[i + 1] == '"') {
                                scratch[used++] = '"';
                                i += 2;
                                continue;
                            }
                            quoted = false;
                            i++;
                            continue;
                        }
                    } else if (c == delim) {
                        break;
                    }
                    scratch[used++] = c;
                    i++;
                }
                fe = used;
                from = scratch;
            } else {
                fs = i;
                while (i < e && a[i] != delim) {
                    i++;
                }
                fe = i;
            }
            if (count < n) {
                start[count] = fs;
                end[count] = fe;
                src[count] = from;
            }
            count++;
            if (i >= e) {
                break;
            }
            i++; // the delimiter; a trailing one makes an empty last field
        }
        if (count != n) {
            throw new MalformedRow(path + ":" + line + ": expected " + n + " columns, got " + count);
        }
        Row row = Row.withPositions(n);
        for (int k = 0; k < n; k++) {
            char[] f = src[k];
            int fs = start[k];
            int fe = end[k];
            if (fe - fs > MAX_FIELD_CHARS) {
                throw new MalformedRow(path + ":" + line + ": column '" + names[k] + "': a field of " + (fe - fs)
                        + " characters is over the limit of " + MAX_FIELD_CHARS);
            }
            try {
                switch (types[k]) {
                    case FLOAT32 -> row.setField(k, Numbers.parseFloat(f, fs, fe));
                    case FLOAT64 -> row.setField(k, Numbers.parseDouble(f, fs, fe));
                    case INT32 -> row.setField(k, Numbers.parseInt(f, fs, fe));
                    case INT64 -> row.setField(k, Numbers.parseLong(f, fs, fe));
                    case STRING -> row.setField(k, new String(f, fs, fe - fs));
                }
            } catch (Numbers.Bad bad) {
                throw new MalformedRow(path + ":" + line + ": column '" + names[k] + "': cannot parse '"
                        + new String(f, fs, fe - fs) + "' as " + types[k].json);
            }
        }
        return row;
    }
}
