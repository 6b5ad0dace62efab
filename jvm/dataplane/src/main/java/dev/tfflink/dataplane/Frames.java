package dev.tfflink.dataplane;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;

/** The wire format's constants and frame reading (docs/dataplane.md, "Wire format"). */
public final class Frames {
    /** The largest payload; a longer frame ends the connection. */
    public static final int MAX_FRAME = 16 * 1024 * 1024;
    public static final byte ROWS = 'R';
    public static final byte END = 'E';
    public static final byte RESULTS = 'O';
    public static final byte DONE = 'D';
    public static final byte TYPED = 'T';

    private Frames() {}

    /** A frame as read: its kind and payload. */
    public record Frame(byte kind, byte[] payload) {}

    /** An empty frame of {@code kind} (E, D). */
    public static ByteBuffer empty(byte kind) {
        ByteBuffer b = ByteBuffer.allocate(5).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0).put(kind).flip();
        return b;
    }

    /** A frame of {@code kind} around {@code payload}. */
    public static ByteBuffer of(byte kind, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(5 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(payload.length).put(kind).put(payload).flip();
        return b;
    }

    /** The next frame, or null at a clean EOF (between frames); IOException for anything else. */
    public static Frame read(ReadableByteChannel ch) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(5).order(ByteOrder.LITTLE_ENDIAN);
        if (!fill(ch, head, true)) {
            return null;
        }
        head.flip();
        long len = Integer.toUnsignedLong(head.getInt());
        byte kind = head.get();
        if (len > MAX_FRAME) {
            throw new IOException("frame of " + len + " bytes is over MAX_FRAME (" + MAX_FRAME + ")");
        }
        ByteBuffer payload = ByteBuffer.allocate((int) len);
        fill(ch, payload, false);
        return new Frame(kind, payload.array());
    }

    private static boolean fill(ReadableByteChannel ch, ByteBuffer b, boolean eofOk) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                if (eofOk && b.position() == 0) {
                    return false;
                }
                throw new EOFException("connection closed inside a frame");
            }
        }
        return true;
    }
}
