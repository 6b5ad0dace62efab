package dev.tfflink.dataplane;

/**
 * A CSV row that cannot be typed; the message starts with {@code path:line}, like the Python
 * reader's (same class name too), so a user finds the row whichever plane read it.
 */
public class MalformedRow extends FatalJobError {
    private static final long serialVersionUID = 1L;

    public MalformedRow(String message) {
        super(message);
    }
}
