package dev.tfflink.dataplane;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.metrics.Counter;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads one line range (a chunk the client counted) of a CSV file and emits typed Rows; the
 * chunk list travels inside the function and the source only numbers the chunks, as in the
 * Python reader, so every row keeps its {@code path:line} for error messages. The bytes are
 * read and decoded into reused buffers and parsed in place ({@link CsvParser}).
 */
public class CsvChunkReader extends RichFlatMapFunction<Long, Row> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(CsvChunkReader.class);
    private static final int LOGGED = 10;

    private final Config.Source source;
    private transient CsvParser parser;
    private transient Counter malformed;
    private transient LongCounter malformedTotal;
    private transient long skipped;
    private transient byte[] bytes;
    private transient char[] chars;
    private transient CharsetDecoder decoder;

    public CsvChunkReader(Config.Source source) {
        this.source = source;
    }

    @Override
    public void open(OpenContext openContext) {
        parser = new CsvParser(source.columns(), source.delimiter());
        malformed = getRuntimeContext().getMetricGroup().counter("malformedRows");
        malformedTotal = RowCounts.accumulator(getRuntimeContext(), RowCounts.MALFORMED);
        bytes = new byte[1 << 16];
        chars = new char[1 << 16];
        decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
    }

    /** Rows skipped as malformed by this instance (the metric counts the same). */
    public long skipped() {
        return skipped;
    }

    @Override
    public void flatMap(Long index, Collector<Row> out) throws IOException {
        if (index < 0 || index >= source.chunks().size()) {
            throw new IllegalArgumentException("chunk " + index + " of " + source.chunks().size());
        }
        Config.Chunk chunk = source.chunks().get(index.intValue());
        int len = readLines(chunk);
        int n = decode(len);
        readChunk(chars, n, chunk, out);
    }

    /** Emits the rows of {@code text[0, n)}, the chunk's lines; public for tests. */
    public void readChunk(char[] text, int n, Config.Chunk chunk, Collector<Row> out) {
        if (parser == null) { // used outside a Flink task (tests)
            parser = new CsvParser(source.columns(), source.delimiter());
        }
        long line = chunk.firstLine();
        int s = 0;
        while (s < n) {
            int e = s;
            while (e < n && text[e] != '\n') {
                e++;
            }
            int next = e + 1;
            if (e > s && text[e - 1] == '\r') {
                e--;
            }
            if (e > s && !(line == 1 && source.header())) {
                try {
                    out.collect(parser.parse(text, s, e, chunk.path(), line));
                } catch (MalformedRow m) {
                    if (!source.skipMalformed()) {
                        throw m;
                    }
                    skipped++;
                    if (malformed != null) {
                        malformed.inc();
                        malformedTotal.add(1);
                    }
                    if (skipped <= LOGGED) {
                        LOG.warn("skipped malformed row {} of source {}: {}", skipped, source.name(), m.getMessage());
                    }
                }
            }
            line++;
            s = next;
        }
    }

    /** Reads from the chunk's offset to the end of its last line into {@code bytes}; the length. */
    private int readLines(Config.Chunk chunk) throws IOException {
        int want = chunk.lineCount();
        if (want == 0) {
            return 0;
        }
        int len = 0;
        int lines = 0;
        try (FileChannel ch = FileChannel.open(Path.of(chunk.path()), StandardOpenOption.READ)) {
            ch.position(chunk.byteOffset());
            while (true) {
                if (len == bytes.length) {
                    bytes = java.util.Arrays.copyOf(bytes, bytes.length * 2);
                }
                int r = ch.read(ByteBuffer.wrap(bytes, len, bytes.length - len));
                if (r < 0) {
                    return len; // the last line has no newline
                }
                for (int i = len; i < len + r; i++) {
                    if (bytes[i] == '\n' && ++lines == want) {
                        return i + 1;
                    }
                }
                len += r;
            }
        }
    }

    private int decode(int len) {
        if (chars.length < len) {
            chars = new char[Math.max(len, chars.length * 2)];
        }
        decoder.reset();
        ByteBuffer in = ByteBuffer.wrap(bytes, 0, len);
        CharBuffer out = CharBuffer.wrap(chars);
        CoderResult r = decoder.decode(in, out, true);
        if (r.isOverflow()) { // cannot happen: UTF-8 never has more chars than bytes
            throw new IllegalStateException("decoder overflow");
        }
        decoder.flush(out);
        return out.position();
    }
}
