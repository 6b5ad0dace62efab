package dev.tfflink.dataplane;

/**
 * A CSV row that cannot be typed; the message starts with {@code path:line}, like the Python
 * reader's, so a user finds the row whichever side read it. Retrying cannot fix it.
 */
public class MalformedRowException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public MalformedRowException(String message) {
        super(message);
    }
}
