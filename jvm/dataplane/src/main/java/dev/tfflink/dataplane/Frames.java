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
    /** TF -> feeder, first on a connection: u8 1 when the node restores and saves at checkpoints. */
    public static final byte HELLO = 'H';
    /** Feeder -> TF, the answer to H: i64 id of the checkpoint to restore (0: none, start afresh). */
    public static final byte START = 'S';
    /** Feeder -> TF: i64 id; the row batch that follows is the last one before checkpoint id. */
    public static final byte CHECKPOINT = 'K';
    /** TF -> feeder: i64; checkpoint id saved (exactly-once) or row batches taken so far (at-least-once). */
    public static final byte ACK = 'A';
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

    /** A frame of {@code kind} whose payload is one little-endian i64. */
    public static ByteBuffer ofLong(byte kind, long value) {
        ByteBuffer b = ByteBuffer.allocate(13).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(8).put(kind).putLong(value).flip();
        return b;
    }

    /** The i64 payload of an S, K or A frame; IOException when it is not 8 bytes. */
    public static long longOf(Frame f) throws IOException {
        if (f.payload().length != 8) {
            throw new IOException("frame '" + (char) f.kind() + "' of " + f.payload().length + " bytes, not 8");
        }
        return ByteBuffer.wrap(f.payload()).order(ByteOrder.LITTLE_ENDIAN).getLong();
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
