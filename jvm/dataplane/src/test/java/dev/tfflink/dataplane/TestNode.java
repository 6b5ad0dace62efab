package dev.tfflink.dataplane;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A stand-in TF node for tests: connects to a feeder's socket and decodes its typed batches. */
final class TestNode {
    final List<List<Object>> rows = new ArrayList<>();
    long frames;
    long rowCount;
    final boolean keep;

    TestNode(boolean keep) {
        this.keep = keep;
    }

    static SocketChannel connect(Path path, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            if (Files.exists(path)) {
                try {
                    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                    ch.connect(UnixDomainSocketAddress.of(path));
                    return ch;
                } catch (IOException e) {
                    if (System.currentTimeMillis() > deadline) {
                        throw e;
                    }
                }
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IOException("no socket at " + path);
            }
            Thread.sleep(20);
        }
    }

    /** Says hello ({@code exactlyOnce}: restores and saves at checkpoints); the checkpoint to restore. */
    static long hello(SocketChannel ch, boolean exactlyOnce) throws IOException {
        write(ch, Frames.of(Frames.HELLO, new byte[] {(byte) (exactlyOnce ? 1 : 0)}));
        Frames.Frame start = Frames.read(ch);
        if (start == null || start.kind() != Frames.START) {
            throw new IOException("no S frame after the hello");
        }
        return Frames.longOf(start);
    }

    /** Reads R frames until E; then sends {@code results} as one O frame, then D, and waits for EOF. */
    void serve(SocketChannel ch, String results) throws IOException {
        hello(ch, false);
        for (Frames.Frame f = untilEnd(ch); f != null; f = untilEnd(ch)) {
            if (f.kind() == Frames.CHECKPOINT) {
                continue;
            }
            if (f.kind() != Frames.ROWS) {
                throw new IOException("unexpected frame " + (char) f.kind());
            }
            frames++;
            decode(f.payload());
            write(ch, Frames.ofLong(Frames.ACK, frames)); // at-least-once: taken, the feeder may forget it
        }
        write(ch, Frames.of(Frames.RESULTS, results.getBytes(StandardCharsets.UTF_8)));
        write(ch, Frames.empty(Frames.DONE));
        if (Frames.read(ch) != null) {
            throw new IOException("a frame after E");
        }
        ch.close();
    }

    /** What the worker operator does once the TF cluster stopped: the feeder stops serving restarts. */
    static void clusterStopped(Path socket) throws IOException {
        Path marker = socket.resolveSibling(socket.getFileName().toString().replace(".sock", ".stopped"));
        Files.write(marker, new byte[0]);
    }

    /** The next frame, or null at E (the end of input); an EOF before E is an error. */
    static Frames.Frame untilEnd(SocketChannel ch) throws IOException {
        Frames.Frame f = Frames.read(ch);
        if (f == null) {
            throw new IOException("EOF before E");
        }
        return f.kind() == Frames.END ? null : f;
    }

    static void write(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    void decode(byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        int n = b.getInt();
        int cols = b.getInt();
        if (b.get() != Frames.TYPED) {
            throw new IOException("layout");
        }
        rowCount += n;
        if (!keep) {
            return;
        }
        List<List<Object>> batch = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            batch.add(new ArrayList<>());
        }
        for (int c = 0; c < cols; c++) {
            byte tag = b.get();
            int size = b.getInt();
            int end = b.position() + size;
            switch (tag) {
                case 'f' -> batch.forEach(row -> row.add(b.getFloat()));
                case 'd' -> batch.forEach(row -> row.add(b.getDouble()));
                case 'i' -> batch.forEach(row -> row.add(b.getInt()));
                case 'q' -> batch.forEach(row -> row.add(b.getLong()));
                case 's' -> {
                    int[] off = new int[n + 1];
                    for (int i = 0; i <= n; i++) {
                        off[i] = b.getInt();
                    }
                    int data = b.position();
                    for (int r = 0; r < n; r++) {
                        batch.get(r).add(new String(payload, data + off[r], off[r + 1] - off[r], StandardCharsets.UTF_8));
                    }
                    b.position(data + off[n]);
                }
                default -> throw new IOException("tag " + (char) tag);
            }
            if (b.position() != end) {
                throw new IOException("column size");
            }
        }
        if (b.hasRemaining()) {
            throw new IOException("trailing bytes");
        }
        rows.addAll(batch);
    }
}
