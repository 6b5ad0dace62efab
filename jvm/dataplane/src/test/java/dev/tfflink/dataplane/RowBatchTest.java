package dev.tfflink.dataplane;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

class RowBatchTest {
    static final List<Column> COLS = List.of(new Column("id", ColumnType.INT64), new Column("x", ColumnType.FLOAT32),
            new Column("d", ColumnType.FLOAT64), new Column("n", ColumnType.INT32),
            new Column("s", ColumnType.STRING));

    static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void encodesTheSharedTypedFrame() throws Exception {
        String hex = Files.readString(Path.of("../../tests/data/typed_frame.hex")).strip();
        RowBatch b = new RowBatch(COLS, COLS, 8, Frames.MAX_FRAME);
        b.add(Row.of(1L, 0.5f, 0.1, 7, "a"));
        b.add(Row.of(9007199254740993L, -1.25f, 2.5, Integer.MIN_VALUE, ""));
        b.add(Row.of(-5L, 3.0f, -0.0, Integer.MAX_VALUE, "héllo"));
        assertEquals(3, b.fit(0));
        assertEquals(hex, HexFormat.of().formatHex(bytes(b.frame(0, 3))));
    }

    @Test
    void convertsByNameToTheDeclaredType() {
        List<Column> in = List.of(new Column("a", ColumnType.STRING), new Column("big", ColumnType.INT64),
                new Column("i", ColumnType.INT32));
        List<Column> out = List.of(new Column("i", ColumnType.INT64), new Column("big", ColumnType.FLOAT32));
        RowBatch b = new RowBatch(out, in, 4, Frames.MAX_FRAME);
        b.add(Row.of("x", 16777217L, 3));
        ByteBuffer f = b.frame(0, 1).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        // header 5 + batch 9 + 'q' col (5+8) + 'f' col (5+4)
        assertEquals(5 + 9 + 13 + 9, f.remaining());
        assertEquals(3L, f.getLong(5 + 9 + 5));
        assertEquals(16777216f, f.getFloat(5 + 9 + 13 + 5));
    }

    @Test
    void splitsFramesByRowsUnderTheLimit() {
        List<Column> cols = List.of(new Column("s", ColumnType.STRING));
        int fixed = 9 + 5 + 4;
        RowBatch b = new RowBatch(cols, cols, 16, fixed + 3 * (4 + 10));
        for (int i = 0; i < 7; i++) {
            b.add(Row.of("0123456789"));
        }
        assertEquals(3, b.fit(0));
        assertEquals(6, b.fit(3));
        assertEquals(7, b.fit(6));
        assertTrue(bytes(b.frame(0, 3)).length <= 5 + fixed + 3 * 14);
        b.clear();
        b.add(Row.of("x".repeat(100)));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.fit(0));
        assertTrue(e.getMessage().contains("MAX_FRAME"), e.getMessage());
    }

    @Test
    void readsFramesBack() throws Exception {
        byte[] payload = "[{\"a\":1}]".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer two = ByteBuffer.allocate(5 + payload.length + 5);
        two.put(Frames.of(Frames.RESULTS, payload)).put(Frames.empty(Frames.DONE)).flip();
        var ch = java.nio.channels.Channels.newChannel(new java.io.ByteArrayInputStream(bytes(two)));
        Frames.Frame f = Frames.read(ch);
        assertEquals(Frames.RESULTS, f.kind());
        assertArrayEquals(payload, f.payload());
        assertEquals(Frames.DONE, Frames.read(ch).kind());
        assertEquals(null, Frames.read(ch));
    }
}
