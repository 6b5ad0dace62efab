package dev.tfflink.dataplane;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

class CsvTest {
    static final List<Column> COLS = List.of(new Column("id", ColumnType.INT64), new Column("x", ColumnType.FLOAT32),
            new Column("name", ColumnType.STRING), new Column("n", ColumnType.INT32));

    static Row parse(String line) {
        return new CsvParser(COLS, ',').parse(line.toCharArray(), 0, line.length(), "f.csv", 7);
    }

    static String error(String line) {
        return assertThrows(MalformedRow.class, () -> parse(line)).getMessage();
    }

    @Test
    void quotingAsPythonsCsvModule() {
        assertEquals(Row.of(1L, 0.5f, "a,b", 2), parse("1,0.5,\"a,b\",2"));
        assertEquals(Row.of(1L, 0.5f, "say \"hi\"", 2), parse("1,0.5,\"say \"\"hi\"\"\",2"));
        assertEquals(Row.of(1L, 0.5f, "abc", 2), parse("1,0.5,\"ab\"c,2"));
        assertEquals(Row.of(1L, 0.5f, "a\"b", 2), parse("1,0.5,a\"b,2"));
        assertEquals(Row.of(1L, 0.5f, "", 2), parse("1,\"0.5\",\"\",2"));
        assertEquals(Row.of(1L, 0.5f, " x ", 2), parse(" 1 , 0.5 , x ,2"));
        assertEquals(Row.of(1L, 0.5f, "héllo", 2), parse("1,.5,héllo,2"));
    }

    @Test
    void int64IsExactPast2To53() {
        assertEquals(9007199254740993L, parse("9007199254740993,1,a,1").getField(0));
        assertEquals(Long.MIN_VALUE, parse("-9223372036854775808,1,a,1").getField(0));
        assertEquals(Long.MAX_VALUE, parse("+9223372036854775807,1,a,1").getField(0));
        assertEquals("f.csv:7: column 'id': cannot parse '9223372036854775808' as int64",
                error("9223372036854775808,1,a,1"));
        assertEquals("f.csv:7: column 'id': cannot parse '1_000' as int64", error("1_000,1,a,1"));
        assertEquals("f.csv:7: column 'id': cannot parse '1.0' as int64", error("1.0,1,a,1"));
        assertEquals("f.csv:7: column 'n': cannot parse '2147483648' as int32", error("1,1,a,2147483648"));
    }

    @Test
    void int32OutOfRangeAndOddLiteralsAreMalformed() {
        assertEquals("f.csv:7: column 'n': cannot parse '3e9' as int32", error("1,1,a,3e9"));
        assertEquals("f.csv:7: column 'n': cannot parse '3000000000' as int32", error("1,1,a,3000000000"));
        assertEquals("f.csv:7: column 'x': cannot parse '1_000' as float32", error("1,1_000,a,1"));
        assertEquals(-2147483648, parse("1,1,a,-2147483648").getField(3));
    }

    @Test
    void aFieldOverTheSizeLimitIsMalformedAndObeysOnError() {
        String big = "y".repeat(CsvParser.MAX_FIELD_CHARS + 1);
        assertEquals("f.csv:7: column 'name': a field of 131073 characters is over the limit of 131072",
                error("1,1,\"" + big + "\",1"));
        assertEquals(CsvParser.MAX_FIELD_CHARS, ((String) parse("1,1," + big.substring(1) + ",1").getField(2)).length());
        String text = "1,1," + big + ",1\n2,2,b,2\n";
        Config.Chunk chunk = new Config.Chunk("big.csv", 0, 1, 2);
        List<Row> rows = new ArrayList<>();
        CsvChunkReader skip = new CsvChunkReader(new Config.Source("s", COLS, ',', false, true, List.of(chunk)));
        skip.readChunk(text.toCharArray(), text.length(), chunk, new Collector<>() {
            public void collect(Row r) {
                rows.add(r);
            }

            public void close() {}
        });
        assertEquals(List.of(Row.of(2L, 2.0f, "b", 2)), rows);
        assertEquals(1, skip.skipped());
    }

    @Test
    void malformedRowsNameFileLineAndColumn() {
        assertEquals("f.csv:7: column 'x': cannot parse 'abc' as float32", error("1,abc,a,1"));
        assertEquals("f.csv:7: column 'x': cannot parse '' as float32", error("1,,a,1"));
        assertEquals("f.csv:7: column 'x': cannot parse '0x10' as float32", error("1,0x10,a,1"));
        assertEquals("f.csv:7: column 'x': cannot parse '1f' as float32", error("1,1f,a,1"));
        assertEquals("f.csv:7: expected 4 columns, got 3", error("1,2,a"));
        assertEquals("f.csv:7: expected 4 columns, got 5", error("1,2,a,3,"));
        assertEquals(Float.NEGATIVE_INFINITY, parse("1,-inf,a,1").getField(1));
        assertEquals(Float.NaN, parse("1,NaN,a,1").getField(1));
    }

    @Test
    void floatsAreCorrectlyRounded() {
        Random r = new Random(42);
        List<Column> cols = List.of(new Column("f", ColumnType.FLOAT32), new Column("d", ColumnType.FLOAT64));
        CsvParser p = new CsvParser(cols, ';');
        for (int i = 0; i < 200_000; i++) {
            String s = switch (i % 4) {
                case 0 -> Double.toString(r.nextGaussian());
                case 1 -> String.format("%.9f", r.nextDouble() * 1000 - 500);
                case 2 -> Long.toString(r.nextLong() >> r.nextInt(64)) + "e" + (r.nextInt(50) - 25);
                default -> Float.toString(Float.intBitsToFloat(r.nextInt()));
            };
            String line = s + ";" + s;
            Row row = p.parse(line.toCharArray(), 0, line.length(), "r", i);
            assertEquals(Float.parseFloat(s), (float) row.getField(0), s);
            assertEquals(Double.parseDouble(s), (double) row.getField(1), s);
        }
    }

    @Test
    void chunksSkipHeaderAndBlankLinesAndCountSkippedRows() {
        String text = "id,x,name,n\r\n1,0.5,a,1\n\n2,bad,b,2\n3,1.5,c\n4,2.5,d,4\n";
        Config.Chunk chunk = new Config.Chunk("data.csv", 0, 1, 6);
        List<Row> rows = new ArrayList<>();
        Collector<Row> out = new Collector<>() {
            public void collect(Row r) {
                rows.add(r);
            }

            public void close() {}
        };
        CsvChunkReader skip = new CsvChunkReader(new Config.Source("s", COLS, ',', true, true, List.of(chunk)));
        skip.readChunk(text.toCharArray(), text.length(), chunk, out);
        assertEquals(List.of(Row.of(1L, 0.5f, "a", 1), Row.of(4L, 2.5f, "d", 4)), rows);
        assertEquals(2, skip.skipped());

        CsvChunkReader fail = new CsvChunkReader(new Config.Source("s", COLS, ',', true, false, List.of(chunk)));
        MalformedRow e = assertThrows(MalformedRow.class,
                () -> fail.readChunk(text.toCharArray(), text.length(), chunk, out));
        assertEquals("data.csv:4: column 'x': cannot parse 'bad' as float32", e.getMessage());
    }

    @Test
    void configErrorsNameTheField() {
        String cols = "\"columns\":[[\"a\",\"int64\"]]";
        assertEquals("onError: must be \"fail\" or \"skip\", got 'maybe'",
                assertThrows(IllegalArgumentException.class, () -> Config.source(
                        "{\"name\":\"s\"," + cols + ",\"onError\":\"maybe\",\"chunks\":[[\"p\",0,1,1]]}")).getMessage());
        assertEquals("columns: unknown column type 'int8' (float32, float64, int32, int64, string)",
                assertThrows(IllegalArgumentException.class, () -> Config.source(
                        "{\"name\":\"s\",\"columns\":[[\"a\",\"int8\"]],\"chunks\":[[\"p\",0,1,1]]}")).getMessage());
        assertEquals("key: column 'k' must be in both left and right",
                assertThrows(IllegalArgumentException.class, () -> Config.join(
                        "{\"key\":\"k\",\"left\":[[\"k\",\"int64\"]],\"right\":[[\"j\",\"int64\"]]}")).getMessage());
        assertEquals("columns: 'x' cannot be converted from float32 to int64",
                assertThrows(IllegalArgumentException.class, () -> Config.feed(
                        "{\"socketDir\":\"/tmp/x\",\"inColumns\":[[\"x\",\"float32\"]],\"columns\":[[\"x\",\"int64\"]]}"))
                        .getMessage());
    }

    @Test
    void aMalformedRowPrintsTheFatalMarkTheRuntimeLooksFor() {
        MalformedRow e = assertThrows(MalformedRow.class, () -> parse("1,2"));
        // Flink's root exception is the stack trace's text: toString() must carry the mark.
        assertEquals("dev.tfflink.dataplane.MalformedRow: [fatal] " + e.getMessage(), e.toString());
        assertEquals("f.csv:7: expected 4 columns, got 2", e.getMessage());
    }
}
